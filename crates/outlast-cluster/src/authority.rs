//! Who may give which command on a node's internal client port.
//!
//! With TLS, every connection has a proven identity (`outlast_tls::Identity`). An operator's
//! certificate gives any command. A member's certificate gives account requests (which the
//! member's API authenticated with the account's key) and reads; a command only an operator may
//! give — one that creates money or changes control: assets, markets, accounts, deposits,
//! withdrawal outcomes, API keys, membership — needs the operator token with it, which a node
//! relays only for what its own API or an operator's connection authenticated. Every node it
//! passes through checks, the leader last, before anything reaches the log. A cluster without
//! TLS has no identities and trusts its network (the simulation; loopback labs run TLS).
//!
//! What this does not stop: a member is a voter, and a compromised voter can still write to
//! the log through Raft itself (by winning an election). Closing that needs operator commands
//! signed end to end and checked where they are applied; until then this guards the client
//! port, where a stolen node certificate would otherwise be enough.
//!
//! Must never: let a member's certificate alone give, on the client port, a command that
//! creates money or changes who controls the cluster.

use outlast_engine::CommandBody;
use outlast_tls::Identity;

/// Whether only an operator may give `body` (everything but an account holder's request).
pub fn operator_only(body: &CommandBody) -> bool {
    body.operator_only()
}

/// Whether `sender` may give a command (`operator_only` as above) that came with
/// `operator_token`, on a node whose own copy of the token is `mine`. The reason if not.
pub fn check(
    sender: Option<&Identity>,
    operator_only: bool,
    operator_token: Option<&str>,
    mine: Option<&str>,
) -> Result<(), String> {
    match sender {
        None | Some(Identity::Operator(_)) => Ok(()),
        Some(_) if !operator_only => Ok(()),
        Some(member) => match (operator_token, mine) {
            (Some(given), Some(mine)) if same(given.as_bytes(), mine.as_bytes()) => Ok(()),
            (Some(_), _) => Err(format!("{member:?} relayed an operator command with a wrong operator token")),
            (None, _) => Err(format!(
                "{member:?} may give account requests only; this command needs an operator (its certificate, or a node relaying the operator token)"
            )),
        },
    }
}

/// Equal, compared in constant time for equal lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "an-operator-token-of-at-least-32-chars";

    #[test]
    fn a_member_alone_gives_account_requests_only() {
        let member = Identity::Node(2);
        assert!(check(Some(&member), false, None, Some(TOKEN)).is_ok());
        let refused = check(Some(&member), true, None, Some(TOKEN)).unwrap_err();
        assert!(refused.contains("account requests only"), "{refused}");
        assert!(check(Some(&member), true, Some("wrong"), Some(TOKEN)).is_err());
        assert!(check(Some(&member), true, Some(TOKEN), None).is_err(), "a node without a token checks nothing in");
        assert!(check(Some(&member), true, Some(TOKEN), Some(TOKEN)).is_ok());
    }

    #[test]
    fn an_operator_gives_anything_and_a_clear_cluster_trusts_its_network() {
        assert!(check(Some(&Identity::Operator("ops".into())), true, None, None).is_ok());
        assert!(check(None, true, None, None).is_ok());
    }

    #[test]
    fn only_account_requests_are_open_to_members() {
        let deposit = CommandBody::Deposit { account: 1, asset: 1, amount: 5, chain_tx: "t".into() };
        let key = CommandBody::RegisterApiKey(outlast_engine::ApiKeySpec {
            key: "k".repeat(16),
            account: 1,
            credential: outlast_engine::KeyCredential::Ed25519 { public_key: [1; 32] },
            permissions: outlast_engine::KeyPermissions::default(),
            ip_allowlist: Vec::new(),
        });
        assert!(operator_only(&deposit) && operator_only(&key));
        assert!(operator_only(&CommandBody::CreateAccount { account: 1 }));
    }
}
