//! A payment as the exact bytes a chain will see: an EIP-1559 transaction built from what the
//! exchange decided (to whom, how much, which nonce, what fees), signed offline, and its hash.
//!
//! The signature is deterministic (RFC 6979), so the same transaction signs to the same bytes
//! and the same hash: the hash is known before anything is broadcast, and the bytes can be
//! committed to the log first and re-sent after any failover. Must never: reach the network
//! (signing is offline), or sign for another chain than the one named.

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;

use crate::erc20::IERC20;

/// Gas for a plain transfer of the native asset.
pub const NATIVE_TRANSFER_GAS: u64 = 21_000;

/// What a transaction pays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payment {
    /// The chain's own asset, in wei.
    Native {
        /// The recipient.
        to: Address,
        /// How much, in wei.
        wei: U256,
    },
    /// An ERC-20 token's `transfer`, in the token's smallest unit.
    Erc20 {
        /// The token contract.
        token: Address,
        /// The recipient.
        to: Address,
        /// How much, in the token's smallest unit.
        amount: U256,
    },
}

/// A transaction before signing: everything that goes into its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsigned {
    /// The chain it is valid on (EIP-155).
    pub chain_id: u64,
    /// The sender's nonce: at most one transaction per nonce is ever mined.
    pub nonce: u64,
    /// The most gas it may use.
    pub gas_limit: u64,
    /// The most it pays per gas, in wei.
    pub max_fee_per_gas: u128,
    /// The most of that which goes to the block's producer, in wei.
    pub max_priority_fee_per_gas: u128,
    /// What it pays.
    pub payment: Payment,
}

/// A signed transaction: the bytes to broadcast and their hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// EIP-2718 encoding, what `eth_sendRawTransaction` takes.
    pub raw: Vec<u8>,
    /// The transaction hash (keccak-256 of `raw`).
    pub hash: B256,
}

impl Unsigned {
    fn to_eip1559(&self) -> TxEip1559 {
        let (to, value, input) = match &self.payment {
            Payment::Native { to, wei } => (*to, *wei, Bytes::new()),
            Payment::Erc20 { token, to, amount } => {
                (*token, U256::ZERO, IERC20::transferCall { to: *to, value: *amount }.abi_encode().into())
            }
        };
        TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input,
        }
    }
}

/// Signs `unsigned` with `key`, offline.
pub fn sign(key: &PrivateKeySigner, unsigned: &Unsigned) -> Result<SignedTx, String> {
    if unsigned.max_priority_fee_per_gas > unsigned.max_fee_per_gas {
        return Err("the priority fee exceeds the maximum fee".into());
    }
    let mut tx = unsigned.to_eip1559();
    let signature = key.sign_transaction_sync(&mut tx).map_err(|e| format!("signing: {e}"))?;
    let signed = tx.into_signed(signature);
    Ok(SignedTx { raw: signed.encoded_2718(), hash: *signed.hash() })
}

/// The fees a signed EIP-1559 transaction offers: (max fee, priority fee) per gas. A fee bump
/// starts from these.
pub fn fees_of(raw: &[u8]) -> Result<(u128, u128), String> {
    use alloy_consensus::transaction::Transaction;
    use alloy_eips::eip2718::Decodable2718;
    let envelope =
        alloy_consensus::TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| format!("not a transaction: {e}"))?;
    Ok((envelope.max_fee_per_gas(), envelope.max_priority_fee_per_gas().unwrap_or(0)))
}

/// A key from its hex text (with or without `0x`).
pub fn key_from_hex(hex: &str) -> Result<PrivateKeySigner, String> {
    hex.trim().parse::<PrivateKeySigner>().map_err(|_| "not a secp256k1 private key in hex".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The devnet's dev account 0 (public knowledge: the development mnemonic's first key).
    const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Golden vectors: what anvil's own `eth_signTransaction` returned for the same fields.
    #[test]
    fn signing_gives_the_bytes_and_hash_a_node_gives() {
        let key = key_from_hex(DEV_KEY).unwrap();
        assert_eq!(key.address(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse::<Address>().unwrap());
        let to: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse().unwrap();
        let base = Unsigned {
            chain_id: 31337,
            nonce: 0,
            gas_limit: NATIVE_TRANSFER_GAS,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            payment: Payment::Native { to, wei: U256::from(1_000_000_000_000_000_000u64) },
        };
        let native = sign(&key, &base).unwrap();
        assert_eq!(format!("{:x}", native.hash), "7d4c13ed95c0cee830d7457ec5a5976db1fc301cfa7a23fef0039a7ccf6aea87");
        assert_eq!(
            hex(&native.raw),
            "02f874827a6980843b9aca0084773594008252089470997970c51812dc3a010c7d01b50e0d17dc79c8880de0b6b3a764000080c080a074128fd7d42631897474d93692787a2e56b813754468caaca4993c641c986a37a06d5a3b027177cc2841199b70400fece0a29ac5eabee2fa9cbf9b6aa213716c48"
        );
        assert_eq!(sign(&key, &base).unwrap(), native, "the same transaction signs to the same bytes");
        assert_eq!(fees_of(&native.raw), Ok((2_000_000_000, 1_000_000_000)));
        assert!(fees_of(&native.raw[1..]).is_err());

        let token: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap();
        let erc20 = Unsigned {
            nonce: 1,
            gas_limit: 60_000,
            payment: Payment::Erc20 { token, to, amount: U256::from(1234) },
            ..base.clone()
        };
        let signed = sign(&key, &erc20).unwrap();
        assert_eq!(format!("{:x}", signed.hash), "090fa215112dac377bf82a7dbd2cc006c704fd80f315adbefd9deb405b832727");
        // Another nonce is another transaction.
        assert_ne!(sign(&key, &Unsigned { nonce: 2, ..erc20 }).unwrap().hash, signed.hash);
        let bad_fees = Unsigned { max_priority_fee_per_gas: 3_000_000_000, ..base };
        assert!(sign(&key, &bad_fees).is_err());
    }
}
