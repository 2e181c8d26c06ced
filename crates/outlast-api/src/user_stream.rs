//! Listen keys for the user data stream, as Binance has them: random, one open per account,
//! valid for 60 minutes after it was opened or last kept alive.
//!
//! Every operation is a replicated command (see the engine's `listen_keys`), so a client that
//! fails over to another node keeps its key, and a closed or expired key ends its streams on
//! every node. A key of another account is refused exactly like an unknown one.

use outlast_engine::{CommandBody, ListenKeyAction, ListenKeyRequest, Outcome};
use serde_json::json;

use crate::api::Shared;
use crate::endpoint::{then, Caller, Decoded, Reply};
use crate::error::ApiError;
use crate::params::Params;

/// Submits the caller's listen-key request.
async fn submit(api: &Shared, caller: &Caller, action: ListenKeyAction) -> Reply {
    let request = ListenKeyRequest { account: caller.account, action };
    match api.write(CommandBody::ListenKey(request)).await? {
        Outcome::Applied(_) | Outcome::Duplicate(_) => Ok(json!({})),
        Outcome::Rejected(outlast_engine::Reject::UnknownListenKey) => Err(ApiError::bad_listen_key()),
        Outcome::Rejected(reject) => Err(ApiError::rejected(reject, -1013)),
    }
}

/// Opens the caller's listen key, or extends the one the account has open (and answers it).
pub(crate) fn new_listen_key<'a>(api: &'a Shared, caller: &'a Caller, _params: &Params) -> Decoded<'a> {
    let drawn = crate::auth::new_key_name().map_err(|e| ApiError::internal(&e.to_string()))?;
    then(async move {
        let action = ListenKeyAction::Open { api_key: caller.key.clone(), listen_key: drawn };
        submit(api, caller, action).await?;
        // Applied on this node before the write answered (read-your-writes).
        let engine = api.reader.read();
        let open =
            engine.listen_key_of(caller.account).ok_or_else(|| ApiError::unknown_outcome("no listen key open"))?;
        Ok(json!({ "listenKey": open.key }))
    })
}

/// Keep-alive: 60 more minutes for the caller's own key.
pub(crate) fn keep_listen_key<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let listen_key = params.required("listenKey")?.to_string();
    then(submit(api, caller, ListenKeyAction::KeepAlive { listen_key }))
}

/// Close: ends the caller's own key, and its streams on every node.
pub(crate) fn close_listen_key<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let listen_key = params.required("listenKey")?.to_string();
    then(submit(api, caller, ListenKeyAction::Close { listen_key }))
}
