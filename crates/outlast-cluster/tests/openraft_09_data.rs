//! A data directory written by the build on openraft 0.9.25 (`single-term-leader`) opens and
//! means the same on this one (openraft 0.10, standard leader ids): every log entry, the vote,
//! the committed hint and the snapshot decode, and the snapshot plus the rest of the log give
//! the digest the old build computed.
//!
//! The fixture (`tests/fixtures/openraft-0.9-node`) is node 1's directory after a five-node
//! `outlast chaos crash-restart` run of the 0.9 build (126 entries over two terms: Raft's own,
//! memberships, and the traders' batches), with a snapshot at index 62 built by that build's
//! `StateMachine`. That build, replaying all 126 entries, computed `DIGEST_09`.

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftStateMachine};
use openraft::EntryPayload;
use outlast_cluster::{LogStore, StateMachine};
use outlast_engine::Limits;

const DIGEST_09: &str = "98df3083b28e087b4c9c78f5219a9f7f0be1179912c8139c16a4405bc8759332";

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_data_directory_of_the_openraft_0_9_build_opens_and_replays_to_the_same_digest() {
    let scratch = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openraft-0.9-node");
    copy_dir(&fixture, scratch.path());

    let mut log = LogStore::open(&scratch.path().join("log")).expect("the 0.9 log opens");
    let state = log.get_log_state().await.unwrap();
    let last = state.last_log_id.expect("a last entry");
    assert_eq!((last.leader_id.term, last.index), (2, 125));
    let entries = log.try_get_log_entries(..).await.expect("every 0.9 entry decodes");
    assert_eq!(entries.len(), 126);
    assert!(entries.windows(2).all(|w| w[1].log_id.index == w[0].log_id.index + 1));
    assert!(entries.iter().any(|e| matches!(e.payload, EntryPayload::Membership(_))));
    assert!(entries.iter().any(|e| matches!(&e.payload, EntryPayload::Normal(b) if !b.commands.is_empty())));
    let vote = log.read_vote().await.unwrap().expect("the 0.9 vote decodes");
    assert_eq!(vote.leader_id.term, 2);
    assert!(vote.committed, "a vote for the leader of term 2, committed");
    let committed = log.read_committed().await.unwrap().expect("the committed hint decodes");
    assert!(committed.index <= last.index);

    let mut machine =
        StateMachine::open(&scratch.path().join("state"), Limits::default(), 0).expect("the 0.9 snapshot restores");
    let (applied, membership) = machine.applied_state().await.unwrap();
    assert_eq!(applied.map(|id| id.index), Some(62), "the snapshot covers the log up to 62");
    assert!(membership.membership().voter_ids().count() >= 3);
    let snapshot = machine.get_current_snapshot().await.unwrap().expect("the 0.9 snapshot is served");
    assert_eq!(snapshot.meta.last_log_id, applied);
    let rest = entries.into_iter().filter(|e| e.log_id.index > 62).map(|e| Ok((e, None)));
    machine.apply(futures_util::stream::iter(rest)).await.unwrap();
    assert_eq!(machine.reader().read().digest_hex(), DIGEST_09);
}
