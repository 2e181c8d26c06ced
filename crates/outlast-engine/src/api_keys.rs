//! API keys: which account a key acts for, how it signs, what it may do, and from where.
//!
//! The registry is replicated state so that every node can tell whose request a signed call is,
//! and so that a revoked key stops working everywhere at the same log index. What a key signs
//! with never appears here in clear: an Ed25519 key is stored as its public key only; an HMAC
//! key's random secret is stored sealed (encrypted and authenticated) under a key-encryption key
//! that only API nodes hold and that is never part of a command, the log or a snapshot. The
//! engine treats the sealed bytes as opaque and never opens them.
//!
//! Revocation is final: a revoked name stays in the registry as a tombstone (counted against
//! `api_keys_max`), so registering the name again, for anyone, with any credential, is refused.

// `core::net` holds only address values; no sockets (the engine does no I/O).
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::event::{Outcome, Summary};
use crate::reject::Reject;
use crate::types::{AccountId, FEE_ACCOUNT};

/// Shortest API key name, in bytes (Binance's keys are 64).
pub const API_KEY_LEN_MIN: usize = 16;
/// Longest API key name, in bytes.
pub const API_KEY_LEN_MAX: usize = 64;
/// Largest sealed HMAC secret, in bytes (nonce, a 64-digit secret and a tag take 92).
pub const SEALED_SECRET_BYTES_MAX: usize = 256;
/// Most entries in one key's IP allowlist.
pub const API_KEY_IPS_MAX: usize = 30;

/// Whether `key` is a well-formed API key name: 16 to 64 ASCII letters and digits.
pub fn api_key_valid(key: &str) -> bool {
    (API_KEY_LEN_MIN..=API_KEY_LEN_MAX).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// How a key proves that a request comes from its holder.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyCredential {
    /// HMAC-SHA256 under a random per-key secret, held here only sealed under the API nodes'
    /// key-encryption key (opaque to the engine).
    Hmac {
        /// The sealed secret.
        sealed_secret: Vec<u8>,
    },
    /// Ed25519: only the public key is held; the private key never leaves its owner.
    Ed25519 {
        /// The raw 32-byte public key.
        public_key: [u8; 32],
    },
}

/// What a key may do beyond reading its account. Binance's defaults: trading on, withdrawals off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyPermissions {
    /// Place and cancel orders.
    pub trade: bool,
    /// Ask for withdrawals.
    pub withdraw: bool,
}

impl Default for KeyPermissions {
    fn default() -> KeyPermissions {
        KeyPermissions { trade: true, withdraw: false }
    }
}

/// An address range: an address and how many leading bits of it must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpNet {
    /// The network's address.
    pub addr: IpAddr,
    /// Leading bits that must match: at most 32 for IPv4, 128 for IPv6.
    pub prefix_len: u8,
}

impl IpNet {
    /// Whether the prefix length fits the address family.
    pub fn valid(&self) -> bool {
        let bits = if self.addr.is_ipv4() { 32 } else { 128 };
        self.prefix_len <= bits
    }

    /// Whether `ip` is inside the range. An IPv4 address written as IPv6 (`::ffff:a.b.c.d`)
    /// counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                (u128::from(u32::from(net)) << 96, u128::from(u32::from(ip)) << 96, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => (u128::from(net), u128::from(ip), 128),
            _ => return false,
        };
        let prefix_len = u32::from(self.prefix_len).min(bits);
        let mask = if prefix_len == 0 { 0 } else { u128::MAX << (128 - prefix_len) };
        net & mask == ip & mask
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// A key as registered.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ApiKeySpec {
    /// The key's public name: 16 to 64 ASCII letters and digits.
    pub key: String,
    /// The account it acts for.
    pub account: AccountId,
    /// How it signs.
    pub credential: KeyCredential,
    /// What it may do.
    pub permissions: KeyPermissions,
    /// Where requests signed by it may come from; empty means anywhere.
    pub ip_allowlist: Vec<IpNet>,
}

/// A registry entry: the key's registration, and whether it was revoked (then forever).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// What was registered.
    pub spec: ApiKeySpec,
    /// Revoked: it never signs again, and its name is never registered again.
    pub revoked: bool,
}

impl ApiKey {
    /// Whether requests from `ip` may use this key.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.spec.ip_allowlist.is_empty() || self.spec.ip_allowlist.iter().any(|net| net.contains(ip))
    }
}

/// The first reason a registration is malformed, if any.
pub(crate) fn spec_reject(spec: &ApiKeySpec) -> Option<Reject> {
    let sealed_ok = match &spec.credential {
        KeyCredential::Hmac { sealed_secret } => (1..=SEALED_SECRET_BYTES_MAX).contains(&sealed_secret.len()),
        KeyCredential::Ed25519 { .. } => true,
    };
    let ips_ok = spec.ip_allowlist.len() <= API_KEY_IPS_MAX && spec.ip_allowlist.iter().all(IpNet::valid);
    if !api_key_valid(&spec.key) || !sealed_ok || !ips_ok {
        return Some(Reject::InvalidApiKey);
    }
    None
}

impl Engine {
    pub(crate) fn register_api_key(&mut self, spec: &ApiKeySpec) -> Outcome {
        if let Some(reject) = spec_reject(spec) {
            return Outcome::Rejected(reject);
        }
        if spec.account == FEE_ACCOUNT {
            return Outcome::Rejected(Reject::ReservedAccount);
        }
        if !self.accounts.contains_key(&spec.account) {
            return Outcome::Rejected(Reject::UnknownAccount);
        }
        if let Some(existing) = self.api_keys.get(&spec.key) {
            // Only the very same registration (a retried command) is a duplicate: another
            // credential under a taken name would let whoever holds it sign for the owner.
            return if existing.revoked {
                Outcome::Rejected(Reject::ApiKeyRevoked)
            } else if existing.spec == *spec {
                Outcome::Duplicate(Summary::ApiKeyRegistered(spec.account))
            } else {
                Outcome::Rejected(Reject::DuplicateIdMismatch)
            };
        }
        if self.api_keys.len() as u64 >= self.limits.api_keys_max {
            return Outcome::Rejected(Reject::ApiKeysLimit);
        }
        self.api_keys.insert(spec.key.clone(), ApiKey { spec: spec.clone(), revoked: false });
        Outcome::Applied(Summary::ApiKeyRegistered(spec.account))
    }

    pub(crate) fn revoke_api_key(&mut self, key: &str) -> Outcome {
        match self.api_keys.get_mut(key) {
            Some(entry) if entry.revoked => Outcome::Duplicate(Summary::ApiKeyRevoked(entry.spec.account)),
            Some(entry) => {
                entry.revoked = true;
                Outcome::Applied(Summary::ApiKeyRevoked(entry.spec.account))
            }
            None => Outcome::Rejected(Reject::UnknownApiKey),
        }
    }

    /// A key that may sign now (registered and not revoked).
    pub fn api_key(&self, key: &str) -> Option<&ApiKey> {
        self.api_keys.get(key).filter(|entry| !entry.revoked)
    }

    /// The account a live API key acts for.
    pub fn api_key_account(&self, key: &str) -> Option<AccountId> {
        self.api_key(key).map(|entry| entry.spec.account)
    }

    /// The live API keys of an account, in name order.
    pub fn api_keys_of(&self, account: AccountId) -> Vec<&str> {
        let live = self.api_keys.iter().filter(|(_, entry)| !entry.revoked && entry.spec.account == account);
        live.map(|(key, _)| key.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str, prefix_len: u8) -> IpNet {
        IpNet { addr: text.parse().unwrap(), prefix_len }
    }

    #[test]
    fn ranges_match_by_prefix_and_family() {
        let lan = net("10.1.0.0", 16);
        assert!(lan.contains("10.1.200.3".parse().unwrap()));
        assert!(lan.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!lan.contains("10.2.0.1".parse().unwrap()));
        assert!(!lan.contains("::1".parse().unwrap()));
        assert!(net("0.0.0.0", 0).contains("203.0.113.9".parse().unwrap()));
        assert!(net("203.0.113.9", 32).contains("203.0.113.9".parse().unwrap()));
        assert!(!net("203.0.113.9", 32).contains("203.0.113.8".parse().unwrap()));
        assert!(net("2001:db8::", 32).contains("2001:db8:1::5".parse().unwrap()));
        assert!(!net("2001:db8::", 32).contains("2001:db9::5".parse().unwrap()));
        assert!(!net("1.2.3.4", 33).valid());
        assert!(net("::", 128).valid());
    }
}
