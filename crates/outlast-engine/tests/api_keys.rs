//! The API-key registry: which account a key acts for, replicated like any other state.

mod common;

use common::*;
use outlast_engine::*;

const KEY: &str = "AliceKey0123456789abcdef";

#[test]
fn a_registered_key_names_its_account_until_revoked() {
    let mut f = Fixture::new();
    assert_eq!(f.ok(CommandBody::RegisterApiKey { key: KEY.into(), account: ALICE }), Summary::ApiKeyRegistered(ALICE));
    assert_eq!(f.engine.api_key_account(KEY), Some(ALICE));
    assert_eq!(f.engine.api_keys_of(ALICE), vec![KEY]);
    // Registering again is a duplicate; for another account it is refused.
    let again = f.apply(CommandBody::RegisterApiKey { key: KEY.into(), account: ALICE });
    assert_eq!(again, Outcome::Duplicate(Summary::ApiKeyRegistered(ALICE)));
    let stolen = f.apply(CommandBody::RegisterApiKey { key: KEY.into(), account: BOB });
    assert_eq!(stolen, Outcome::Rejected(Reject::DuplicateIdMismatch));
    assert_eq!(f.engine.api_key_account(KEY), Some(ALICE));
    // The registry survives a snapshot and counts in the digest.
    let restored = Engine::restore(&f.engine.snapshot()).expect("restores");
    assert_eq!(restored.api_key_account(KEY), Some(ALICE));
    let digest_before = f.engine.digest();
    assert_eq!(f.ok(CommandBody::RevokeApiKey { key: KEY.into() }), Summary::ApiKeyRevoked(ALICE));
    assert_ne!(f.engine.digest(), digest_before);
    assert_eq!(f.engine.api_key_account(KEY), None);
    assert_eq!(f.apply(CommandBody::RevokeApiKey { key: KEY.into() }), Outcome::Rejected(Reject::UnknownApiKey));
}

#[test]
fn bad_keys_are_refused_and_change_nothing() {
    let mut f = Fixture::new();
    let digest = f.engine.digest();
    let cases = [
        ("short", ALICE, Reject::InvalidApiKey),
        ("has-a-dash-0123456789", ALICE, Reject::InvalidApiKey),
        (&"x".repeat(65), ALICE, Reject::InvalidApiKey),
        (KEY, 999, Reject::UnknownAccount),
        (KEY, FEE_ACCOUNT, Reject::ReservedAccount),
    ];
    for (key, account, reject) in cases {
        let outcome = f.apply(CommandBody::RegisterApiKey { key: key.to_string(), account });
        assert_eq!(outcome, Outcome::Rejected(reject), "{key} for {account}");
    }
    assert_eq!(f.engine.digest(), digest);
}

#[test]
fn the_key_limit_is_a_rejection() {
    let mut f = Fixture::with_limits(Limits { api_keys_max: 1, ..Limits::default() }, 0, 0);
    f.ok(CommandBody::RegisterApiKey { key: KEY.into(), account: ALICE });
    let outcome = f.apply(CommandBody::RegisterApiKey { key: "BobKey0123456789abcdef".into(), account: BOB });
    assert_eq!(outcome, Outcome::Rejected(Reject::ApiKeysLimit));
}
