//! Credentials: API-key secrets and signatures, the receive window, and the operator token.
//!
//! Two kinds of API key, as Binance has them:
//! - **HMAC-SHA256**: the secret is 32 random bytes (64 hex digits) drawn for that key alone. The
//!   replicated registry holds it only sealed (AES-256-GCM) under a key derived from the nodes'
//!   key-encryption key (the `api_kek_file`), with the key's name and account as associated
//!   data, so a sealed secret cannot be moved to another key. The log, snapshots and backups
//!   therefore never hold a usable secret; the key-encryption key is never in them.
//! - **Ed25519**: the registry holds the public key only; the node cannot sign for the user at
//!   all. The signature is the base64 of the Ed25519 signature over the same payload.
//!
//! A secret is shown once, to the operator who created the key; no path reads an existing one
//! back. Nothing here logs a secret, and `Debug` never prints one.

use std::net::IpAddr;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use outlast_engine::{AccountId, ApiKey, KeyCredential};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Sha256;

use crate::error::ApiError;
use crate::params::Params;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the key-encryption key (AES-256).
pub const KEK_BYTES: usize = 32;
/// Bytes of entropy in an HMAC key's secret.
pub const SECRET_BYTES: usize = 32;
/// Binance's default receive window, in ms.
pub const RECV_WINDOW_MS_DEFAULT: u64 = 5_000;
/// Binance's largest receive window, in ms.
pub const RECV_WINDOW_MS_MAX: u64 = 60_000;
/// How far a request's timestamp may be ahead of this node's clock, in ms (Binance: 1,000).
pub const AHEAD_MS_MAX: u64 = 1_000;
/// Bytes of an Ed25519 public key in SubjectPublicKeyInfo form: this prefix and the raw key.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The node's key material: the sealing key for HMAC secrets, derived from the key-encryption
/// key. `Debug` never prints it.
pub struct Keyring {
    seal: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    text.chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Fresh random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| std::io::Error::other("the system random source failed"))?;
    Ok(bytes)
}

/// A new random API key name: 64 letters and digits.
pub fn new_key_name() -> std::io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 62 symbols: rejecting bytes >= 248 keeps the choice uniform.
    let mut name = String::with_capacity(64);
    while name.len() < 64 {
        for byte in random_bytes::<64>()? {
            if byte < 248 && name.len() < 64 {
                name.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(name)
}

/// A new key-encryption key as hex text (what `outlast up` writes to its file).
pub fn new_master_hex() -> std::io::Result<String> {
    Ok(hex(&random_bytes::<KEK_BYTES>()?))
}

/// A key for one purpose, derived from the key-encryption key: HMAC-SHA256(kek, label).
fn derive(kek: &[u8], label: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(kek).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What a sealed secret is bound to: its key's name and account.
fn associated(key: &str, account: AccountId) -> Vec<u8> {
    format!("outlast-api-key-secret/v1\0{key}\0{account}").into_bytes()
}

/// Reads an Ed25519 public key: PEM (`-----BEGIN PUBLIC KEY-----`, as Binance asks users to
/// upload), or the base64 of the same DER or of the raw 32 bytes.
pub fn parse_ed25519_public_key(text: &str) -> Option<[u8; 32]> {
    use rustls::pki_types::pem::PemObject;
    let der = match rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes()) {
        Ok(der) => der.to_vec(),
        Err(_) => base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?,
    };
    let raw = match der.len() {
        32 => &der[..],
        44 => der.strip_prefix(&ED25519_SPKI_PREFIX[..])?,
        _ => return None,
    };
    raw.try_into().ok()
}

impl Keyring {
    /// Reads the key-encryption key: hex text of exactly 32 bytes.
    pub fn load(path: &std::path::Path) -> Result<Keyring, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Keyring::from_hex(text.trim()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A keyring from the key-encryption key's hex text.
    pub fn from_hex(text: &str) -> Result<Keyring, String> {
        let kek = unhex(text.as_bytes()).ok_or("the API key-encryption key must be hex")?;
        if kek.len() != KEK_BYTES {
            return Err(format!("the API key-encryption key must be {KEK_BYTES} bytes ({} hex digits)", KEK_BYTES * 2));
        }
        let seal = UnboundKey::new(&AES_256_GCM, &derive(&kek, "outlast-api-key-seal/v1")).expect("32-byte AES key");
        Ok(Keyring { seal: LessSafeKey::new(seal), random: SystemRandom::new() })
    }

    /// A new HMAC key for `key` of `account`: its secret (to show once) and its sealed form
    /// (to register). The sealed bytes are the nonce followed by the ciphertext and tag.
    pub fn new_hmac_secret(&self, key: &str, account: AccountId) -> std::io::Result<(String, KeyCredential)> {
        let secret = hex(&random_bytes::<SECRET_BYTES>()?);
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| std::io::Error::other("the system random source failed"))?;
        let mut sealed = secret.as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated(key, account)),
                &mut sealed,
            )
            .map_err(|_| std::io::Error::other("sealing the secret failed"))?;
        let mut credential = nonce.to_vec();
        credential.extend_from_slice(&sealed);
        Ok((secret, KeyCredential::Hmac { sealed_secret: credential }))
    }

    /// The secret of an HMAC key, unsealed for one check; `None` if it was not sealed by this
    /// key-encryption key for this key name and account.
    fn open(&self, key: &str, account: AccountId, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plain = self.seal.open_in_place(nonce, Aad::from(associated(key, account)), &mut buffer).ok()?;
        Some(plain.to_vec())
    }

    /// Whether `signature` (the decoded `signature` parameter) signs `payload` for `entry`:
    /// HMAC-SHA256 as hex for HMAC keys, base64 Ed25519 for Ed25519 keys. An HMAC comparison
    /// takes the same time wherever the first wrong byte is.
    pub fn verify(&self, entry: &ApiKey, payload: &[u8], signature: &str) -> bool {
        match &entry.spec.credential {
            KeyCredential::Hmac { sealed_secret } => {
                let Some(signature) = unhex(signature.as_bytes()) else { return false };
                let Some(secret) = self.open(&entry.spec.key, entry.spec.account, sealed_secret) else {
                    return false;
                };
                let mut mac = HmacSha256::new_from_slice(&secret).expect("HMAC takes any key length");
                mac.update(payload);
                mac.verify_slice(&signature).is_ok()
            }
            KeyCredential::Ed25519 { public_key } => {
                let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else { return false };
                let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key);
                key.verify(payload, &signature).is_ok()
            }
        }
    }
}

/// Whether a request from `ip` may use `entry` for an endpoint of `function`: the key's IP
/// allowlist admits it, and the key has the permission the function needs (trading for orders
/// and cancels, withdrawing for withdrawal requests; reading needs none).
pub fn permits(entry: &ApiKey, ip: IpAddr, function: Option<crate::function::Function>) -> bool {
    use crate::function::Function;
    let permitted = match function {
        Some(Function::OrderPlacement | Function::Cancels) => entry.spec.permissions.trade,
        Some(Function::WithdrawalRequests) => entry.spec.permissions.withdraw,
        _ => true,
    };
    permitted && entry.allows_ip(ip)
}

/// The operator's bearer token. `Debug` never prints it.
#[derive(Clone)]
pub struct OperatorToken(String);

impl std::fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorToken(..)")
    }
}

impl OperatorToken {
    /// Reads the token file (at least 32 printable characters).
    pub fn load(path: &std::path::Path) -> Result<OperatorToken, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        OperatorToken::new(text.trim()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A token from text.
    pub fn new(text: &str) -> Result<OperatorToken, String> {
        if text.len() < 32 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the operator token must be at least 32 printable ASCII characters".into());
        }
        Ok(OperatorToken(text.to_string()))
    }

    /// Whether an `Authorization` header value carries this token. The SHA-256 digests are
    /// compared, in constant time: comparing the texts would end early on a length mismatch
    /// and tell a prober the token's length.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else { return false };
        let digest = |bytes: &[u8]| ring::digest::digest(&ring::digest::SHA256, bytes);
        subtle::ConstantTimeEq::ct_eq(digest(given).as_ref(), digest(self.0.as_bytes()).as_ref()).into()
    }
}

/// Checks `timestamp` and `recvWindow` against this node's clock; returns the timestamp.
pub fn check_time(params: &Params, now_ms: u64) -> Result<u64, ApiError> {
    let timestamp = params.u64("timestamp")?.ok_or_else(|| ApiError::mandatory("timestamp"))?;
    let window_ms = params.u64("recvWindow")?.unwrap_or(RECV_WINDOW_MS_DEFAULT);
    if window_ms == 0 || window_ms > RECV_WINDOW_MS_MAX {
        return Err(ApiError::bad_recv_window());
    }
    if timestamp > now_ms.saturating_add(AHEAD_MS_MAX) {
        return Err(ApiError::future_timestamp());
    }
    if now_ms.saturating_sub(timestamp) > window_ms {
        return Err(ApiError::stale_timestamp());
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_hex(&"ab".repeat(32)).unwrap()
    }

    fn entry(key: &str, account: AccountId, credential: KeyCredential) -> ApiKey {
        let permissions = outlast_engine::KeyPermissions::default();
        let spec =
            outlast_engine::ApiKeySpec { key: key.into(), account, credential, permissions, ip_allowlist: vec![] };
        ApiKey { spec, revoked: false }
    }

    fn hmac_hex(secret: &str, payload: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(payload);
        hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn an_hmac_signature_verifies_only_over_the_exact_bytes_with_its_own_sealed_secret() {
        let ring = keyring();
        let key = "AliceKey0123456789abcdef";
        let (secret, credential) = ring.new_hmac_secret(key, 1).unwrap();
        assert_eq!(secret.len(), 64);
        let KeyCredential::Hmac { sealed_secret } = &credential else { panic!("an HMAC credential") };
        assert!(!sealed_secret.windows(secret.len()).any(|w| w == secret.as_bytes()), "sealed, not in clear");
        let alice = entry(key, 1, credential.clone());
        let payload = b"symbol=BTCUSDT&timestamp=1";
        let signature = hmac_hex(&secret, payload);
        assert!(ring.verify(&alice, payload, &signature));
        assert!(ring.verify(&alice, payload, &signature.to_uppercase()));
        assert!(!ring.verify(&alice, b"symbol=BTCUSDT&timestamp=2", &signature));
        assert!(!ring.verify(&alice, payload, "zz"));
        // The sealed secret is bound to its key name and account, and to this node's KEK.
        assert!(!ring.verify(&entry("BobKey0123456789abcdefgh", 1, credential.clone()), payload, &signature));
        assert!(!ring.verify(&entry(key, 2, credential), payload, &signature));
        assert!(!Keyring::from_hex(&"cd".repeat(32)).unwrap().verify(&alice, payload, &signature));
        // Two keys never share a secret.
        assert_ne!(ring.new_hmac_secret(key, 1).unwrap().0, secret);
    }

    #[test]
    fn an_ed25519_signature_verifies_under_the_registered_public_key_only() {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let random = SystemRandom::new();
        let pair = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&random).unwrap().as_ref()).unwrap();
        let public_key: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&public_key);
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", b64(&spki));
        for text in [pem.as_str(), &b64(&spki), &b64(&public_key)] {
            assert_eq!(parse_ed25519_public_key(text), Some(public_key), "{text}");
        }
        assert_eq!(parse_ed25519_public_key(&b64(&[0; 31])), None);
        assert_eq!(parse_ed25519_public_key("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----"), None);
        let alice = entry("AliceKey0123456789abcdef", 1, KeyCredential::Ed25519 { public_key });
        let payload = b"symbol=BTCUSDT&timestamp=1";
        let signature = b64(pair.sign(payload).as_ref());
        let ring = keyring();
        assert!(ring.verify(&alice, payload, &signature));
        assert!(!ring.verify(&alice, b"symbol=BTCUSDT&timestamp=2", &signature));
        assert!(!ring.verify(&alice, payload, "not base64!"));
        let other = entry("AliceKey0123456789abcdef", 1, KeyCredential::Ed25519 { public_key: [9; 32] });
        assert!(!ring.verify(&other, payload, &signature));
    }

    #[test]
    fn permissions_and_the_allowlist_gate_each_function() {
        use crate::function::Function;
        let mut key = entry("AliceKey0123456789abcdef", 1, KeyCredential::Ed25519 { public_key: [1; 32] });
        let home: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(permits(&key, home, Some(Function::OrderPlacement)));
        assert!(permits(&key, home, Some(Function::AccountReads)));
        assert!(!permits(&key, home, Some(Function::WithdrawalRequests)), "withdrawals are off by default");
        key.spec.permissions = outlast_engine::KeyPermissions { trade: false, withdraw: true };
        assert!(!permits(&key, home, Some(Function::Cancels)));
        assert!(permits(&key, home, Some(Function::WithdrawalRequests)));
        key.spec.ip_allowlist = vec![outlast_engine::IpNet { addr: "192.0.2.0".parse().unwrap(), prefix_len: 24 }];
        assert!(permits(&key, home, None));
        assert!(!permits(&key, "198.51.100.1".parse().unwrap(), None));
    }

    #[test]
    fn a_keyring_never_prints_its_key() {
        assert_eq!(format!("{:?}", keyring()), "Keyring(..)");
    }

    #[test]
    fn the_receive_window_is_enforced() {
        let params = |q: &str| Params::parse(q.as_bytes(), b"").unwrap();
        assert_eq!(check_time(&params("timestamp=10000"), 12_000), Ok(10_000));
        assert_eq!(check_time(&params("timestamp=1000"), 12_000).unwrap_err().code, -1021);
        assert_eq!(check_time(&params("timestamp=13001"), 12_000).unwrap_err().code, -1021);
        assert_eq!(check_time(&params("timestamp=1000&recvWindow=60000"), 12_000), Ok(1_000));
        assert_eq!(check_time(&params("timestamp=1000&recvWindow=60001"), 12_000).unwrap_err().code, -1131);
        assert_eq!(check_time(&params(""), 12_000).unwrap_err().code, -1102);
        assert!(OperatorToken::new("x".repeat(32).as_str())
            .unwrap()
            .accepts(Some(format!("Bearer {}", "x".repeat(32)).as_bytes())));
        assert!(!OperatorToken::new("x".repeat(32).as_str()).unwrap().accepts(Some(b"Bearer y")));
    }
}
