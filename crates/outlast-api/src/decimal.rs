//! Decimal text ⇄ integer minor units.
//!
//! The API speaks decimal strings (`"0.00150000"`), the engine integers in minor units. Parsing
//! is exact: no floats, no rounding. Digits beyond the asset's decimals are accepted only when
//! they are zeros (clients pad to 8 places), anything else is a precision error, and a value
//! beyond 64 bits is refused rather than wrapped.

/// Why a decimal did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalError {
    /// Not a plain non-negative decimal number.
    Malformed,
    /// Non-zero digits beyond the allowed decimals.
    Precision,
    /// Does not fit in 64 bits of minor units.
    Overflow,
}

/// Longest decimal text accepted (20 integer digits, a point, 30 fraction digits, with room).
const TEXT_LEN_MAX: usize = 64;

/// Parses `text` as an amount with `decimals` decimals, in minor units.
pub fn parse(text: &str, decimals: u8) -> Result<u64, DecimalError> {
    if text.is_empty() || text.len() > TEXT_LEN_MAX {
        return Err(DecimalError::Malformed);
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
        return Err(DecimalError::Malformed);
    }
    let decimals = usize::from(decimals);
    let (kept, dropped) = fraction.split_at(fraction.len().min(decimals));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(DecimalError::Precision);
    }
    let mut value: u64 = 0;
    let padding = decimals - kept.len();
    for byte in whole.bytes().chain(kept.bytes()).chain(std::iter::repeat_n(b'0', padding)) {
        value =
            value.checked_mul(10).and_then(|v| v.checked_add(u64::from(byte - b'0'))).ok_or(DecimalError::Overflow)?;
    }
    Ok(value)
}

/// Formats minor units as a decimal with exactly `decimals` decimals.
pub fn format(value: u64, decimals: u8) -> String {
    if decimals == 0 {
        return value.to_string();
    }
    let digits = format!("{value:0>width$}", width = usize::from(decimals) + 1);
    let (whole, fraction) = digits.split_at(digits.len() - usize::from(decimals));
    format!("{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(parse("1.5", 8), Ok(150_000_000));
        assert_eq!(parse("0.00150000", 6), Ok(1_500));
        assert_eq!(parse(".5", 1), Ok(5));
        assert_eq!(parse("7.", 2), Ok(700));
        assert_eq!(parse("0.001", 2), Err(DecimalError::Precision));
        assert_eq!(parse("18446744073709551616", 0), Err(DecimalError::Overflow));
        assert_eq!(parse("184467440737.09551616", 8), Err(DecimalError::Overflow));
        for bad in ["", ".", "-1", "+1", "1e5", "1.2.3", " 1", "0x10", "１"] {
            assert_eq!(parse(bad, 8), Err(DecimalError::Malformed), "{bad:?}");
        }
        assert_eq!(format(150_000_000, 8), "1.50000000");
        assert_eq!(format(5, 2), "0.05");
        assert_eq!(format(12, 0), "12");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(value: u64, decimals in 0u8..=18) {
            prop_assert_eq!(parse(&format(value, decimals), decimals), Ok(value));
        }

        #[test]
        fn parse_never_panics(text in ".{0,70}", decimals in 0u8..=18) {
            let _ = parse(&text, decimals);
        }
    }
}
