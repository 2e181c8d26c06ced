//! Request parameters: the raw query string and form body, decoded strictly.
//!
//! Binance signs the exact bytes a client sent, so parameters are kept as raw text alongside
//! their decoded values, never re-encoded. Decoding refuses what Binance refuses: a name sent
//! twice, bytes that are not UTF-8 after percent-decoding, too many parameters, too many bytes.
//! A parameter the endpoint does not read is an error too (-1104), so a typo in an optional
//! name (`timeInForse`) cannot silently change what an order does. Reads are recorded here; the
//! front door checks them once per request (`all_read`), after the handler decoded and before it
//! acts, so no handler calls the check itself.

use std::collections::BTreeMap;

use crate::error::ApiError;

/// Longest query string accepted, in bytes.
pub const QUERY_BYTES_MAX: usize = 8 * 1024;
/// Longest request body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 16 * 1024;
/// Most parameters in one request.
pub const PARAMS_MAX: usize = 64;

/// The decoded parameters of one request, and which of them were read.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    read: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one component (`+` is a space, as in forms).
fn decode(raw: &[u8], name_for_errors: &str) -> Result<String, ApiError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let high = raw.get(i + 1).copied().and_then(hex_value);
                let low = raw.get(i + 2).copied().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => out.push(high << 4 | low),
                    _ => return Err(ApiError::illegal_chars(name_for_errors)),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).map_err(|_| ApiError::illegal_chars(name_for_errors))?;
    if text.chars().any(char::is_control) {
        return Err(ApiError::illegal_chars(name_for_errors));
    }
    Ok(text)
}

impl Params {
    /// Decodes a query string and a form body together (Binance reads both).
    pub fn parse(query: &[u8], body: &[u8]) -> Result<Params, ApiError> {
        if query.len() > QUERY_BYTES_MAX {
            return Err(ApiError::too_large("query string", QUERY_BYTES_MAX));
        }
        if body.len() > BODY_BYTES_MAX {
            return Err(ApiError::too_large("request body", BODY_BYTES_MAX));
        }
        let mut values = BTreeMap::new();
        for part in query.split(|&b| b == b'&').chain(body.split(|&b| b == b'&')) {
            if part.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = match part.iter().position(|&b| b == b'=') {
                Some(at) => (&part[..at], &part[at + 1..]),
                None => (part, &part[part.len()..]),
            };
            let name = decode(raw_name, "name")?;
            let value = decode(raw_value, &name)?;
            if values.len() == PARAMS_MAX {
                return Err(ApiError::too_large("parameter list", PARAMS_MAX));
            }
            if values.insert(name.clone(), value).is_some() {
                return Err(ApiError::duplicate_param(&name));
            }
        }
        Ok(Params { values, read: Default::default() })
    }

    /// An optional parameter; empty counts as absent only where the caller says so.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.read.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string());
        self.values.get(name).map(String::as_str)
    }

    /// A parameter's value without marking it read (for weights and routing).
    pub fn peek(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A mandatory, non-empty parameter.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::mandatory(name)),
        }
    }

    /// An optional unsigned integer (decimal digits only, fits in 64 bits).
    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(text) if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().map(Some).map_err(|_| ApiError::mandatory(name))
            }
            Some(_) => Err(ApiError::mandatory(name)),
        }
    }

    /// Fails with -1104 if a parameter was sent that nothing read. The front door's check,
    /// made once per request between a handler's decoding and its action.
    pub fn all_read(&self) -> Result<(), ApiError> {
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let unread: Vec<String> = self.values.keys().filter(|k| !read.contains(*k)).cloned().collect();
        if unread.is_empty() {
            Ok(())
        } else {
            Err(ApiError::unread_params(&unread))
        }
    }
}

/// The signed payload and the signature: Binance's `totalParams` (the query string followed by
/// the body, as sent) without the `signature` parameter, and that parameter's raw value.
/// `None` if there is no signature or more than one.
pub fn split_signature<'a>(query: &'a [u8], body: &'a [u8]) -> Option<(Vec<u8>, &'a [u8])> {
    let mut signature = None;
    let mut payload = Vec::with_capacity(query.len() + body.len());
    for source in [query, body] {
        let mut first = true;
        for part in source.split(|&b| b == b'&') {
            if let Some(value) = part.strip_prefix(b"signature=") {
                if signature.replace(value).is_some() {
                    return None;
                }
                continue;
            }
            if !first {
                payload.push(b'&');
            }
            payload.extend_from_slice(part);
            first = false;
        }
    }
    signature.map(|s| (payload, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Executions of the decoder fuzz per run (see the closing line of the test).
    const FUZZ_CASES: u32 = 20_000;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(FUZZ_CASES))]

        /// Arbitrary bytes, and text made of the characters that matter to the decoder, as
        /// query and body: decoding either succeeds or is a Binance error, never a panic.
        #[test]
        fn decoding_arbitrary_input_never_panics(
            query in proptest::collection::vec(any::<u8>(), 0..400),
            body in "[a-z=&%+0-9A-F\\x{80}-\\x{10FFFF}]{0,200}",
        ) {
            for (q, b) in [(&query[..], body.as_bytes()), (body.as_bytes(), &query[..])] {
                match Params::parse(q, b) {
                    Ok(params) => {
                        let _ = params.u64("timestamp");
                        let _ = params.all_read();
                    }
                    Err(error) => prop_assert!(error.code < 0),
                }
                let _ = split_signature(q, b);
            }
        }
    }

    #[test]
    fn the_signed_payload_is_the_raw_text_without_the_signature() {
        let (payload, signature) = split_signature(b"symbol=BTCUSDT&timestamp=1&signature=ab", b"").unwrap();
        assert_eq!((payload.as_slice(), signature), (&b"symbol=BTCUSDT&timestamp=1"[..], &b"ab"[..]));
        let (payload, _) = split_signature(b"a=1", b"b=%20x&signature=cd").unwrap();
        assert_eq!(payload, b"a=1b=%20x");
        assert!(split_signature(b"signature=a&signature=b", b"").is_none());
        assert!(split_signature(b"a=1", b"").is_none());
    }

    #[test]
    fn decoding_refuses_duplicates_bad_escapes_and_bad_utf8() {
        assert_eq!(Params::parse(b"a=1&a=2", b"").unwrap_err().code, -1101);
        assert_eq!(Params::parse(b"a=1", b"a=2").unwrap_err().code, -1101);
        assert_eq!(Params::parse(b"a=%zz", b"").unwrap_err().code, -1100);
        assert_eq!(Params::parse(b"a=%ff%fe", b"").unwrap_err().code, -1100);
        assert_eq!(Params::parse(b"a=%0a", b"").unwrap_err().code, -1100);
        let params = Params::parse(b"a=x%2By+z", b"").unwrap();
        assert_eq!(params.get("a"), Some("x+y z"));
        let params = Params::parse(b"a=1&b=2", b"").unwrap();
        params.get("a");
        assert_eq!(params.all_read().unwrap_err().code, -1104);
        assert_eq!(Params::parse(&vec![b'a'; QUERY_BYTES_MAX + 1], b"").unwrap_err().code, -1106);
    }
}
