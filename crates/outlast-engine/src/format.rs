//! Data formats: which versions of log entries, snapshots and frames a build writes and reads,
//! and which format each command kind first appeared in.
//!
//! A cluster runs at one *active* format, kept in the engine's replicated state and raised
//! only by a committed `FinalizeFormat`. A build reads and writes every format from
//! `FORMAT_FIRST` to `FORMAT_CURRENT`, so during a rolling upgrade the new build runs the old
//! format beside the old build; a command kind newer than the active format is rejected
//! (`Reject::FormatNotEnabled`), so nothing an old build cannot read enters the log until the
//! operator finalises, which the leader allows only once every voter runs a build that reads
//! the new format.
//!
//! Must never: depend on the build applying the command. Whether a command applies depends
//! only on the replicated active format, so every replica decides the same.

use crate::command::CommandBody;

/// The first versioned format: every command kind up to the audit trail and listen keys.
pub const FORMAT_FIRST: u32 = 1;

/// The newest format this build reads and writes. Format 2 adds `FinalizeFormat` and
/// `SetWithdrawalsPaused` (and the paused assets in snapshots); format 3 adds the chain
/// commands (`ChainSetup`, `ChainDeposits`, `WithdrawalSigned`, `WithdrawalMined`) and the
/// withdrawal controls (`SetWithdrawalPolicy`, `ApproveWithdrawal`, `AddWithdrawalAddress`),
/// with their state in snapshots. The next is 5: unversioned snapshots began with 4.
pub const FORMAT_CURRENT: u32 = 3;

impl CommandBody {
    /// The format that introduced this command kind: an entry carrying it is at least this
    /// format, and the engine rejects it while the cluster's active format is older.
    pub fn format_since(&self) -> u32 {
        match self {
            CommandBody::FinalizeFormat { format } => (*format).max(FORMAT_FIRST),
            CommandBody::SetWithdrawalsPaused { .. } => 2,
            CommandBody::ChainSetup { .. }
            | CommandBody::ChainDeposits { .. }
            | CommandBody::WithdrawalSigned { .. }
            | CommandBody::WithdrawalMined { .. }
            | CommandBody::SetWithdrawalPolicy { .. }
            | CommandBody::ApproveWithdrawal { .. } => 3,
            CommandBody::Account(crate::command::AccountRequest {
                action: crate::command::AccountAction::AddWithdrawalAddress { .. },
                ..
            }) => 3,
            _ => FORMAT_FIRST,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_belongs_to_a_format_this_build_reads() {
        let kinds = [
            CommandBody::CreateAccount { account: 1 },
            CommandBody::SetWithdrawalsPaused { asset: 0, paused: true },
            CommandBody::WithdrawalMined { withdrawal: 1, hash: [0; 32], block: 1, reverted: false },
            CommandBody::FinalizeFormat { format: FORMAT_CURRENT },
        ];
        for kind in kinds {
            let since = kind.format_since();
            assert!((FORMAT_FIRST..=FORMAT_CURRENT).contains(&since), "{kind:?} is format {since}");
        }
    }
}
