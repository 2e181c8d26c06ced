//! Withdrawal controls: an allowlist with a delay, daily amounts per account and for the hot
//! wallet, and two distinct operators' approval above a threshold; every decision an audited
//! operator command, and an asset without a policy unchanged.

mod common;

use common::*;
use outlast_engine::*;

fn at_format_3() -> Fixture {
    let mut f = Fixture::new();
    for format in 2..=3 {
        f.ok(CommandBody::FinalizeFormat { format });
    }
    f
}

fn withdraw(f: &mut Fixture, account: AccountId, amount: u64, address: &str) -> Outcome {
    let id = f.fresh_id();
    f.request(account, id, AccountAction::RequestWithdrawal { asset: QUOTE, amount, address: address.into() })
}

fn allowlist(f: &mut Fixture, account: AccountId, address: &str) -> Outcome {
    let id = f.fresh_id();
    f.request(account, id, AccountAction::AddWithdrawalAddress { address: address.into() })
}

fn policy(f: &mut Fixture, policy: WithdrawalPolicy) {
    assert!(matches!(
        f.apply_as(Some("risk"), CommandBody::SetWithdrawalPolicy { asset: QUOTE, policy }),
        Outcome::Applied(_)
    ));
}

fn requested(outcome: Outcome) -> WithdrawalId {
    match outcome {
        Outcome::Applied(Summary::WithdrawalRequested(id)) => id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn controls_wait_for_format_3_and_an_asset_without_a_policy_is_unchanged() {
    let mut f = Fixture::new();
    f.rejects(
        CommandBody::SetWithdrawalPolicy { asset: QUOTE, policy: WithdrawalPolicy::default() },
        Reject::FormatNotEnabled,
    );
    assert_eq!(allowlist(&mut f, ALICE, "0xabc"), Outcome::Rejected(Reject::FormatNotEnabled));
    let mut f = at_format_3();
    let id = requested(withdraw(&mut f, ALICE, 1_000, "anywhere"));
    assert_eq!(f.engine.withdrawal(id).unwrap().state, WithdrawalState::Requested);
}

#[test]
fn a_destination_must_be_on_the_allowlist_for_the_delay() {
    let mut f = at_format_3();
    policy(&mut f, WithdrawalPolicy { allowlist_delay_ms: Some(60_000), ..Default::default() });
    assert_eq!(withdraw(&mut f, ALICE, 10, "0xabc"), Outcome::Rejected(Reject::AddressNotAllowlisted));
    let added = allowlist(&mut f, ALICE, "0xabc");
    let Outcome::Applied(Summary::AddressAllowlisted(added_ms)) = added else { panic!("{added:?}") };
    assert_eq!(withdraw(&mut f, ALICE, 10, "0xabc"), Outcome::Rejected(Reject::AddressNotAllowlisted), "too soon");
    // Adding it again does not restart the delay; another account's list is its own.
    f.now_ms = added_ms + 30_000;
    assert_eq!(allowlist(&mut f, ALICE, "0xabc"), Outcome::Applied(Summary::AddressAllowlisted(added_ms)));
    f.now_ms = added_ms + 60_000;
    requested(withdraw(&mut f, ALICE, 10, "0xabc"));
    assert_eq!(withdraw(&mut f, BOB, 10, "0xabc"), Outcome::Rejected(Reject::AddressNotAllowlisted));
    // A full list is refused.
    for n in 1..ALLOWLIST_PER_ACCOUNT_MAX {
        assert!(matches!(allowlist(&mut f, ALICE, &format!("0x{n}")), Outcome::Applied(_)));
    }
    assert_eq!(allowlist(&mut f, ALICE, "0xfull"), Outcome::Rejected(Reject::AllowlistLimit));
}

#[test]
fn daily_amounts_hold_per_account_and_for_the_hot_wallet_and_reset_each_day() {
    let mut f = at_format_3();
    policy(
        &mut f,
        WithdrawalPolicy { account_daily_max: Some(100), hot_wallet_daily_max: Some(150), ..Default::default() },
    );
    let day_start = (f.now_ms / DAY_MS + 1) * DAY_MS;
    f.now_ms = day_start;
    requested(withdraw(&mut f, ALICE, 60, "a"));
    assert_eq!(withdraw(&mut f, ALICE, 41, "a"), Outcome::Rejected(Reject::DailyLimitReached));
    requested(withdraw(&mut f, ALICE, 40, "a"));
    requested(withdraw(&mut f, BOB, 50, "b"));
    assert_eq!(withdraw(&mut f, CAROL, 1, "c"), Outcome::Rejected(Reject::HotWalletDailyLimitReached));
    // A failed withdrawal does not give its amount back (the conservative side).
    let last = f.engine.withdrawals().len() as u64;
    f.ok(CommandBody::WithdrawalFailed { withdrawal: last });
    assert_eq!(withdraw(&mut f, CAROL, 1, "c"), Outcome::Rejected(Reject::HotWalletDailyLimitReached));
    // The next UTC day starts afresh.
    f.now_ms = day_start + DAY_MS;
    requested(withdraw(&mut f, ALICE, 100, "a"));
}

#[test]
fn a_large_withdrawal_waits_for_two_distinct_operators() {
    let mut f = at_format_3();
    policy(&mut f, WithdrawalPolicy { approval_threshold: Some(500), ..Default::default() });
    let before = f.balance(ALICE, QUOTE);
    let big = requested(withdraw(&mut f, ALICE, 700, "0xabc"));
    assert_eq!(f.engine.withdrawal(big).unwrap().state, WithdrawalState::PendingApproval);
    assert_eq!(f.balance(ALICE, QUOTE).locked, before.locked + 700);
    let small = requested(withdraw(&mut f, ALICE, 499, "0xabc"));
    assert_eq!(f.engine.withdrawal(small).unwrap().state, WithdrawalState::Requested);

    let approve = CommandBody::ApproveWithdrawal { withdrawal: big };
    // Nobody's approval (no operator named), or of a withdrawal not waiting: refused.
    assert_eq!(f.apply(approve.clone()), Outcome::Rejected(Reject::InvalidOperator));
    assert_eq!(
        f.apply_as(Some("alice"), CommandBody::ApproveWithdrawal { withdrawal: small }),
        Outcome::Rejected(Reject::WithdrawalStateConflict)
    );
    let pending = Summary::WithdrawalUpdated(big, WithdrawalState::PendingApproval);
    assert_eq!(f.apply_as(Some("alice"), approve.clone()), Outcome::Applied(pending));
    // The same operator twice is one approval; nothing can be sent meanwhile.
    assert_eq!(f.apply_as(Some("alice"), approve.clone()), Outcome::Duplicate(pending));
    f.rejects(CommandBody::WithdrawalSent { withdrawal: big, chain_tx: "t".into() }, Reject::WithdrawalStateConflict);
    assert_eq!(
        f.apply_as(Some("bob"), approve.clone()),
        Outcome::Applied(Summary::WithdrawalUpdated(big, WithdrawalState::Requested))
    );
    assert_eq!(f.engine.withdrawal(big).unwrap().state, WithdrawalState::Requested);
    assert_eq!(f.apply_as(Some("carol"), approve), Outcome::Rejected(Reject::WithdrawalStateConflict));

    // An operator rejects another: refunded, its approvals gone.
    let rejected = requested(withdraw(&mut f, ALICE, 600, "0xabc"));
    f.apply_as(Some("alice"), CommandBody::ApproveWithdrawal { withdrawal: rejected });
    let after_request = f.balance(ALICE, QUOTE);
    f.apply_as(Some("bob"), CommandBody::WithdrawalFailed { withdrawal: rejected });
    assert_eq!(f.balance(ALICE, QUOTE).available, after_request.available + 600);
    assert!(f.engine.controls().approvals.is_empty());

    // Every decision is in the audit trail, with who made it.
    let trail: Vec<(Option<String>, CommandBody)> =
        f.engine.audit_records().map(|r| (r.operator.clone(), r.action.clone())).collect();
    let who = |body: &CommandBody| trail.iter().filter(|(_, b)| b == body).map(|(o, _)| o.clone()).collect::<Vec<_>>();
    assert_eq!(who(&CommandBody::ApproveWithdrawal { withdrawal: big }), [Some("alice".into()), Some("bob".into())]);
    assert!(trail
        .iter()
        .any(|(o, b)| o.as_deref() == Some("risk") && matches!(b, CommandBody::SetWithdrawalPolicy { .. })));

    // The controls are in the snapshot: restored, the same digest.
    let restored = Engine::restore(&f.engine.snapshot()).unwrap();
    assert_eq!(restored.digest(), f.engine.digest());
    assert_eq!(restored.controls(), f.engine.controls());
}
