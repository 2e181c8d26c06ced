//! Integer money arithmetic: fees and market unit conversions.
//!
//! Every function here either returns an exact integer or `None` on overflow; nothing wraps,
//! rounds silently (fees round down, documented below) or panics on user input.

/// Parts per million: the unit of fee rates.
pub const PPM: u64 = 1_000_000;

/// The fee on `amount` at `rate_ppm`, rounded down (the payer keeps the fraction).
///
/// Splitting `amount` into whole millions and a remainder keeps every product inside 64 bits
/// for any `rate_ppm <= PPM`, so this cannot overflow.
pub fn fee(amount: u64, rate_ppm: u32) -> u64 {
    let rate = u64::from(rate_ppm);
    debug_assert!(rate <= PPM, "fee rates above 100 % are rejected when a market is created");
    let whole = (amount / PPM) * rate;
    let part = (amount % PPM) * rate / PPM;
    let total = whole + part;
    assert!(total <= amount, "a fee never exceeds the amount it is taken from");
    total
}

/// `10^exponent`, or `None` if it does not fit in 64 bits.
pub fn pow10(exponent: u8) -> Option<u64> {
    10u64.checked_pow(u32::from(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rounds_down_and_never_overflows() {
        assert_eq!(fee(1_000_000, 1_000), 1_000);
        assert_eq!(fee(999, 1_000), 0);
        assert_eq!(fee(1_999, 1_000), 1);
        assert_eq!(fee(u64::MAX, 1_000_000), u64::MAX);
        assert_eq!(fee(u64::MAX, 100_000), u64::MAX / 10);
    }
}
