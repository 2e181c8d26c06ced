//! Which JSON-RPC methods the pool serves and how, and which node errors are the request's fault
//! (the same on every upstream) rather than the upstream's.
//!
//! An allowlist: a method not named here is refused, so that a public `/rpc/<chain>` never
//! forwards a node's administration (`anvil_*`, `admin_*`, `debug_*`) or its wallet
//! (`eth_sendTransaction`, `eth_sign`). Must never: classify a write as a read (a read is
//! retried and hedged, so it may reach several upstreams).

/// How a method is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Answered from the pool's configuration (`eth_chainId`, `net_version`): the hottest calls
    /// of stock clients, and the one answer an upstream must never change.
    Static,
    /// A read: any upstream may answer; retried elsewhere and hedged.
    Read,
    /// `eth_sendRawTransaction`: sent to several upstreams at once.
    Broadcast,
    /// A filter (`eth_newFilter` …): kept by the pool, not by an upstream, so it survives one.
    Filter,
}

/// The methods served, and how.
pub fn kind(method: &str) -> Option<Kind> {
    Some(match method {
        "eth_chainId" | "net_version" | "net_listening" => Kind::Static,
        "eth_sendRawTransaction" => Kind::Broadcast,
        "eth_newFilter"
        | "eth_newBlockFilter"
        | "eth_getFilterChanges"
        | "eth_getFilterLogs"
        | "eth_uninstallFilter" => Kind::Filter,
        "eth_blockNumber"
        | "eth_getBalance"
        | "eth_getCode"
        | "eth_getStorageAt"
        | "eth_getTransactionCount"
        | "eth_call"
        | "eth_estimateGas"
        | "eth_createAccessList"
        | "eth_gasPrice"
        | "eth_maxPriorityFeePerGas"
        | "eth_blobBaseFee"
        | "eth_feeHistory"
        | "eth_getBlockByNumber"
        | "eth_getBlockByHash"
        | "eth_getBlockReceipts"
        | "eth_getBlockTransactionCountByNumber"
        | "eth_getBlockTransactionCountByHash"
        | "eth_getTransactionByHash"
        | "eth_getTransactionByBlockNumberAndIndex"
        | "eth_getTransactionByBlockHashAndIndex"
        | "eth_getTransactionReceipt"
        | "eth_getLogs"
        | "eth_getProof"
        | "eth_syncing"
        | "web3_clientVersion" => Kind::Read,
        _ => return None,
    })
}

/// Whether a node's error is about the request itself, so another upstream would answer the
/// same: a revert (code 3, or a message saying so), invalid parameters, an invalid request.
/// Anything else (rate limits, internal errors, "header not found" on a node behind) is tried
/// elsewhere.
pub fn is_final(code: i64, message: &str) -> bool {
    code == 3 || code == -32602 || code == -32600 || message.contains("revert")
}

/// Whether a broadcast's error says the node already has this very transaction.
pub fn already_known(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["already known", "known transaction", "already imported", "already exists", "already in mempool"]
        .iter()
        .any(|phrase| message.contains(phrase))
}

/// Whether a broadcast's error says the nonce is used: by this transaction (mined) or by
/// another; only a receipt tells which.
pub fn nonce_used(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("nonce too low") || message.contains("nonce has already been used")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administration_and_wallet_methods_are_not_served() {
        for method in [
            "anvil_reorg",
            "anvil_setBalance",
            "eth_sendTransaction",
            "eth_sign",
            "debug_traceCall",
            "admin_peers",
            "evm_mine",
            "",
        ] {
            assert_eq!(kind(method), None, "{method}");
        }
        assert_eq!(kind("eth_call"), Some(Kind::Read));
        assert_eq!(kind("eth_sendRawTransaction"), Some(Kind::Broadcast));
    }

    #[test]
    fn the_request_s_own_errors_are_final() {
        assert!(is_final(3, "execution reverted: nope"));
        assert!(is_final(-32000, "execution reverted"));
        assert!(is_final(-32602, "invalid params"));
        assert!(!is_final(-32005, "limit exceeded"));
        assert!(!is_final(-32000, "header not found"));
        assert!(already_known("transaction already imported"));
        assert!(already_known("ALREADY_EXISTS: already known"));
        assert!(nonce_used("nonce too low"));
        assert!(!already_known("nonce too low"));
    }
}
