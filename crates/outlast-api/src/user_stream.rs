//! Listen keys for the user data stream.
//!
//! A listen key is derived from the API key (see `auth::Keyring::listen_key`), so every node
//! recognises it and a client that fails over to another node keeps its key. It lives as long
//! as its API key: keep-alive is accepted and does nothing, closing ends this node's streams
//! for it. A key of another account is refused exactly like an unknown one.

use serde_json::json;

use crate::api::Shared;
use crate::error::ApiError;
use crate::params::Params;
use crate::rest::{Caller, Endpoint, Reply};

/// Closed listen keys remembered per node (a closed key only ends streams; forgetting it is safe).
const CLOSED_KEYS_MAX: usize = 100_000;

pub(crate) fn handle(api: &Shared, endpoint: Endpoint, caller: &Caller, params: &Params) -> Reply {
    let mut closed = api.closed_listen_keys.lock().unwrap_or_else(|p| p.into_inner());
    if endpoint == Endpoint::ListenKeyNew {
        params.all_read()?;
        let listen_key = api.keyring.listen_key(&caller.key);
        closed.remove(&listen_key);
        return Ok(json!({ "listenKey": listen_key }));
    }
    let listen_key = params.required("listenKey")?;
    params.all_read()?;
    let owner = api.keyring.listen_key_owner(listen_key).ok_or_else(ApiError::bad_listen_key)?;
    if owner != caller.key {
        return Err(ApiError::bad_listen_key());
    }
    if endpoint == Endpoint::ListenKeyClose {
        if closed.len() >= CLOSED_KEYS_MAX {
            closed.clear();
        }
        closed.insert(listen_key.to_string());
    }
    Ok(json!({}))
}
