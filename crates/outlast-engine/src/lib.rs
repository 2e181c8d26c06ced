//! Outlast's exchange engine: a deterministic state machine for balances, order books,
//! deposits and withdrawals.
//!
//! Every replica applies the same log of [`Command`]s with [`Engine::apply`] and must end in the
//! same state, which [`Engine::digest`] lets them compare. To keep that true the engine:
//!
//! - reads no clock: time is the leader's stamp in each command, clamped to never go back;
//! - draws no random numbers, does no I/O, uses no floats and nothing async;
//! - never lets `HashMap` iteration order reach an event, a snapshot or a digest;
//! - uses integers in minor units with checked arithmetic: overflow is a rejection, never a wrap;
//! - validates a command fully before changing anything, so a rejected command changes nothing.
//!
//! Code map: `command` (input), `event` (output), `reject` (error codes), `engine` (state and
//! dispatch), `admin`, `wallet`, `requests`, `orders`, `matching` (the command families), `book` (one order
//! book), `account` (balances), `ids` (remembered request ids), `snapshot` (bytes and digest), `invariants`
//! (global checks), `query` (read views), `limits`, `money`, `hasher`, `types`.

#![deny(missing_docs)]

mod account;
mod admin;
mod api_keys;
mod audit;
mod book;
mod chain;
mod command;
mod controls;
mod engine;
mod event;
mod format;
mod hasher;
mod id_index;
mod ids;
mod invariants;
mod limits;
mod listen_keys;
mod matching;
mod money;
mod orders;
mod query;
mod reject;
mod requests;
mod ring;
mod snapshot;
mod types;
mod wallet;

pub use account::{Balance, IdEntry};
pub use api_keys::{
    api_key_valid, ApiKey, ApiKeySpec, IpNet, KeyCredential, KeyPermissions, API_KEY_IPS_MAX, API_KEY_LEN_MAX,
    API_KEY_LEN_MIN, SEALED_SECRET_BYTES_MAX,
};
pub use audit::{operator_name_valid, AuditRecord, ADMIN_NOTE_LEN_MAX, OPERATOR_NAME_LEN_MAX};
pub use chain::{
    chain_name_valid, deposit_key, ChainDeposit, ChainPayment, ChainState, Hash32, MinedAttempt, PaymentAttempt,
    CHAIN_BLOCKS_MAX, CHAIN_DEPOSITS_MAX, PAYMENT_ATTEMPTS_MAX, RAW_TX_BYTES_MAX,
};
pub use command::{AccountAction, AccountRequest, Command, CommandBody, MarketSpec, OrderKind, OrderRef, OrderSpec};
pub use controls::{Controls, DayUse, WithdrawalPolicy, ALLOWLIST_PER_ACCOUNT_MAX, APPROVALS_NEEDED, DAY_MS};
#[cfg(feature = "planted-faults")]
pub use engine::PlantedBug;
pub use engine::{Asset, DepositRecord, Engine, Market, Withdrawal};
pub use event::{DepthDelta, Event, EventKind, Levels, OrderUpdate, Outcome, Summary, Trade, WithdrawalState};
pub use format::{FORMAT_CURRENT, FORMAT_FIRST};
pub use ids::IdRecord;
pub use limits::Limits;
pub use listen_keys::{ListenKey, ListenKeyAction, ListenKeyRequest, LISTEN_KEY_TTL_MS};
pub use money::fee;
pub use query::{DepthView, OrderView};
pub use reject::Reject;
pub use snapshot::SnapshotError;
pub use types::{
    chain_text_valid, AccountId, AssetId, ClientId, DepositId, MarketId, MarketStatus, OrderId, OrderStatus, Side,
    StpMode, TimeInForce, TradeId, WithdrawalId, CHAIN_TEXT_LEN_MAX, CLIENT_ID_LEN_MAX, FEE_ACCOUNT,
};
