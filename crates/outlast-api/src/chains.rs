//! The chains this node follows, as the API shows them: for each, the ledger's progress on it
//! (replicated: the same on every node), the health of each provider's upstream as this node
//! sees it, and what custody last did here.
//!
//! Must never: show a secret (the hot wallet's key file path is configuration, not shown).

use serde_json::{json, Value};

use crate::api::Shared;

/// Every followed chain's view.
pub(crate) fn view(api: &Shared) -> Value {
    let Some(chains) = api.chains.get() else { return json!([]) };
    let engine = api.reader.read();
    let views: Vec<Value> = chains
        .iter()
        .map(|chain| {
            let name = &chain.config.name;
            let state = engine.chain(name);
            let custody = chain.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
            json!({
                "name": name,
                "chainId": chain.config.chain_id,
                "confirmations": chain.config.confirmations,
                "checkpointBlock": state.map(|s| s.checkpoint_block),
                "nextNonce": state.map(|s| s.next_nonce),
                "tip": chain.pool.tip(),
                "agreedTip": chain.pool.agreed_tip(),
                "custody": custody,
                "upstreams": chain.pool.status(),
            })
        })
        .collect();
    Value::Array(views)
}
