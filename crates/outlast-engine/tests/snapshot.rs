//! Snapshots and digests.

mod common;

use common::*;
use outlast_engine::*;

fn busy_fixture() -> Fixture {
    let mut f = Fixture::with_fees(1_000, 2_000);
    f.limit(ALICE, Side::Sell, 100, 5);
    f.limit(ALICE, Side::Sell, 101, 5);
    f.limit(BOB, Side::Buy, 100, 7);
    f.limit(CAROL, Side::Buy, 98, 3);
    let id = f.fresh_id();
    f.request(CAROL, id, AccountAction::RequestWithdrawal { asset: QUOTE, amount: 10, address: "x".into() });
    f
}

#[test]
fn restore_gives_the_same_digest_and_the_same_behaviour_afterwards() {
    let mut f = busy_fixture();
    let mut copy = Engine::restore(&f.engine.snapshot()).expect("restores");
    assert_eq!(copy.digest(), f.engine.digest());
    // Now feed both the same commands: outcomes, events and digests stay equal.
    let next = [
        f.place_body(CAROL, Side::Sell, gtc(98, 20)),
        f.place_body(BOB, Side::Buy, OrderKind::MarketBase { qty: 3 }),
        CommandBody::WithdrawalSent { withdrawal: 1, chain_tx: "t".into() },
    ];
    for body in next {
        let command = Command { ts_ms: f.now_ms + 1, body: body.clone(), operator: None };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        assert_eq!(f.engine.apply(&command, &mut a), copy.apply(&command, &mut b));
        assert_eq!(a, b);
        assert_eq!(f.engine.digest(), copy.digest());
    }
}

#[test]
fn the_snapshot_is_canonical() {
    let f = busy_fixture();
    let restored = Engine::restore(&f.engine.snapshot()).unwrap();
    assert_eq!(restored.snapshot(), f.engine.snapshot());
}

#[test]
fn the_digest_changes_with_the_state_and_matches_for_equal_histories() {
    let mut a = busy_fixture();
    let b = busy_fixture();
    assert_eq!(a.engine.digest(), b.engine.digest());
    a.ok(CommandBody::CreateAccount { account: 99 });
    assert_ne!(a.engine.digest(), b.engine.digest());
    assert_eq!(a.engine.digest_hex().len(), 64);
}

#[test]
fn garbage_and_unknown_formats_are_refused() {
    let f = busy_fixture();
    let bytes = f.engine.snapshot();
    assert!(matches!(Engine::restore(&bytes[..bytes.len() / 2]), Err(SnapshotError::Decode(_))));
    assert!(matches!(Engine::restore(&[]), Err(SnapshotError::Decode(_))));
    let mut future = bytes.clone();
    // The next format (4 said "unversioned" before formats existed, so it is skipped).
    let newer = if FORMAT_CURRENT + 1 == 4 { 5 } else { FORMAT_CURRENT + 1 };
    future[0] = newer as u8; // the format number is the first varint
    let refused = Engine::restore(&future).err().unwrap();
    assert_eq!(refused, SnapshotError::Format(newer));
    assert!(refused.to_string().contains("newer than this build reads"), "{refused}");
    // What builds before versioned formats wrote (format 4) is refused, and said so.
    let mut legacy = bytes;
    legacy[0] = 4;
    assert!(Engine::restore(&legacy).unwrap_err().to_string().contains("predates versioned data formats"));
}

#[test]
fn new_kinds_wait_for_their_format_and_snapshots_follow_the_active_format() {
    let mut f = busy_fixture();
    assert_eq!(f.engine.format(), FORMAT_FIRST);
    let pause = CommandBody::SetWithdrawalsPaused { asset: QUOTE, paused: true };
    assert_eq!(f.apply(pause.clone()), Outcome::Rejected(Reject::FormatNotEnabled));
    // A format-1 snapshot is what a format-1 build reads: it ends where the base state ends.
    let format_1 = f.engine.snapshot();
    assert_eq!(format_1[0], 1);
    assert_eq!(f.apply(CommandBody::FinalizeFormat { format: 3 }), Outcome::Rejected(Reject::InvalidFormat));
    assert_eq!(f.apply(CommandBody::FinalizeFormat { format: 2 }), Outcome::Applied(Summary::FormatFinalized(2)));
    assert_eq!(f.apply(CommandBody::FinalizeFormat { format: 2 }), Outcome::Duplicate(Summary::FormatFinalized(2)));
    assert_eq!(f.apply(pause.clone()), Outcome::Applied(Summary::WithdrawalsPaused(QUOTE, true)));
    assert_eq!(f.apply(pause), Outcome::Duplicate(Summary::WithdrawalsPaused(QUOTE, true)));
    let id = f.fresh_id();
    let withdraw = AccountAction::RequestWithdrawal { asset: QUOTE, amount: 10, address: "x".into() };
    assert_eq!(f.request(CAROL, id, withdraw), Outcome::Rejected(Reject::WithdrawalsPaused));
    // The format-2 snapshot carries the paused asset; restored, the state and digest are equal.
    let format_2 = f.engine.snapshot();
    assert_eq!(format_2[0], 2);
    let restored = Engine::restore(&format_2).unwrap();
    assert_eq!((restored.format(), restored.withdrawals_paused(QUOTE)), (2, true));
    assert_eq!(restored.digest(), f.engine.digest());
    assert_ne!(Engine::restore(&format_1).unwrap().digest(), f.engine.digest());
}

#[test]
fn a_snapshot_whose_state_breaks_an_invariant_is_refused() {
    // Take a snapshot with one resting sell, then restore it after changing the order's
    // quantity bytes: the lock no longer matches, which restore must notice.
    let mut f = Fixture::new();
    f.limit(ALICE, Side::Sell, 100, 5);
    let bytes = f.engine.snapshot();
    let mut found = 0;
    // Find the order's (qty_lots=5, remaining_lots=5, executed_quote=0) run and change the remainder.
    for index in 0..bytes.len() - 2 {
        if bytes[index..index + 3] == [5, 5, 0] {
            let mut tampered = bytes.clone();
            tampered[index + 1] = 4;
            assert!(matches!(Engine::restore(&tampered), Err(SnapshotError::Invariant(_))));
            found += 1;
        }
    }
    assert_eq!(found, 1, "the order's fields appear once");
}
