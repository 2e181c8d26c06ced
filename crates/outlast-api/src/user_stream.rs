//! Listen keys for the user data stream.
//!
//! A listen key is derived from the API key (see `auth::Keyring::listen_key`), so every node
//! recognises it and a client that fails over to another node keeps its key. It lives as long
//! as its API key: keep-alive is accepted and does nothing, closing ends this node's streams
//! for it. A key of another account is refused exactly like an unknown one.

use serde_json::json;

use crate::api::Shared;
use crate::endpoint::{then, Caller, Decoded};
use crate::error::ApiError;
use crate::params::Params;

/// Closed listen keys remembered per node (a closed key only ends streams; forgetting it is safe).
const CLOSED_KEYS_MAX: usize = 100_000;

/// A new listen key: the caller's, reopened if it was closed on this node.
pub(crate) fn new_listen_key<'a>(api: &'a Shared, caller: &'a Caller, _params: &Params) -> Decoded<'a> {
    then(async move {
        let listen_key = api.keyring.listen_key(&caller.key);
        closed_keys(api).remove(&listen_key);
        Ok(json!({ "listenKey": listen_key }))
    })
}

/// Keep-alive: accepted for the caller's own key, and does nothing.
pub(crate) fn keep_listen_key<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let listen_key = params.required("listenKey")?.to_string();
    then(async move {
        owned(api, caller, &listen_key)?;
        Ok(json!({}))
    })
}

/// Close: ends this node's streams for the caller's own key.
pub(crate) fn close_listen_key<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let listen_key = params.required("listenKey")?.to_string();
    then(async move {
        owned(api, caller, &listen_key)?;
        let mut closed = closed_keys(api);
        if closed.len() >= CLOSED_KEYS_MAX {
            closed.clear();
        }
        closed.insert(listen_key);
        Ok(json!({}))
    })
}

fn closed_keys(api: &Shared) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
    api.closed_listen_keys.lock().unwrap_or_else(|p| p.into_inner())
}

/// Refuses a listen key that is not the caller's exactly like an unknown one.
fn owned(api: &Shared, caller: &Caller, listen_key: &str) -> Result<(), ApiError> {
    let owner = api.keyring.listen_key_owner(listen_key).ok_or_else(ApiError::bad_listen_key)?;
    if owner != caller.key {
        return Err(ApiError::bad_listen_key());
    }
    Ok(())
}
