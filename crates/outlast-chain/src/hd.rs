//! Deposit addresses: account `n`'s address is child `n` (non-hardened) of an extended public
//! key (BIP32), so a node derives every address without holding a private key; whoever keeps
//! the matching extended private key offline can sweep them.
//!
//! Must never: accept an extended private key (a node must not hold one), or derive hardened
//! children (impossible from a public key, and a sign that the wrong key was configured).
//! Security: a non-hardened extended public key together with any one child's private key
//! reveals every sibling's, so the hot wallet's key must not come from this subtree.

use alloy_primitives::Address;
use bip32::{ChildNumber, XPub};

/// Where deposit addresses come from.
#[derive(Clone, Debug)]
pub struct DepositKeys {
    root: XPub,
}

impl DepositKeys {
    /// From an extended public key in its usual text form (`xpub…`); an `xprv…` is refused.
    pub fn parse(xpub: &str) -> Result<DepositKeys, String> {
        if xpub.starts_with("xprv") || xpub.starts_with("tprv") {
            return Err("an extended private key was given: configure its extended public key (xpub…)".into());
        }
        let root = xpub.trim().parse::<XPub>().map_err(|e| format!("not an extended public key: {e}"))?;
        Ok(DepositKeys { root })
    }

    /// A lab's deposit keys from a random `seed` (at least 16 bytes): the master key's
    /// extended public key, in its text form. The private side is not kept (a lab sweeps
    /// nothing).
    pub fn lab_xpub(seed: &[u8]) -> Result<String, String> {
        let master = bip32::XPrv::new(seed).map_err(|e| format!("seed: {e}"))?;
        Ok(master.public_key().to_string(bip32::Prefix::XPUB))
    }

    /// The deposit address of `index` (an account id below 2^31).
    pub fn address(&self, index: u64) -> Result<Address, String> {
        let index = u32::try_from(index).ok().filter(|i| *i < ChildNumber::HARDENED_FLAG).ok_or_else(|| {
            format!("index {index} is past the last non-hardened child ({})", ChildNumber::HARDENED_FLAG - 1)
        })?;
        let number = ChildNumber::new(index, false).map_err(|e| e.to_string())?;
        let child = self.root.derive_child(number).map_err(|e| format!("child {index}: {e}"))?;
        Ok(Address::from_public_key(child.public_key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The development mnemonic's extended public key: its children are the dev accounts.
    use crate::devnet::DEV_XPUB;

    #[test]
    fn children_are_the_dev_accounts_and_bad_keys_are_refused() {
        let keys = DepositKeys::parse(DEV_XPUB).unwrap();
        let expected = [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        ];
        for (index, address) in expected.iter().enumerate() {
            assert_eq!(keys.address(index as u64).unwrap(), address.parse::<Address>().unwrap(), "child {index}");
        }
        assert!(keys.address(1 << 31).is_err());
        assert!(DepositKeys::parse("xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi").is_err());
        assert!(DepositKeys::parse("not a key").is_err());
    }
}
