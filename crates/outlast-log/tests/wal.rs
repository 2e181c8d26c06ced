//! The log's durability contract: what survives a reopen, what a crash may cut, and what is
//! refused as corruption.

use std::fs;
use std::path::Path;

use outlast_log::{Wal, WalError, WalOptions};
use proptest::prelude::*;

fn payload(index: u64) -> Vec<u8> {
    format!("entry {index} {}", "x".repeat((index % 7) as usize)).into_bytes()
}

fn append_range(wal: &mut Wal, from: u64, to: u64) {
    let payloads: Vec<(u64, Vec<u8>)> = (from..to).map(|i| (i, payload(i))).collect();
    wal.append(payloads.iter().map(|(i, p)| (*i, p.as_slice()))).unwrap();
}

fn small_segments() -> WalOptions {
    WalOptions { segment_bytes_max: 256, record_bytes_max: 1024 }
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn appended_records_survive_a_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, recovery) = Wal::open(dir.path(), small_segments()).unwrap();
    assert_eq!(recovery.records, 0);
    // Batches of five: a segment rolls between batches once it is past 256 bytes.
    for start in (1..41).step_by(5) {
        append_range(&mut wal, start, start + 5);
    }
    drop(wal);
    assert!(segments(dir.path()).len() > 3, "small segments roll");
    let (wal, recovery) = Wal::open(dir.path(), small_segments()).unwrap();
    assert_eq!((recovery.records, recovery.torn_bytes_cut), (40, 0));
    assert_eq!((wal.first_index(), wal.next_index()), (1, 41));
    let read = wal.read(1, 41).unwrap();
    assert!(read.iter().enumerate().all(|(n, p)| *p == payload(n as u64 + 1)));
}

#[test]
fn a_torn_last_record_is_cut_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    append_range(&mut wal, 1, 10);
    drop(wal);
    // A crash in the middle of writing record 10: its header and half its payload reached disk.
    let last = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    let mut torn = Vec::new();
    outlast_log::record::encode(10, &payload(10), &mut torn);
    bytes.extend_from_slice(&torn[..torn.len() - 3]);
    fs::write(&last, bytes).unwrap();
    let (mut wal, recovery) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(recovery.torn_bytes_cut, torn.len() as u64 - 3);
    assert_eq!(wal.next_index(), 10);
    append_range(&mut wal, 10, 12);
    drop(wal);
    let (wal, recovery) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!((recovery.records, recovery.torn_bytes_cut), (11, 0));
    assert_eq!(wal.read(10, 12).unwrap(), vec![payload(10), payload(11)]);
}

#[test]
fn a_damaged_complete_record_is_reported_never_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    append_range(&mut wal, 1, 10);
    drop(wal);
    let last = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    let end = bytes.len();
    bytes[end - 2] ^= 0x10; // a flipped bit in the payload of the last, committed, record
    fs::write(&last, &bytes).unwrap();
    let before = bytes.clone();
    match Wal::open(dir.path(), WalOptions::default()) {
        Err(WalError::Corrupt { index, .. }) => assert_eq!(index, 9),
        other => panic!("expected corruption, got {other:?}"),
    }
    assert_eq!(fs::read(&last).unwrap(), before, "nothing was truncated");
}

#[test]
fn corruption_in_the_middle_is_reported_with_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    append_range(&mut wal, 1, 30);
    drop(wal);
    let first = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&first).unwrap();
    bytes[20] ^= 0xFF;
    fs::write(&first, &bytes).unwrap();
    let error = Wal::open(dir.path(), small_segments()).unwrap_err();
    assert!(matches!(error, WalError::Corrupt { index: 1, .. }), "{error}");
    assert!(error.to_string().contains("refusing to start"));
}

#[test]
fn truncate_and_purge_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    append_range(&mut wal, 1, 50);
    wal.truncate_from(35).unwrap();
    append_range(&mut wal, 35, 45);
    wal.purge_to(20).unwrap();
    assert!(wal.read(20, 21).is_err());
    let files_before = segments(dir.path()).len();
    drop(wal);
    let (wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    assert_eq!((wal.first_index(), wal.next_index()), (21, 45));
    assert_eq!(wal.read(21, 45).unwrap(), (21..45).map(payload).collect::<Vec<_>>());
    assert_eq!(segments(dir.path()).len(), files_before);
}

#[test]
fn a_log_can_restart_after_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    append_range(&mut wal, 1, 5);
    // A snapshot up to 100 was installed: everything before is gone, the log continues at 101.
    wal.purge_to(100).unwrap();
    assert_eq!((wal.first_index(), wal.next_index()), (101, 101));
    append_range(&mut wal, 101, 103);
    drop(wal);
    let (wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!((wal.first_index(), wal.next_index()), (101, 103));
}

#[test]
fn misuse_is_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
    append_range(&mut wal, 1, 3);
    assert!(matches!(wal.append([(7u64, &b"gap"[..])]), Err(WalError::Misuse(_))));
    assert!(matches!(wal.append([(3u64, &vec![0u8; 2048][..])]), Err(WalError::Misuse(_))));
    assert!(matches!(wal.read(0, 2), Err(WalError::Misuse(_))));
    assert!(matches!(wal.read(1, 9), Err(WalError::Misuse(_))));
    assert_eq!(wal.next_index(), 3);
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8),
    Truncate(u8),
    Purge(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u8..12).prop_map(Op::Append),
        1 => any::<u8>().prop_map(Op::Truncate),
        1 => any::<u8>().prop_map(Op::Purge),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The log behaves like a vector with a moving start, across reopens.
    #[test]
    fn the_log_matches_a_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), small_segments()).unwrap();
        let (mut first, mut next) = (0u64, 0u64);
        for op in ops {
            match op {
                Op::Append(count) => {
                    append_range(&mut wal, next, next + u64::from(count));
                    next += u64::from(count);
                }
                Op::Truncate(at) => {
                    let at = first + u64::from(at) % (next - first + 1);
                    wal.truncate_from(at).unwrap();
                    next = at;
                }
                Op::Purge(to) => {
                    let to = first + u64::from(to) % (next - first + 3);
                    wal.purge_to(to).unwrap();
                    first = to + 1;
                    next = next.max(first);
                }
                Op::Reopen => {
                    drop(wal);
                    wal = Wal::open(dir.path(), small_segments()).unwrap().0;
                }
            }
            prop_assert_eq!((wal.first_index(), wal.next_index()), (first, next));
            prop_assert_eq!(wal.read(first, next).unwrap(), (first..next).map(payload).collect::<Vec<_>>());
        }
    }
}
