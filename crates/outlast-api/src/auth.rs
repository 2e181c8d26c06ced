//! Credentials: API-key secrets, request signatures, the receive window, listen keys, and the
//! operator token.
//!
//! A key's secret is derived, not stored: `secret = hex(HMAC-SHA256(master, "outlast-api-key:"
//! ‖ key))`, where `master` is a secret every node holds in a file and nothing else sees. So the
//! replicated log and snapshots carry only key names (see the engine's `api_keys`), any node can
//! check any signature, and a revoked key stops working at one log index everywhere. The secret
//! itself is shown once, when the operator creates the key. Nothing here logs a secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;
use crate::params::Params;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of entropy the master secret must have at least.
pub const MASTER_BYTES_MIN: usize = 32;
/// Binance's default receive window, in ms.
pub const RECV_WINDOW_MS_DEFAULT: u64 = 5_000;
/// Binance's largest receive window, in ms.
pub const RECV_WINDOW_MS_MAX: u64 = 60_000;
/// How far a request's timestamp may be ahead of this node's clock, in ms (Binance: 1,000).
pub const AHEAD_MS_MAX: u64 = 1_000;
/// Hex digits of a listen key's tag.
const LISTEN_TAG_HEX_LEN: usize = 32;

/// The node's signing material. `Debug` never prints it.
#[derive(Clone)]
pub struct Keyring {
    master: Vec<u8>,
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
    use std::io::Read;
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
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

/// A new master secret as hex text (what `outlast up` writes to the secret file).
pub fn new_master_hex() -> std::io::Result<String> {
    Ok(hex(&random_bytes::<32>()?))
}

impl Keyring {
    /// Reads the master secret: hex text of at least 32 bytes.
    pub fn load(path: &std::path::Path) -> Result<Keyring, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Keyring::from_hex(text.trim()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A keyring from hex text.
    pub fn from_hex(text: &str) -> Result<Keyring, String> {
        let master = unhex(text.as_bytes()).ok_or("the API master secret must be hex")?;
        if master.len() < MASTER_BYTES_MIN {
            return Err(format!("the API master secret must be at least {MASTER_BYTES_MIN} bytes"));
        }
        Ok(Keyring { master })
    }

    fn mac(&self, label: &str, key: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.master).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The secret of an API key: 64 hex digits, as Binance's secrets look.
    pub fn secret_for(&self, key: &str) -> String {
        hex(&self.mac("outlast-api-key:", key))
    }

    /// Whether `signature_hex` is the HMAC-SHA256 of `payload` under `key`'s secret. The
    /// comparison takes the same time wherever the first wrong byte is.
    pub fn verify(&self, key: &str, payload: &[u8], signature_hex: &[u8]) -> bool {
        let Some(signature) = unhex(signature_hex) else { return false };
        let secret = self.secret_for(key);
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(payload);
        mac.verify_slice(&signature).is_ok()
    }

    /// The listen key of an API key: the key name and a tag only nodes can make, so any node
    /// can resolve it without shared session state.
    pub fn listen_key(&self, key: &str) -> String {
        let tag = hex(&self.mac("outlast-listen-key:", key));
        format!("{key}{}", &tag[..LISTEN_TAG_HEX_LEN])
    }

    /// The API key a listen key belongs to, if its tag is genuine.
    pub fn listen_key_owner<'a>(&self, listen_key: &'a str) -> Option<&'a str> {
        if !listen_key.is_ascii() || listen_key.len() <= LISTEN_TAG_HEX_LEN {
            return None;
        }
        let key = &listen_key[..listen_key.len() - LISTEN_TAG_HEX_LEN];
        let expected = self.listen_key(key);
        let same: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), listen_key.as_bytes()).into();
        same.then_some(key)
    }
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

    /// Whether an `Authorization` header value carries this token, compared in constant time.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else { return false };
        let mine = self.0.as_bytes();
        subtle::ConstantTimeEq::ct_eq(given, mine).into()
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

    #[test]
    fn a_signature_verifies_only_over_the_exact_bytes_with_the_right_key() {
        let ring = keyring();
        let key = "AliceKey0123456789abcdef";
        let secret = ring.secret_for(key);
        let payload = b"symbol=BTCUSDT&timestamp=1";
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(payload);
        let signature = hex(&mac.finalize().into_bytes());
        assert!(ring.verify(key, payload, signature.as_bytes()));
        assert!(ring.verify(key, payload, signature.to_uppercase().as_bytes()));
        assert!(!ring.verify(key, b"symbol=BTCUSDT&timestamp=2", signature.as_bytes()));
        assert!(!ring.verify("BobKey0123456789abcdefgh", payload, signature.as_bytes()));
        assert!(!ring.verify(key, payload, b"zz"));
        assert_ne!(ring.secret_for(key), Keyring::from_hex(&"cd".repeat(32)).unwrap().secret_for(key));
    }

    #[test]
    fn listen_keys_resolve_only_when_genuine() {
        let ring = keyring();
        let key = "AliceKey0123456789abcdef";
        let listen = ring.listen_key(key);
        assert_eq!(ring.listen_key_owner(&listen), Some(key));
        let mut forged = listen.clone().into_bytes();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(ring.listen_key_owner(std::str::from_utf8(&forged).unwrap()), None);
        assert_eq!(ring.listen_key_owner("short"), None);
        assert!(!format!("{ring:?}").contains("ab"));
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
