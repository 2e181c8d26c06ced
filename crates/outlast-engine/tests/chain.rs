//! Money on a chain as the log records it: a deposit range is credited once and only on the
//! checkpoint's fork; a withdrawal's transaction is committed before broadcast with the next
//! nonce, later attempts reuse it, and only the mined attempt settles it (a payment debits, a
//! cancel refunds).

mod common;

use common::*;
use outlast_engine::*;

const CHAIN: &str = "devnet";

fn hash(n: u8) -> Hash32 {
    [n; 32]
}

fn attempt(n: u8, cancel: bool) -> PaymentAttempt {
    PaymentAttempt { hash: hash(n), raw: vec![n; 100], cancel }
}

/// The fixture at format 3, following the chain from block 10 with nonce 5.
fn on_chain() -> Fixture {
    let mut f = Fixture::new();
    for format in 2..=3 {
        f.ok(CommandBody::FinalizeFormat { format });
    }
    f.ok(CommandBody::ChainSetup {
        chain: CHAIN.into(),
        next_nonce: 5,
        checkpoint_block: 10,
        checkpoint_hash: hash(10),
    });
    f
}

fn deposits(parent: u8, to: u8, deposits: Vec<ChainDeposit>) -> CommandBody {
    CommandBody::ChainDeposits {
        chain: CHAIN.into(),
        parent_hash: hash(parent),
        to_block: u64::from(to),
        to_hash: hash(to),
        deposits,
    }
}

fn deposit(account: AccountId, amount: u64, tx: u8, log_index: u32) -> ChainDeposit {
    ChainDeposit { account, asset: QUOTE, amount, tx: hash(tx), log_index }
}

fn withdraw(f: &mut Fixture, account: AccountId, amount: u64) -> WithdrawalId {
    let id = f.fresh_id();
    let action = AccountAction::RequestWithdrawal { asset: QUOTE, amount, address: "0xabc".into() };
    match f.request(account, id, action) {
        Outcome::Applied(Summary::WithdrawalRequested(w)) => w,
        other => panic!("{other:?}"),
    }
}

fn signed(withdrawal: WithdrawalId, nonce: u64, position: u32, signed: PaymentAttempt) -> CommandBody {
    CommandBody::WithdrawalSigned { withdrawal, chain: CHAIN.into(), nonce, attempt: position, signed }
}

#[test]
fn chain_commands_wait_for_format_3() {
    let mut f = Fixture::new();
    let setup =
        CommandBody::ChainSetup { chain: CHAIN.into(), next_nonce: 0, checkpoint_block: 0, checkpoint_hash: hash(0) };
    assert_eq!(f.apply(setup.clone()), Outcome::Rejected(Reject::FormatNotEnabled));
    f.ok(CommandBody::FinalizeFormat { format: 2 });
    assert_eq!(f.apply(setup.clone()), Outcome::Rejected(Reject::FormatNotEnabled));
    f.ok(CommandBody::FinalizeFormat { format: 3 });
    f.ok(setup.clone());
    assert!(matches!(f.apply(setup), Outcome::Duplicate(_)));
    let moved =
        CommandBody::ChainSetup { chain: CHAIN.into(), next_nonce: 0, checkpoint_block: 5, checkpoint_hash: hash(5) };
    f.rejects(moved, Reject::ChainConflict);
    let bad = CommandBody::ChainSetup {
        chain: "Dev Net".into(),
        next_nonce: 0,
        checkpoint_block: 0,
        checkpoint_hash: hash(0),
    };
    f.rejects(bad, Reject::InvalidChain);
}

#[test]
fn a_block_range_is_credited_once_and_only_on_the_checkpoint_s_fork() {
    let mut f = on_chain();
    let before = f.balance(ALICE, QUOTE).available;
    // Another fork (its parent is not the checkpoint's hash): refused, nothing credited.
    f.rejects(deposits(9, 12, vec![deposit(ALICE, 7, 1, 0)]), Reject::ChainConflict);
    // A range with a deposit to an unknown account: all or nothing.
    f.rejects(deposits(10, 12, vec![deposit(ALICE, 7, 1, 0), deposit(999, 1, 2, 0)]), Reject::UnknownAccount);
    assert_eq!(f.balance(ALICE, QUOTE).available, before);

    // The same log twice in one range is one deposit; two logs of one transaction are two.
    let range = deposits(10, 12, vec![deposit(ALICE, 7, 1, 0), deposit(ALICE, 7, 1, 0), deposit(ALICE, 3, 1, 1)]);
    assert_eq!(f.ok(range.clone()), Summary::ChainUpdated(12));
    assert_eq!(f.balance(ALICE, QUOTE).available, before + 10);
    assert_eq!(f.engine.chain(CHAIN).unwrap().checkpoint_block, 12);
    assert!(f.engine.deposit_record(&deposit_key(CHAIN, &hash(1), 1)).is_some());
    // A new leader's watcher sends it again: a duplicate, nothing more credited.
    assert!(matches!(f.apply(range), Outcome::Duplicate(Summary::ChainUpdated(12))));
    assert_eq!(f.balance(ALICE, QUOTE).available, before + 10);
    // The next range must hang off block 12's hash.
    f.rejects(deposits(11, 13, vec![]), Reject::ChainConflict);
    assert_eq!(f.ok(deposits(12, 13, vec![deposit(BOB, 1, 3, 0)])), Summary::ChainUpdated(13));
    // Chain steps are not in the operator audit trail; the setup is.
    let audited: Vec<_> = f.engine.audit_records().map(|r| r.action.clone()).collect();
    assert!(audited.iter().any(|a| matches!(a, CommandBody::ChainSetup { .. })));
    assert!(!audited.iter().any(|a| matches!(a, CommandBody::ChainDeposits { .. })));
}

#[test]
fn a_withdrawal_takes_the_next_nonce_and_only_its_mined_attempt_settles_it() {
    let mut f = on_chain();
    let before = f.balance(CAROL, QUOTE);
    let w1 = withdraw(&mut f, CAROL, 100);
    let w2 = withdraw(&mut f, CAROL, 50);
    // Not the reserved nonce, or not the first position: refused.
    f.rejects(signed(w1, 6, 0, attempt(1, false)), Reject::NonceConflict);
    f.rejects(signed(w1, 5, 1, attempt(1, false)), Reject::NonceConflict);
    f.rejects(signed(w1, 5, 0, attempt(1, true)), Reject::NonceConflict);
    assert_eq!(f.ok(signed(w1, 5, 0, attempt(1, false))), Summary::WithdrawalUpdated(w1, WithdrawalState::Sent));
    assert_eq!(f.engine.chain(CHAIN).unwrap().next_nonce, 6);
    assert_eq!(f.engine.withdrawal(w1).unwrap().chain_tx.as_deref(), Some(format!("0x{}", "01".repeat(32)).as_str()));
    // The same commit again (a retry): a duplicate. A new leader that had not applied it yet
    // and signed other bytes for the same first attempt: refused, so only the committed bytes
    // are ever broadcast.
    assert!(matches!(f.apply(signed(w1, 5, 0, attempt(1, false))), Outcome::Duplicate(_)));
    f.rejects(signed(w1, 5, 0, attempt(9, false)), Reject::NonceConflict);
    // Another withdrawal never gets the same nonce.
    f.rejects(signed(w2, 5, 0, attempt(2, false)), Reject::NonceConflict);
    f.ok(signed(w2, 6, 0, attempt(2, false)));
    // A fee bump reuses the nonce at the next position; another nonce is refused.
    f.rejects(signed(w1, 7, 1, attempt(3, false)), Reject::NonceConflict);
    f.ok(signed(w1, 5, 1, attempt(3, false)));
    // Neither an operator's "failed" nor "confirmed" ends a withdrawal with signed transactions.
    f.rejects(CommandBody::WithdrawalFailed { withdrawal: w1 }, Reject::WithdrawalStateConflict);
    f.rejects(CommandBody::WithdrawalConfirmed { withdrawal: w1 }, Reject::WithdrawalStateConflict);
    // Mined: only a hash it signed; the bump is what the chain took.
    f.rejects(
        CommandBody::WithdrawalMined { withdrawal: w1, hash: hash(2), block: 20, reverted: false },
        Reject::NonceConflict,
    );
    let mined = CommandBody::WithdrawalMined { withdrawal: w1, hash: hash(3), block: 20, reverted: false };
    assert_eq!(f.ok(mined.clone()), Summary::WithdrawalUpdated(w1, WithdrawalState::Confirmed));
    assert!(matches!(f.apply(mined), Outcome::Duplicate(_)));
    f.rejects(
        CommandBody::WithdrawalMined { withdrawal: w1, hash: hash(1), block: 21, reverted: false },
        Reject::NonceConflict,
    );
    f.rejects(signed(w1, 5, 2, attempt(4, false)), Reject::WithdrawalStateConflict);
    // w2 is cancelled: a cancel of its nonce is mined, so none of its payments can be: refunded.
    f.ok(signed(w2, 6, 1, attempt(5, true)));
    assert_eq!(
        f.ok(CommandBody::WithdrawalMined { withdrawal: w2, hash: hash(5), block: 21, reverted: false }),
        Summary::WithdrawalUpdated(w2, WithdrawalState::Failed)
    );
    let after = f.balance(CAROL, QUOTE);
    assert_eq!((after.available, after.locked), (before.available - 100, before.locked));
    // A payment that reverted spent its nonce and paid nobody: refunded too.
    let w3 = withdraw(&mut f, CAROL, 30);
    f.ok(signed(w3, 7, 0, attempt(7, false)));
    let reverted = CommandBody::WithdrawalMined { withdrawal: w3, hash: hash(7), block: 22, reverted: true };
    assert_eq!(f.ok(reverted), Summary::WithdrawalUpdated(w3, WithdrawalState::Failed));
    assert_eq!(f.balance(CAROL, QUOTE), after);

    // Restored from a format-3 snapshot: the same state, and the same answers.
    let mut copy = Engine::restore(&f.engine.snapshot()).unwrap();
    assert_eq!(copy.digest(), f.engine.digest());
    assert_eq!(copy.chain_payment(w1), f.engine.chain_payment(w1));
    let request = CommandBody::Account(AccountRequest {
        account: CAROL,
        request_id: ClientId::from_u64(77),
        request_ts_ms: f.now_ms,
        action: AccountAction::RequestWithdrawal { asset: QUOTE, amount: 1, address: "0xabc".into() },
    });
    // The next withdrawal, signed with the next nonce (8).
    for body in [request, signed(w3 + 1, 8, 0, attempt(6, false))] {
        let command = Command { ts_ms: f.now_ms + 1, body, operator: None };
        let (mut a, mut b) = (Vec::<Event>::new(), Vec::<Event>::new());
        let outcome = f.engine.apply(&command, &mut a);
        assert!(matches!(outcome, Outcome::Applied(_)), "{outcome:?}");
        assert_eq!(outcome, copy.apply(&command, &mut b));
        assert_eq!((a, copy.digest()), (b, f.engine.digest()));
    }
}

#[test]
fn a_range_that_names_a_credited_deposit_differently_is_refused_not_a_crash() {
    let mut f = on_chain();
    let before = f.balance(ALICE, QUOTE).available;
    // The same log twice in one range with two amounts.
    f.rejects(deposits(10, 11, vec![deposit(ALICE, 7, 1, 0), deposit(ALICE, 8, 1, 0)]), Reject::DuplicateIdMismatch);
    // A key an operator credited by hand with another amount.
    f.ok(CommandBody::Deposit { account: ALICE, asset: QUOTE, amount: 9, chain_tx: deposit_key(CHAIN, &hash(2), 0) });
    f.rejects(deposits(10, 11, vec![deposit(ALICE, 7, 2, 0)]), Reject::DuplicateIdMismatch);
    // The same credit as the hand-made one is no mismatch: the range moves on, crediting nothing twice.
    assert_eq!(f.ok(deposits(10, 11, vec![deposit(ALICE, 9, 2, 0)])), Summary::ChainUpdated(11));
    assert_eq!(f.balance(ALICE, QUOTE).available, before + 9);
}
