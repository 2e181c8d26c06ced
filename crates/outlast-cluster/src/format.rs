//! Data formats at a node: the newest one this process reads, the format of each entry, frame
//! and snapshot it writes, and the refusal of anything newer.
//!
//! What each format means is the engine's (`outlast_engine::FORMAT_CURRENT`); this module is
//! where a node applies it. An entry is written in the lowest format that can express it (the
//! newest format among its commands), a snapshot in the cluster's active format, and a frame
//! says the newest format of what it carries, in its header, so that a node running an older
//! build refuses a newer frame before decoding it — it stays behind and says why, instead of
//! failing to apply and crash-looping. The data directory remembers the newest format written
//! into it, so an older build refuses to start on it (exit code 2: a supervisor must not
//! restart it) rather than misread it.
//!
//! Must never: let an older build decode data of a newer format, or write an entry in a
//! format older than its commands need.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use outlast_engine::{Command, CommandBody, FORMAT_CURRENT, FORMAT_FIRST};

/// The environment variable that makes this process read and write only formats up to the
/// one it names: how the rolling-upgrade test runs the previous build. Never for production.
pub const TESTING_FORMAT_MAX_ENV: &str = "OUTLAST_TESTING_FORMAT_MAX";

static READABLE_MAX: AtomicU32 = AtomicU32::new(FORMAT_CURRENT);

/// The newest format this process reads: `FORMAT_CURRENT` unless capped for a test.
pub fn readable_max() -> u32 {
    READABLE_MAX.load(Ordering::Relaxed)
}

/// Caps `readable_max` from `TESTING_FORMAT_MAX_ENV`, if set (once, at process start).
pub fn cap_from_env() -> Result<(), String> {
    let Ok(value) = std::env::var(TESTING_FORMAT_MAX_ENV) else {
        return Ok(());
    };
    match value.parse::<u32>() {
        Ok(max) if (FORMAT_FIRST..=FORMAT_CURRENT).contains(&max) => {
            READABLE_MAX.store(max, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(format!("{TESTING_FORMAT_MAX_ENV}={value}: not a format from {FORMAT_FIRST} to {FORMAT_CURRENT}")),
    }
}

/// The format an entry carrying `commands` is written in.
pub fn of_commands(commands: &[Command]) -> u32 {
    commands.iter().map(|c| c.body.format_since()).max().unwrap_or(FORMAT_FIRST).max(FORMAT_FIRST)
}

/// Why data of `format` (described by `what`) is refused here, if it is newer than this
/// process reads.
pub fn refusal(format: u32, what: &str) -> Option<String> {
    (format > readable_max()).then(|| {
        format!(
            "{what} is data format {format}, newer than this build reads (up to {}): upgrade this node's build",
            readable_max()
        )
    })
}

/// Why `body` cannot be submitted to a cluster whose active format is `active`, if it cannot.
pub fn not_enabled(body: &CommandBody, active: u32) -> Option<String> {
    let since = body.format_since();
    let finalising = matches!(body, CommandBody::FinalizeFormat { .. });
    (since > active && !finalising).then(|| {
        format!(
            "this command needs data format {since} and the cluster runs format {active}: once every voter \
             runs a build that reads format {since}, finalise the upgrade"
        )
    })
}

/// Refuses a data directory holding data newer than this process reads: its log's mark (the
/// newest entry format ever written into it) and its snapshot's format.
pub fn check_data_dir(data_dir: &Path) -> Result<(), String> {
    let disk = outlast_log::disk::os();
    let log_mark = crate::log_store::format_mark(&*disk, &data_dir.join("log"))?;
    if let Some(why) = refusal(log_mark, &format!("the log in {}", data_dir.display())) {
        return Err(why);
    }
    if let Some(format) = crate::state_machine::snapshot_format(&*disk, &data_dir.join("state"))? {
        if let Some(why) = refusal(format, &format!("the snapshot in {}", data_dir.display())) {
            return Err(why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_formats_are_refused_and_new_commands_wait_for_theirs() {
        assert!(refusal(FORMAT_CURRENT, "x").is_none());
        assert!(refusal(FORMAT_CURRENT + 1, "the frame").unwrap().contains("newer than this build reads"));
        let pause = CommandBody::SetWithdrawalsPaused { asset: 0, paused: true };
        assert!(not_enabled(&pause, 1).is_some());
        assert!(not_enabled(&pause, 2).is_none());
        assert!(not_enabled(&CommandBody::FinalizeFormat { format: 2 }, 1).is_none());
    }
}
