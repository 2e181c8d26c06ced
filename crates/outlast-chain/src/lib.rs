//! EVM chains: a transaction signed offline into the exact bytes that will be broadcast (`tx`),
//! the ERC-20 interface (`erc20`), deposit addresses derived from an extended public key
//! (`hd`), JSON-RPC to one node (`rpc`), several providers' nodes behind one call with
//! failover, hedging, breakers and agreement (`pool`, over `health`, `breaker` and `methods`),
//! the JSON-RPC we serve to dapps from it (`serve`, with our own `filters`, and `heads`, the
//! canonical blocks followed for subscriptions),
//! how a node follows a chain (`config`), the hot wallet's signing seam (`signer`), and for
//! tests and the lab a devnet of anvil's (`devnet`) and a proxy that makes a provider fail on
//! command (`proxy`).
//!
//! Signing, RLP, ABI and curve arithmetic are alloy's and the RustCrypto `bip32`'s; nothing of
//! that is written here. Must never: hold a deposit private key (addresses come from the public
//! key alone), or produce different bytes for the same withdrawal and nonce (signing is
//! deterministic, RFC 6979, so a retry re-sends the same transaction).

pub mod breaker;
pub mod config;
pub mod devnet;
pub mod erc20;
pub mod filters;
pub mod hd;
pub mod heads;
pub mod health;
pub mod methods;
pub mod pool;
pub mod proxy;
pub mod rpc;
pub mod serve;
pub mod signer;
pub mod tx;

pub use alloy_primitives::{self, Address, Bytes, B256, U256};
