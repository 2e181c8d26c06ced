//! Deposits and the withdrawal state machine.

mod common;

use common::*;
use outlast_engine::*;

fn withdraw(f: &mut Fixture, id: &str, amount: u64) -> Outcome {
    let action = AccountAction::RequestWithdrawal { asset: BASE, amount, address: "bc1qexample".into() };
    f.request(ALICE, ClientId::new(id).unwrap(), action)
}

fn requested(f: &mut Fixture, amount: u64) -> WithdrawalId {
    match withdraw(f, "w-1", amount) {
        Outcome::Applied(Summary::WithdrawalRequested(id)) => id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deposit_is_credited_once_per_chain_transaction() {
    let mut f = Fixture::new();
    let body = CommandBody::Deposit { account: ALICE, asset: BASE, amount: 70, chain_tx: "0xabc:1".into() };
    let Summary::Deposited(id) = f.ok(body.clone()) else { panic!() };
    assert_eq!(f.balance(ALICE, BASE).available, FUNDS + 70);
    let before = f.engine.digest();
    assert_eq!(f.apply(body), Outcome::Duplicate(Summary::Deposited(id)));
    assert_eq!(f.engine.digest(), before);
    let conflicting = CommandBody::Deposit { account: BOB, asset: BASE, amount: 70, chain_tx: "0xabc:1".into() };
    f.rejects(conflicting, Reject::DuplicateIdMismatch);
}

#[test]
fn a_withdrawal_locks_then_is_paid_exactly_once() {
    let mut f = Fixture::new();
    let id = requested(&mut f, 100);
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS - 100, locked: 100 });
    // Not sent yet: cannot be confirmed.
    f.rejects(CommandBody::WithdrawalConfirmed { withdrawal: id }, Reject::WithdrawalStateConflict);
    f.ok(CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "tx-1".into() });
    f.rejects(CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "tx-2".into() }, Reject::WithdrawalStateConflict);
    f.ok(CommandBody::WithdrawalConfirmed { withdrawal: id });
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS - 100, locked: 0 });
    assert_eq!(f.engine.assets()[BASE as usize].withdrawn, 100);
    // Paid once: confirming again changes nothing, failing it is refused.
    assert!(matches!(f.apply(CommandBody::WithdrawalConfirmed { withdrawal: id }), Outcome::Duplicate(_)));
    f.rejects(CommandBody::WithdrawalFailed { withdrawal: id }, Reject::WithdrawalStateConflict);
    assert_eq!(f.engine.assets()[BASE as usize].withdrawn, 100);
}

#[test]
fn a_failed_withdrawal_is_refunded_exactly_once() {
    let mut f = Fixture::new();
    let id = requested(&mut f, 100);
    f.ok(CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "tx-1".into() });
    f.ok(CommandBody::WithdrawalFailed { withdrawal: id });
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS, locked: 0 });
    assert!(matches!(f.apply(CommandBody::WithdrawalFailed { withdrawal: id }), Outcome::Duplicate(_)));
    assert_eq!(f.balance(ALICE, BASE), Balance { available: FUNDS, locked: 0 });
    f.rejects(CommandBody::WithdrawalConfirmed { withdrawal: id }, Reject::WithdrawalStateConflict);
    f.rejects(CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "tx-9".into() }, Reject::WithdrawalStateConflict);
}

#[test]
fn a_withdrawal_can_fail_before_it_is_sent() {
    let mut f = Fixture::new();
    let id = requested(&mut f, 100);
    f.ok(CommandBody::WithdrawalFailed { withdrawal: id });
    assert_eq!(f.balance(ALICE, BASE).available, FUNDS);
    assert_eq!(f.engine.withdrawal(id).unwrap().state, WithdrawalState::Failed);
}

#[test]
fn a_retried_withdrawal_request_does_not_lock_twice() {
    let mut f = Fixture::new();
    let action = AccountAction::RequestWithdrawal { asset: BASE, amount: 100, address: "bc1qexample".into() };
    let body = CommandBody::Account(AccountRequest {
        account: ALICE,
        request_id: ClientId::new("w-1").unwrap(),
        request_ts_ms: f.now_ms,
        action,
    });
    let Outcome::Applied(original) = f.apply(body.clone()) else { panic!() };
    assert_eq!(f.apply(body), Outcome::Duplicate(original));
    assert_eq!(f.balance(ALICE, BASE).locked, 100);
    assert_eq!(f.engine.withdrawals().len(), 1);
}

#[test]
fn a_sent_retry_with_the_same_transaction_is_a_duplicate() {
    let mut f = Fixture::new();
    let id = requested(&mut f, 1);
    f.ok(CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "tx-1".into() });
    let again = CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "tx-1".into() };
    assert!(matches!(f.apply(again), Outcome::Duplicate(_)));
}
