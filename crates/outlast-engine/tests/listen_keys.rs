//! Listen keys: random, one open per account, 60 minutes from the last open or keep-alive,
//! closed on request, dead with their API key; replicated like any other state.

mod common;

use common::*;
use outlast_engine::*;

const API_KEY: &str = "AliceKey0123456789abcdef";
const FIRST: &str = "ListenKeyAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SECOND: &str = "ListenKeyBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn fixture() -> Fixture {
    let mut f = Fixture::new();
    let spec = ApiKeySpec {
        key: API_KEY.into(),
        account: ALICE,
        credential: KeyCredential::Ed25519 { public_key: [1; 32] },
        permissions: KeyPermissions::default(),
        ip_allowlist: Vec::new(),
    };
    f.ok(CommandBody::RegisterApiKey(spec));
    f
}

fn ask(account: AccountId, action: ListenKeyAction) -> CommandBody {
    CommandBody::ListenKey(ListenKeyRequest { account, action })
}

fn open(listen_key: &str) -> ListenKeyAction {
    ListenKeyAction::Open { api_key: API_KEY.into(), listen_key: listen_key.into() }
}

#[test]
fn one_key_per_account_extended_by_opening_again_and_by_keep_alive_until_closed() {
    let mut f = fixture();
    assert_eq!(f.ok(ask(ALICE, open(FIRST))), Summary::ListenKey(ALICE));
    let opened = f.engine.listen_key_of(ALICE).expect("open").clone();
    assert_eq!((opened.key.as_str(), opened.account), (FIRST, ALICE));
    assert_eq!(opened.expires_ms, f.now_ms + LISTEN_KEY_TTL_MS);
    // Opening again keeps the open key (the newly drawn one is dropped) and extends it.
    f.now_ms += 1_000;
    f.ok(ask(ALICE, open(SECOND)));
    let again = f.engine.listen_key_of(ALICE).expect("open").clone();
    assert_eq!((again.key.as_str(), again.expires_ms), (FIRST, f.now_ms + LISTEN_KEY_TTL_MS));
    assert!(f.engine.listen_key_live(SECOND, f.now_ms).is_none());
    f.now_ms += 1_000;
    f.ok(ask(ALICE, ListenKeyAction::KeepAlive { listen_key: FIRST.into() }));
    assert_eq!(f.engine.listen_key_of(ALICE).unwrap().expires_ms, f.now_ms + LISTEN_KEY_TTL_MS);
    // Survives a snapshot.
    let restored = Engine::restore(&f.engine.snapshot()).expect("restores");
    assert_eq!(restored.listen_key_of(ALICE), f.engine.listen_key_of(ALICE));
    f.ok(ask(ALICE, ListenKeyAction::Close { listen_key: FIRST.into() }));
    assert!(f.engine.listen_key_of(ALICE).is_none() && f.engine.listen_key_live(FIRST, f.now_ms).is_none());
    let closed = f.apply(ask(ALICE, ListenKeyAction::KeepAlive { listen_key: FIRST.into() }));
    assert_eq!(closed, Outcome::Rejected(Reject::UnknownListenKey));
}

#[test]
fn a_key_expires_an_hour_after_its_last_keep_alive_and_is_never_another_accounts() {
    let mut f = fixture();
    f.ok(ask(ALICE, open(FIRST)));
    let digest = f.engine.digest();
    // Bob cannot keep alive, close, or open with Alice's key; nothing changes.
    for action in
        [ListenKeyAction::KeepAlive { listen_key: FIRST.into() }, ListenKeyAction::Close { listen_key: FIRST.into() }]
    {
        assert_eq!(f.apply(ask(BOB, action)), Outcome::Rejected(Reject::UnknownListenKey));
    }
    assert_eq!(f.apply(ask(BOB, open(SECOND))), Outcome::Rejected(Reject::UnknownApiKey));
    assert_eq!(f.apply(ask(ALICE, open("short"))), Outcome::Rejected(Reject::InvalidApiKey));
    assert_eq!(f.engine.digest(), digest, "refusals change nothing");
    // A reader's clock past the hour sees it dead even before engine time moves.
    let expires_ms = f.engine.listen_key_of(ALICE).unwrap().expires_ms;
    assert!(f.engine.listen_key_live(FIRST, expires_ms - 1).is_some());
    assert!(f.engine.listen_key_live(FIRST, expires_ms).is_none());
    // Engine time past the hour: keep-alive is too late, and opening draws the new key.
    f.now_ms = expires_ms;
    let late = f.apply(ask(ALICE, ListenKeyAction::KeepAlive { listen_key: FIRST.into() }));
    assert_eq!(late, Outcome::Rejected(Reject::UnknownListenKey));
    f.ok(ask(ALICE, open(SECOND)));
    assert_eq!(f.engine.listen_key_of(ALICE).unwrap().key, SECOND);
    assert!(f.engine.listen_key_live(FIRST, f.now_ms).is_none());
}

#[test]
fn revoking_the_api_key_ends_its_listen_key_for_good() {
    let mut f = fixture();
    f.ok(ask(ALICE, open(FIRST)));
    assert!(f.engine.listen_key_live(FIRST, f.now_ms).is_some());
    f.ok(CommandBody::RevokeApiKey { key: API_KEY.into() });
    assert!(f.engine.listen_key_live(FIRST, f.now_ms).is_none());
    // Alice opens again with another key: she gets a new listen key; the revoked key's one
    // does not come back (as it would if it were extended and rebound to the new key).
    const OTHER: &str = "AliceOtherKey0123456789";
    let spec = ApiKeySpec {
        key: OTHER.into(),
        account: ALICE,
        credential: KeyCredential::Ed25519 { public_key: [2; 32] },
        permissions: KeyPermissions::default(),
        ip_allowlist: Vec::new(),
    };
    f.ok(CommandBody::RegisterApiKey(spec));
    f.ok(ask(ALICE, ListenKeyAction::Open { api_key: OTHER.into(), listen_key: SECOND.into() }));
    assert_eq!(f.engine.listen_key_of(ALICE).unwrap().key, SECOND);
    assert!(f.engine.listen_key_live(FIRST, f.now_ms).is_none());
}
