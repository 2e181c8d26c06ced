//! Amounts between the ledger (an asset's minor units, `u64`) and the chain (the token's
//! smallest unit, `U256`): the chain has at least as many decimals as the ledger, so a ledger
//! amount is exact on chain and a chain amount is credited rounded down.
//!
//! Must never: round a payment up, or let an amount overflow silently.

use outlast_chain::U256;

/// The factor from ledger units to chain units, if the chain has at least the ledger's decimals.
pub fn scale(chain_decimals: u8, ledger_decimals: u8) -> Option<U256> {
    let extra = chain_decimals.checked_sub(ledger_decimals)?;
    U256::from(10u64).checked_pow(U256::from(extra))
}

/// A ledger amount on chain.
pub fn to_chain(amount: u64, scale: U256) -> Option<U256> {
    U256::from(amount).checked_mul(scale)
}

/// A chain amount in the ledger, rounded down; `None` if it does not fit.
pub fn to_ledger(amount: U256, scale: U256) -> Option<u64> {
    u64::try_from(amount / scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_out_rounded_down_in() {
        let wei_per_unit = scale(18, 8).unwrap();
        assert_eq!(wei_per_unit, U256::from(10_000_000_000u64));
        assert_eq!(to_chain(3, wei_per_unit), Some(U256::from(30_000_000_000u64)));
        assert_eq!(to_ledger(U256::from(39_999_999_999u64), wei_per_unit), Some(3));
        assert_eq!(scale(6, 8), None, "a chain with fewer decimals than the ledger");
        assert_eq!(to_ledger(U256::MAX, U256::from(1)), None);
    }
}
