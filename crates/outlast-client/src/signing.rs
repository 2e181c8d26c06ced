//! Binance request signing: hex HMAC-SHA256 of the exact parameter text.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature of `payload` under `secret`, as lower-case hex.
pub fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}
