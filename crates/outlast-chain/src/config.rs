//! How a node follows one chain: its upstreams, the confirmations that make a block final
//! enough to credit, where deposit addresses come from, the hot wallet's key, and which of the
//! exchange's assets live on it (native, or an ERC-20 token).
//!
//! Must never: hold a secret in the configuration itself (the hot wallet's key is a file the
//! node reads, with a seam for a KMS or HSM), or accept settings that would credit on one
//! upstream's word (`agreement_min` is at least 2 when there are two upstreams or more).

use std::path::PathBuf;

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::pool::{PoolConfig, UpstreamConfig};

/// Most confirmations asked for.
pub const CONFIRMATIONS_MAX: u64 = 1_000;

/// One chain, as a node follows it (`[[chain]]` in a node's configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Its name in the log, paths and logs (`ethereum`, `devnet`): lower-case letters, digits, `-`.
    pub name: String,
    /// Its chain id (EIP-155): every transaction is signed for it, and every upstream must say it.
    pub chain_id: u64,
    /// Blocks on top of a deposit's before it is credited, the deposit's own included (so 1
    /// credits at the head): also what a withdrawal's transaction needs before it is final.
    pub confirmations: u64,
    /// The extended public key (`xpub…`) deposit addresses derive from: account `n` gets child `n`.
    pub deposit_xpub: String,
    /// The hot wallet's private key (hex), a file only this node's user may read.
    pub hot_wallet_key_file: PathBuf,
    /// How often the watcher and the payer look at the chain, in ms (default 1,000).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// A payment not mined after this long is sent again with higher fees (same nonce), in ms
    /// (default 60,000).
    #[serde(default = "default_bump_after_ms")]
    pub bump_after_ms: u64,
    /// The most a payment may offer per gas, in gwei (default 1,000): past it custody waits
    /// rather than sign. One upstream's fee reading is not agreed (fees differ between honest
    /// nodes), so this ceiling is what stops a lying or broken one from draining the hot wallet's
    /// gas.
    #[serde(default = "default_fee_per_gas_max_gwei")]
    pub fee_per_gas_max_gwei: u64,
    /// Upstreams that must agree on a block, its deposits and a payment's receipt (default 2, or
    /// 1 with one upstream).
    #[serde(default)]
    pub agreement_min: Option<usize>,
    /// The upstreams, each labelled with its provider.
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamConfig>,
    /// The exchange's assets on this chain.
    #[serde(rename = "asset")]
    pub assets: Vec<ChainAssetConfig>,
}

/// One of the exchange's assets on a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainAssetConfig {
    /// The exchange's symbol for it (`USDT`).
    pub symbol: String,
    /// Its ERC-20 contract; none for the chain's native asset.
    #[serde(default)]
    pub token: Option<Address>,
    /// Its decimals on chain (18 for ether; the token's `decimals()`): at least the exchange's,
    /// which are the minor units of the ledger. An amount on chain is credited rounded down to
    /// the ledger's unit.
    pub decimals: u8,
}

fn default_poll_ms() -> u64 {
    1_000
}

fn default_bump_after_ms() -> u64 {
    60_000
}

fn default_fee_per_gas_max_gwei() -> u64 {
    1_000
}

impl ChainConfig {
    /// Checks what can be checked without the network or the ledger.
    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        let valid_name = !name.is_empty()
            && name.len() <= 32
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            return Err(format!("chain {name:?}: a name is 1 to 32 lower-case letters, digits or '-'"));
        }
        if self.confirmations == 0 || self.confirmations > CONFIRMATIONS_MAX {
            return Err(format!("chain {name}: confirmations must be 1 to {CONFIRMATIONS_MAX}"));
        }
        if self.poll_ms == 0 || self.bump_after_ms < self.poll_ms {
            return Err(format!("chain {name}: poll_ms must be > 0 and bump_after_ms >= poll_ms"));
        }
        if self.fee_per_gas_max_gwei == 0 {
            return Err(format!("chain {name}: fee_per_gas_max_gwei must be > 0 (nothing could be paid)"));
        }
        crate::hd::DepositKeys::parse(&self.deposit_xpub).map_err(|e| format!("chain {name}: deposit_xpub: {e}"))?;
        if self.assets.is_empty() {
            return Err(format!("chain {name}: no [[chain.asset]]"));
        }
        let natives = self.assets.iter().filter(|a| a.token.is_none()).count();
        let mut symbols: Vec<&str> = self.assets.iter().map(|a| a.symbol.as_str()).collect();
        symbols.sort_unstable();
        if natives > 1 || symbols.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(format!("chain {name}: one native asset at most, and each symbol once"));
        }
        // One token for two assets would credit each of its deposits to both.
        let mut tokens: Vec<Address> = self.assets.iter().filter_map(|a| a.token).collect();
        tokens.sort_unstable();
        if tokens.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(format!("chain {name}: each token once"));
        }
        if let Some(asset) = self.assets.iter().find(|a| a.decimals > 36) {
            return Err(format!("chain {name}: {} has {} decimals", asset.symbol, asset.decimals));
        }
        let pool = self.pool();
        pool.validate()?;
        if pool.upstreams.len() >= 2 && pool.agreement_min < 2 {
            return Err(format!("chain {name}: agreement_min 1 would credit on one upstream's word"));
        }
        Ok(())
    }

    /// The pool settings for its upstreams.
    pub fn pool(&self) -> PoolConfig {
        let mut pool = PoolConfig::new(&self.name, self.chain_id, self.upstreams.clone());
        pool.agreement_min = self.agreement_min.unwrap_or(self.upstreams.len().min(2));
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ChainConfig {
        ChainConfig {
            name: "devnet".into(),
            chain_id: 31337,
            confirmations: 3,
            deposit_xpub: crate::devnet::DEV_XPUB.into(),
            hot_wallet_key_file: "/dev/null".into(),
            poll_ms: 1_000,
            bump_after_ms: 60_000,
            fee_per_gas_max_gwei: 1_000,
            agreement_min: None,
            upstreams: ["a", "b"]
                .iter()
                .map(|l| UpstreamConfig { label: l.to_string(), url: format!("http://{l}") })
                .collect(),
            assets: vec![ChainAssetConfig { symbol: "ETH".into(), token: None, decimals: 18 }],
        }
    }

    #[test]
    fn settings_that_could_lose_money_are_refused() {
        assert_eq!(config().validate(), Ok(()));
        assert_eq!(config().pool().agreement_min, 2);
        let one_word = ChainConfig { agreement_min: Some(1), ..config() };
        assert!(one_word.validate().unwrap_err().contains("one upstream's word"));
        let instant = ChainConfig { confirmations: 0, ..config() };
        assert!(instant.validate().is_err());
        let unpayable = ChainConfig { fee_per_gas_max_gwei: 0, ..config() };
        assert!(unpayable.validate().unwrap_err().contains("fee_per_gas_max_gwei"));
        let private = ChainConfig { deposit_xpub: "xprv9s21ZrQH143K".into(), ..config() };
        assert!(private.validate().unwrap_err().contains("extended private key"));
        let mut twice = config();
        twice.assets.push(ChainAssetConfig { symbol: "ETH2".into(), token: None, decimals: 18 });
        assert!(twice.validate().is_err(), "two native assets");
        let token = Some(Address::repeat_byte(1));
        let mut shared = config();
        shared.assets.push(ChainAssetConfig { symbol: "USDT".into(), token, decimals: 6 });
        shared.assets.push(ChainAssetConfig { symbol: "USDC".into(), token, decimals: 6 });
        assert!(shared.validate().unwrap_err().contains("each token once"));
    }
}
