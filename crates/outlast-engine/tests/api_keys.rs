//! The API-key registry: which account a key acts for, how it signs, what it may do; replicated
//! like any other state, with final revocation.

mod common;

use common::*;
use outlast_engine::*;

const KEY: &str = "AliceKey0123456789abcdef";

fn hmac_key(key: &str, account: AccountId, sealed: u8) -> ApiKeySpec {
    ApiKeySpec {
        key: key.into(),
        account,
        credential: KeyCredential::Hmac { sealed_secret: vec![sealed; 92] },
        permissions: KeyPermissions::default(),
        ip_allowlist: Vec::new(),
    }
}

fn register(spec: &ApiKeySpec) -> CommandBody {
    CommandBody::RegisterApiKey(spec.clone())
}

#[test]
fn a_registered_key_names_its_account_until_revoked() {
    let mut f = Fixture::new();
    let alice = hmac_key(KEY, ALICE, 1);
    assert_eq!(f.ok(register(&alice)), Summary::ApiKeyRegistered(ALICE));
    assert_eq!(f.engine.api_key_account(KEY), Some(ALICE));
    assert_eq!(f.engine.api_key(KEY).map(|k| &k.spec), Some(&alice));
    assert_eq!(f.engine.api_keys_of(ALICE), vec![KEY]);
    // The same registration again is a duplicate (a retried command); the same name with
    // another credential or for another account is refused.
    assert_eq!(f.apply(register(&alice)), Outcome::Duplicate(Summary::ApiKeyRegistered(ALICE)));
    let other_secret = f.apply(register(&hmac_key(KEY, ALICE, 2)));
    assert_eq!(other_secret, Outcome::Rejected(Reject::DuplicateIdMismatch));
    let stolen = f.apply(register(&hmac_key(KEY, BOB, 1)));
    assert_eq!(stolen, Outcome::Rejected(Reject::DuplicateIdMismatch));
    assert_eq!(f.engine.api_key_account(KEY), Some(ALICE));
    // The registry survives a snapshot and counts in the digest.
    let restored = Engine::restore(&f.engine.snapshot()).expect("restores");
    assert_eq!(restored.api_key(KEY), f.engine.api_key(KEY));
    let digest_before = f.engine.digest();
    assert_eq!(f.ok(CommandBody::RevokeApiKey { key: KEY.into() }), Summary::ApiKeyRevoked(ALICE));
    assert_ne!(f.engine.digest(), digest_before);
    assert_eq!(f.engine.api_key_account(KEY), None);
    assert!(f.engine.api_keys_of(ALICE).is_empty());
    let again = f.apply(CommandBody::RevokeApiKey { key: KEY.into() });
    assert_eq!(again, Outcome::Duplicate(Summary::ApiKeyRevoked(ALICE)));
    let unknown = f.apply(CommandBody::RevokeApiKey { key: "NoSuchKey0123456789".into() });
    assert_eq!(unknown, Outcome::Rejected(Reject::UnknownApiKey));
}

#[test]
fn revocation_is_final_whatever_is_registered_later() {
    let mut f = Fixture::new();
    f.ok(register(&hmac_key(KEY, ALICE, 1)));
    f.ok(CommandBody::RevokeApiKey { key: KEY.into() });
    let digest = f.engine.digest();
    let ed25519 = ApiKeySpec { credential: KeyCredential::Ed25519 { public_key: [7; 32] }, ..hmac_key(KEY, ALICE, 1) };
    for spec in [hmac_key(KEY, ALICE, 1), hmac_key(KEY, ALICE, 9), hmac_key(KEY, BOB, 1), ed25519] {
        assert_eq!(f.apply(register(&spec)), Outcome::Rejected(Reject::ApiKeyRevoked));
    }
    assert_eq!(f.engine.api_key(KEY), None);
    assert_eq!(f.engine.digest(), digest);
    // Still revoked after a snapshot round trip.
    let mut restored = Engine::restore(&f.engine.snapshot()).expect("restores");
    let outcome = restored
        .apply(&Command { ts_ms: 1, body: register(&hmac_key(KEY, ALICE, 3)), operator: None }, &mut Vec::new());
    assert_eq!(outcome, Outcome::Rejected(Reject::ApiKeyRevoked));
}

#[test]
fn bad_keys_are_refused_and_change_nothing() {
    let mut f = Fixture::new();
    let digest = f.engine.digest();
    let net = |addr: &str, prefix_len| IpNet { addr: addr.parse().unwrap(), prefix_len };
    let base = hmac_key(KEY, ALICE, 1);
    let cases = [
        (hmac_key("short", ALICE, 1), Reject::InvalidApiKey),
        (hmac_key("has-a-dash-0123456789", ALICE, 1), Reject::InvalidApiKey),
        (hmac_key(&"x".repeat(65), ALICE, 1), Reject::InvalidApiKey),
        (hmac_key(KEY, 999, 1), Reject::UnknownAccount),
        (hmac_key(KEY, FEE_ACCOUNT, 1), Reject::ReservedAccount),
        (
            ApiKeySpec { credential: KeyCredential::Hmac { sealed_secret: vec![] }, ..base.clone() },
            Reject::InvalidApiKey,
        ),
        (
            ApiKeySpec {
                credential: KeyCredential::Hmac { sealed_secret: vec![0; SEALED_SECRET_BYTES_MAX + 1] },
                ..base.clone()
            },
            Reject::InvalidApiKey,
        ),
        (ApiKeySpec { ip_allowlist: vec![net("10.0.0.0", 33)], ..base.clone() }, Reject::InvalidApiKey),
        (ApiKeySpec { ip_allowlist: vec![net("::1", 129)], ..base.clone() }, Reject::InvalidApiKey),
        (
            ApiKeySpec { ip_allowlist: vec![net("10.0.0.1", 32); API_KEY_IPS_MAX + 1], ..base.clone() },
            Reject::InvalidApiKey,
        ),
    ];
    for (spec, reject) in cases {
        assert_eq!(f.apply(register(&spec)), Outcome::Rejected(reject), "{spec:?}");
    }
    assert_eq!(f.engine.digest(), digest);
}

#[test]
fn the_key_limit_is_a_rejection_and_counts_revoked_names() {
    let mut f = Fixture::with_limits(Limits { api_keys_max: 1, ..Limits::default() }, 0, 0);
    f.ok(register(&hmac_key(KEY, ALICE, 1)));
    f.ok(CommandBody::RevokeApiKey { key: KEY.into() });
    let outcome = f.apply(register(&hmac_key("BobKey0123456789abcdef", BOB, 1)));
    assert_eq!(outcome, Outcome::Rejected(Reject::ApiKeysLimit));
}

#[test]
fn an_allowlist_admits_only_its_ranges() {
    let mut f = Fixture::new();
    let spec = ApiKeySpec {
        ip_allowlist: vec![IpNet { addr: "192.0.2.0".parse().unwrap(), prefix_len: 24 }],
        ..hmac_key(KEY, ALICE, 1)
    };
    f.ok(register(&spec));
    let key = f.engine.api_key(KEY).expect("live");
    assert!(key.allows_ip("192.0.2.77".parse().unwrap()));
    assert!(!key.allows_ip("198.51.100.1".parse().unwrap()));
    f.ok(register(&hmac_key("OpenKey0123456789abcdef", ALICE, 1)));
    assert!(f.engine.api_key("OpenKey0123456789abcdef").expect("live").allows_ip("198.51.100.1".parse().unwrap()));
}
