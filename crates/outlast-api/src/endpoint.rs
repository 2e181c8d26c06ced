//! What an endpoint is: a row of the API's table (`endpoints`), and the shape every handler has.
//!
//! A handler is two steps, split by its type. **Decoding** is a plain function: it reads the
//! parameters (and may read the engine) and fails with the request's first error. It cannot
//! await, so it cannot submit a command, and it must change nothing. What it returns is the
//! **action**: a future that owns what decoding produced. Its lifetime is tied to the API and
//! the caller, never to the parameters, so an action cannot read a parameter. Between the two
//! steps the front door (`rest`) checks that every parameter sent was read (-1104).
//!
//! So "bad input changes nothing" holds for every endpoint by construction: a parameter nothing
//! reads is refused before any action runs, and no handler carries a check of its own to
//! forget. This design was chosen over rows listing their accepted names because such a list
//! would be a second copy of what the decoder reads, free to drift from it, and because errors
//! keep their order: a malformed or missing parameter is still reported before an unknown one,
//! exactly as when each handler checked at the end of its own decoding.
//!
//! A read-only endpoint whose answer cannot fail may compute it while decoding (`answered`); a
//! step that can fail after the check (so that -1104 keeps its precedence), a costly one, and
//! every write belong in the action (`then`).

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;
use outlast_engine::AccountId;
use serde_json::Value;

use crate::api::Shared;
use crate::error::ApiError;
use crate::params::Params;

/// Who is calling, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The API key name.
    pub key: String,
    /// The account it acts for.
    pub account: AccountId,
    /// The request's `timestamp` (signed requests), else this node's clock.
    pub timestamp_ms: u64,
    /// The signed payload's bytes (for deriving ids that a byte-identical retry repeats).
    pub payload: Vec<u8>,
}

/// A JSON answer, or the request's error.
pub type Reply = Result<Value, ApiError>;

/// What an endpoint answers.
pub enum Answer {
    /// JSON.
    Json(Value),
    /// Pre-rendered text (metrics).
    Text(String),
}

impl From<Value> for Answer {
    fn from(value: Value) -> Answer {
        Answer::Json(value)
    }
}

impl From<String> for Answer {
    fn from(text: String) -> Answer {
        Answer::Text(text)
    }
}

/// The second step of a handler: runs only after every parameter sent was found read. It
/// borrows the API and the caller for `'a`, and nothing of the parameters.
pub type Action<'a> = Pin<Box<dyn Future<Output = Result<Answer, ApiError>> + Send + 'a>>;

/// The first step's result: the action to run, or the request's first error.
pub type Decoded<'a> = Result<Action<'a>, ApiError>;

/// Decoding found the whole answer (a read-only endpoint whose answer cannot fail).
pub fn answered(answer: impl Into<Answer>) -> Decoded<'static> {
    let answer = answer.into();
    Ok(Box::pin(std::future::ready(Ok(answer))))
}

/// Decoding passed; `work` runs once the front door has checked the parameters.
pub fn then<'a>(work: impl Future<Output = Reply> + Send + 'a) -> Decoded<'a> {
    Ok(Box::pin(async move { work.await.map(Answer::Json) }))
}

/// Decodes a request that needs no caller.
pub type OpenDecoder = for<'a> fn(&'a Shared, &Params) -> Decoded<'a>;

/// The operator a request comes from, once authenticated: the name in their client certificate
/// on the operator plane, or `(token)` for the bearer token on a node without one (no
/// certificate can carry that name). It is what
/// the audit trail records as "who".
#[derive(Clone, Debug)]
pub struct Operator {
    /// Their name.
    pub name: String,
}

/// The name the audit trail gives an operator who used the bearer token (it names nobody).
pub const TOKEN_OPERATOR: &str = "(token)";

/// Decodes an operator's request.
pub type OperatorDecoder = for<'a> fn(&'a Shared, &'a Operator, &Params) -> Decoded<'a>;

/// Decodes a request on behalf of the authenticated caller.
pub type CallerDecoder = for<'a> fn(&'a Shared, &'a Caller, &Params) -> Decoded<'a>;

/// An endpoint's credential together with its handler, so that a handler that acts for a
/// caller cannot be listed under a credential that yields none.
#[derive(Clone, Copy)]
pub enum Handler {
    /// No credential.
    Public(OpenDecoder),
    /// An operator: their client certificate on the operator plane, else the bearer token (on a
    /// node without an operator plane).
    Operator(OperatorDecoder),
    /// Internal detail (metrics): no credential on a node without an operator plane; on a node
    /// with one, served there only (Prometheus scrapes it with an operator's certificate).
    Internal(OpenDecoder),
    /// An API key.
    Key(CallerDecoder),
    /// An API key, a signature and a fresh timestamp.
    Signed(CallerDecoder),
}

/// A request's weight (Binance's, where it has one).
#[derive(Clone, Copy)]
pub enum Weight {
    /// Not charged and no weight header: the operator and the probes must work while users
    /// flood the node.
    Free,
    /// Always this much.
    Fixed(u32),
    /// `one` for a single `symbol`, `all` without one (the request covers every market).
    PerSymbol {
        /// With `symbol`.
        one: u32,
        /// Without.
        all: u32,
    },
    /// Computed from the parameters, which it may only peek at (weight is charged before the
    /// handler decodes, and must not count as reading).
    Computed(fn(&Params) -> u32),
}

impl Weight {
    /// The weight to charge for a request with `params`; `None` if it is not charged.
    pub fn of(&self, params: &Params) -> Option<u32> {
        match *self {
            Weight::Free => None,
            Weight::Fixed(weight) => Some(weight),
            Weight::PerSymbol { one, all } => Some(if params.peek("symbol").is_some() { one } else { all }),
            Weight::Computed(weigh) => Some(weigh(params)),
        }
    }
}

/// Where an endpoint's answer comes from, and so how current it is: the API's read-consistency
/// contract, one value per row (ARCHITECTURE.md, "Reads").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// Linearizable: before decoding, the node learns the leader's read index (the leader
    /// confirms its leadership with a quorum) and applies up to it, so the answer includes every
    /// write acknowledged before the request arrived; a node that cannot do that within
    /// `api::CATCH_UP_DEADLINE` (0.9 s) refuses (503, -1001, nothing done: retry anywhere). Every
    /// account read is this: a "does not exist" from a node that is behind would be a lie.
    Linearizable,
    /// The answer is a command's outcome from the log (a write): committed on a quorum and
    /// applied before it is given. Decoding only maps names to ids on local state.
    Logged,
    /// This node's own applied state, which may be behind the cluster by the replication lag
    /// (milliseconds while healthy; the node's `/ready` and status say when it is not
    /// caught up): public market data, and node-local views (health, metrics, the cluster view).
    Local,
}

/// One row of the API's table.
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The exact path (no patterns: every REST path is fixed).
    pub path: &'static str,
    /// What a request costs.
    pub weight: Weight,
    /// How current its answer is.
    pub reads: Reads,
    /// The exchange function it serves, if it is one that incident reports follow.
    pub function: Option<crate::function::Function>,
    /// The credential and the handler.
    pub handler: Handler,
}

/// A row, written on one line.
pub const fn row(
    method: Method,
    path: &'static str,
    weight: Weight,
    reads: Reads,
    function: Option<crate::function::Function>,
    handler: Handler,
) -> Endpoint {
    Endpoint { method, path, weight, reads, function, handler }
}
