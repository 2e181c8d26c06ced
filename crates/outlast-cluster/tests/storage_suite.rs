//! openraft's own storage test suite, run test by test against our log store and state machine.
//!
//! Each case gets a fresh directory; every case of the suite runs.

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, StorageError};
use outlast_cluster::{LogStore, StateMachine, TypeConfig};
use outlast_engine::Limits;
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = |e| StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Read, e);
        let log = LogStore::open(&dir.path().join("log")).map_err(error)?;
        let machine = StateMachine::open(&dir.path().join("state"), Limits::default(), 7).map_err(error)?;
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
    get_initial_state_membership_from_empty_log_and_sm,
    get_initial_state_membership_from_sm_inlog_is_smaller,
    get_initial_state_membership_from_log_insm_is_smaller,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_inverted_log_order,
    get_initial_state_conflict_at_same_index,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    leader_bounded_stream,
    entries_stream,
    try_get_log_entry,
    log_reader_reads_new_entries,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_after_11,
    delete_logs_after_5,
    delete_logs_after_0,
    delete_logs_after_none,
    append_to_log,
    snapshot_meta,
    snapshot_meta_optional,
    apply_single,
    apply_multiple,
);

#[test]
fn transfer_snapshot() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(TheSuite::transfer_snapshot(&Builder)).expect("transfer_snapshot");
}
