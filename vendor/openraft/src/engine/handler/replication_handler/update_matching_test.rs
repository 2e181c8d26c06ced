use std::sync::Arc;
use std::time::Duration;

use maplit::btreeset;
use pretty_assertions::assert_eq;

use crate::Membership;
use crate::MembershipState;
use crate::Vote;
use crate::engine::Command;
use crate::engine::Engine;
use crate::engine::testing::UTConfig;
use crate::engine::testing::log_id;
use crate::progress::Inflight;
use crate::progress::inflight_id::InflightId;
use crate::replication::response::ReplicationResult;
use crate::type_config::TypeConfigExt;
use crate::type_config::alias::StoredMembershipOf;
use crate::utime::Leased;

fn m01() -> Membership<u64, ()> {
    Membership::<u64, ()>::new_with_defaults(vec![btreeset! {0,1}], [])
}

fn m123() -> Membership<u64, ()> {
    Membership::<u64, ()>::new_with_defaults(vec![btreeset! {1,2,3}], [])
}

fn eng() -> Engine<UTConfig> {
    let mut eng = Engine::testing_default(0);
    eng.state.enable_validation(false); // Disable validation for incomplete state

    eng.config.id = 2;
    eng.state.vote = Leased::new(
        UTConfig::<()>::now(),
        Duration::from_millis(500),
        Vote::new_committed(2, 1),
    );
    eng.state.membership_state = MembershipState::new(
        Arc::new(StoredMembershipOf::<UTConfig>::new(Some(log_id(1, 1, 1)), m01())),
        Arc::new(StoredMembershipOf::<UTConfig>::new(Some(log_id(2, 1, 3)), m123())),
    );

    eng
}

#[test]
fn test_update_matching_no_leader() -> anyhow::Result<()> {
    // There is no leader, it should panic.

    let res = std::panic::catch_unwind(move || {
        let mut eng = eng();
        eng.replication_handler().update_matching(3, Some(log_id(1, 1, 2)), None);
    });
    tracing::info!("res: {:?}", res);
    assert!(res.is_err());

    Ok(())
}

#[test]
fn test_update_matching() -> anyhow::Result<()> {
    let mut eng = eng();
    eng.testing_new_leader();
    eng.output.take_commands();

    let mut rh = eng.replication_handler();
    let mut set_inflight = |id, prev| {
        let inflight = Inflight::probe(prev, Some(log_id(2, 1, 4)), InflightId::new(1));
        assert_eq!(
            Some(&inflight),
            rh.leader.progress.update_data_with(&id, |data| data.inflight = inflight).map(|data| &data.inflight)
        );
    };

    set_inflight(1, Some(log_id(2, 1, 3)));
    set_inflight(2, Some(log_id(1, 1, 0)));
    set_inflight(3, Some(log_id(1, 1, 1)));

    // progress: None, None, (1,2)
    {
        rh.update_matching(3, Some(log_id(1, 1, 2)), None);
        assert_eq!(None, rh.state.local_committed());
        assert_eq!(0, rh.output.take_commands().len());
    }

    // progress: None, (2,1), (1,2); quorum-ed: (1,2), not at leader vote, not committed
    {
        rh.output.clear_commands();
        rh.update_matching(2, Some(log_id(2, 1, 1)), None);
        assert_eq!(None, rh.state.local_committed());
        assert_eq!(0, rh.output.take_commands().len());
    }

    // progress: None, (2,1), (2,3); committed: (2,1)
    {
        rh.output.clear_commands();
        rh.update_matching(3, Some(log_id(2, 1, 3)), None);
        assert_eq!(Some(&log_id(2, 1, 1)), rh.state.local_committed());
        assert_eq!(
            vec![Command::ReplicateCommitted {
                committed: Some(log_id(2, 1, 1))
            },],
            rh.output.take_commands()
        );
        assert_eq!(Some(&log_id(2, 1, 1)), rh.state.io_state.apply_progress.accepted());
        assert_eq!(None, rh.state.io_state.apply_progress.submitted());
    }

    // progress: (2,4), (2,1), (2,3); committed: (1,3)
    {
        rh.output.clear_commands();
        rh.update_matching(1, Some(log_id(2, 1, 4)), None);
        assert_eq!(Some(&log_id(2, 1, 3)), rh.state.local_committed());
        assert_eq!(
            vec![Command::ReplicateCommitted {
                committed: Some(log_id(2, 1, 3))
            },],
            rh.output.take_commands()
        );
        assert_eq!(Some(&log_id(2, 1, 3)), rh.state.io_state.apply_progress.accepted());
        assert_eq!(None, rh.state.io_state.apply_progress.submitted());
    }

    Ok(())
}

#[test]
fn test_empty_ack_clears_inflight_without_updating_matching() -> anyhow::Result<()> {
    let mut eng = eng();
    eng.testing_new_leader();
    eng.output.take_commands();

    let target = 1;
    let inflight_id = InflightId::new(1);
    let inflight = Inflight::probe(None, Some(log_id(2, 1, 4)), inflight_id);

    let mut rh = eng.replication_handler();
    let sent = inflight.clone();
    let data = rh.leader.progress.update_data_with(&target, |data| data.inflight = inflight);
    let stream_id = data.unwrap().stream_id;

    rh.update_progress(target, stream_id, Ok(ReplicationResult(Ok(None))), Some(inflight_id));

    let entry = rh.leader.progress.try_get(&target).unwrap();
    assert_eq!(None, entry.matching());
    // Outlast patch: the acknowledged payload is cleared and the target's next one is handed out
    // in the same step (`update_matching`), so the inflight is a new one.
    assert_ne!(sent, entry.data.inflight);
    assert_ne!(Inflight::None, entry.data.inflight, "the next payload is handed out");

    Ok(())
}

/// Outlast patch: when a target's acknowledgement commits an entry, the target's next payload is
/// published before the commit, so its idle replication task takes the payload rather than
/// spending a round trip on a commit-only request.
#[test]
fn test_ack_that_commits_hands_out_next_payload_before_commit() -> anyhow::Result<()> {
    let mut eng = eng();
    eng.state.log_ids = crate::engine::LogIdList::new(None, [log_id(1, 1, 0), log_id(2, 1, 3), log_id(2, 1, 4)]);
    eng.testing_new_leader();
    eng.output.take_commands();

    let mut rh = eng.replication_handler();
    // The leader (node 2) holds up to 4.
    rh.update_matching(2, Some(log_id(2, 1, 4)), None);
    rh.output.clear_commands();

    // Node 1 acknowledges a probe up to 4: with the leader, a quorum of {1,2,3}.
    let inflight_id = InflightId::new(7);
    let inflight = Inflight::probe(Some(log_id(2, 1, 3)), Some(log_id(2, 1, 4)), inflight_id);
    let stream_id = rh.leader.progress.update_data_with(&1, |data| data.inflight = inflight).unwrap().stream_id;
    rh.update_progress(1, stream_id, Ok(ReplicationResult(Ok(Some(log_id(2, 1, 4))))), Some(inflight_id));

    let commands = rh.output.take_commands();
    let kinds = commands
        .iter()
        .map(|c| match c {
            Command::Replicate { target, .. } => format!("Replicate({target})"),
            Command::ReplicateCommitted { committed } => format!("ReplicateCommitted({committed:?})"),
            other => format!("{other}"),
        })
        .collect::<Vec<_>>();
    assert_eq!(
        vec!["Replicate(1)".to_string(), format!("ReplicateCommitted({:?})", Some(log_id(2, 1, 4)))],
        kinds.iter().take(2).cloned().collect::<Vec<_>>(),
        "all commands: {kinds:?}"
    );
    assert!(matches!(rh.leader.progress.try_get(&1).unwrap().data.inflight, Inflight::LogsSince { .. }));

    Ok(())
}

/// Outlast patch: a stale acknowledgement, and an acknowledgement on a pipelined stream (whose
/// inflight stays), hand out nothing new.
#[test]
fn test_ack_stale_or_pipelined_hands_out_nothing() -> anyhow::Result<()> {
    let mut eng = eng();
    eng.state.log_ids = crate::engine::LogIdList::new(None, [log_id(1, 1, 0), log_id(2, 1, 3), log_id(2, 1, 4)]);
    eng.testing_new_leader();
    eng.output.take_commands();

    let mut rh = eng.replication_handler();
    rh.update_matching(2, Some(log_id(2, 1, 4)), None);
    rh.output.clear_commands();

    let replicates = |commands: Vec<Command<UTConfig>>| {
        commands.into_iter().filter(|c| matches!(c, Command::Replicate { .. })).count()
    };

    // Pipelined: node 1's LogsSince stream acknowledges up to 4; the stream goes on.
    let pipelined = Inflight::logs_since(Some(log_id(2, 1, 3)), InflightId::new(7));
    let stream_id = rh.leader.progress.update_data_with(&1, |data| data.inflight = pipelined).unwrap().stream_id;
    rh.update_progress(1, stream_id, Ok(ReplicationResult(Ok(Some(log_id(2, 1, 4))))), Some(InflightId::new(7)));
    assert_eq!(0, replicates(rh.output.take_commands()));
    assert!(matches!(rh.leader.progress.try_get(&1).unwrap().data.inflight, Inflight::LogsSince { .. }));

    // Stale: node 3 acknowledges a probe that is no longer the inflight one.
    let current = Inflight::probe(Some(log_id(2, 1, 3)), Some(log_id(2, 1, 4)), InflightId::new(9));
    let stream_id = rh.leader.progress.update_data_with(&3, |data| data.inflight = current.clone()).unwrap().stream_id;
    rh.update_progress(3, stream_id, Ok(ReplicationResult(Ok(Some(log_id(2, 1, 4))))), Some(InflightId::new(8)));
    assert_eq!(0, replicates(rh.output.take_commands()));
    assert_eq!(current, rh.leader.progress.try_get(&3).unwrap().data.inflight);

    Ok(())
}
