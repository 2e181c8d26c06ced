//! The audit trail: every applied operator command, with who gave it and when, in replicated
//! state; nothing for account requests or refused commands; bounded, and kept by snapshots.

mod common;

use common::*;
use outlast_engine::*;

fn deposit(tx: &str) -> CommandBody {
    CommandBody::Deposit { account: ALICE, asset: QUOTE, amount: 5, chain_tx: tx.into() }
}

#[test]
fn an_applied_operator_command_is_recorded_with_who_and_when() {
    let mut f = Fixture::new();
    let before = f.engine.audit_total();
    assert!(matches!(f.apply_as(Some("alice"), deposit("tx-1")), Outcome::Applied(_)));
    assert_eq!(f.engine.audit_total(), before + 1);
    let record = f.engine.audit_records().last().expect("a record").clone();
    assert_eq!((record.number, record.ts_ms), (before + 1, f.now_ms));
    assert_eq!((record.operator.as_deref(), &record.action), (Some("alice"), &deposit("tx-1")));
    // A duplicate (the same deposit again), a refusal, and an account request add nothing.
    let digest = f.engine.digest();
    assert!(matches!(f.apply_as(Some("alice"), deposit("tx-1")), Outcome::Duplicate(_)));
    let refused = f.apply_as(Some("alice"), CommandBody::CreateAccount { account: FEE_ACCOUNT });
    assert!(matches!(refused, Outcome::Rejected(_)));
    assert_eq!((f.engine.audit_total(), f.engine.digest()), (before + 1, digest));
    let id = f.fresh_id();
    let order = OrderSpec {
        market: MKT,
        side: Side::Buy,
        kind: OrderKind::Limit { price: 100, qty: 1, tif: TimeInForce::Gtc },
        stp: StpMode::ExpireTaker,
    };
    assert!(matches!(f.request(ALICE, id, AccountAction::PlaceOrder(order)), Outcome::Applied(_)));
    assert_eq!(f.engine.audit_total(), before + 1, "account requests are not audited");
}

#[test]
fn a_command_naming_an_operator_wrongly_is_refused_and_changes_nothing() {
    let mut f = Fixture::new();
    let digest = f.engine.digest();
    for name in ["", "has space", &"x".repeat(OPERATOR_NAME_LEN_MAX + 1)] {
        assert_eq!(f.apply_as(Some(name), deposit("tx-2")), Outcome::Rejected(Reject::InvalidOperator), "{name:?}");
    }
    // An account request is the account holder's: naming an operator on it is refused.
    let request = AccountRequest {
        account: ALICE,
        request_id: ClientId::new("x-1").unwrap(),
        request_ts_ms: f.now_ms,
        action: AccountAction::CancelAll { market: MKT },
    };
    let named = f.apply_as(Some("alice"), CommandBody::Account(request));
    assert_eq!(named, Outcome::Rejected(Reject::InvalidOperator));
    assert_eq!(f.engine.digest(), digest);
}

#[test]
fn the_trail_is_bounded_counted_and_kept_by_snapshots() {
    let mut f = Fixture::with_limits(Limits { audit_records_max: 2, ..Limits::default() }, 0, 0);
    let before = f.engine.audit_total();
    for tx in ["a", "b", "c"] {
        assert!(matches!(f.apply_as(Some("ops"), deposit(tx)), Outcome::Applied(_)));
    }
    assert_eq!(f.engine.audit_total(), before + 3);
    let kept: Vec<_> = f.engine.audit_records().map(|r| r.action.clone()).collect();
    assert_eq!(kept, vec![deposit("b"), deposit("c")], "the oldest go first");
    let restored = Engine::restore(&f.engine.snapshot()).expect("restores");
    assert_eq!(restored.audit_records().collect::<Vec<_>>(), f.engine.audit_records().collect::<Vec<_>>());
    assert_eq!((restored.audit_total(), restored.digest()), (f.engine.audit_total(), f.engine.digest()));
    // Who gave a command is state: the same command under another name gives another digest.
    let mut other = Fixture::with_limits(Limits { audit_records_max: 2, ..Limits::default() }, 0, 0);
    for tx in ["a", "b", "c"] {
        other.apply_as(Some("someone-else"), deposit(tx));
    }
    assert_ne!(other.engine.digest(), f.engine.digest());
}

#[test]
fn an_administration_note_is_recorded_and_changes_nothing_else_and_bad_text_is_refused() {
    let mut f = Fixture::new();
    let before = f.engine.audit_total();
    let balances = f.engine.balance(ALICE, QUOTE);
    let note = CommandBody::AdminNote { action: "add learner 4 (aws us-east-1 us-east-1b)".into() };
    assert_eq!(f.apply_as(Some("ops"), note.clone()), Outcome::Applied(Summary::AdminNoted));
    let record = f.engine.audit_records().last().unwrap().clone();
    assert_eq!((record.operator.as_deref(), record.action), (Some("ops"), note.clone()));
    assert_eq!(f.engine.balance(ALICE, QUOTE), balances);
    // Each attempt is its own record: the same text again is recorded again.
    assert_eq!(f.apply_as(Some("ops"), note), Outcome::Applied(Summary::AdminNoted));
    assert_eq!(f.engine.audit_total(), before + 2);
    let digest = f.engine.digest();
    for bad in [String::new(), "x".repeat(ADMIN_NOTE_LEN_MAX + 1), "tab\there".into(), "é".into()] {
        let outcome = f.apply_as(Some("ops"), CommandBody::AdminNote { action: bad.clone() });
        assert_eq!(outcome, Outcome::Rejected(Reject::InvalidAdminNote), "{bad:?}");
    }
    assert_eq!((f.engine.audit_total(), f.engine.digest()), (before + 2, digest));
}
