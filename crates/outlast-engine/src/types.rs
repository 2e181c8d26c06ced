//! Identifiers and small value types shared by commands, state and events.
//!
//! Every type here is plain data with a canonical serde form. Nothing here may read a clock,
//! allocate per call on the hot path, or depend on the host (all integers have fixed widths).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An account, chosen by the operator when the account is created. Account 0 is the fee account.
pub type AccountId = u64;
/// An asset, assigned densely by the engine in creation order (0, 1, 2, …).
pub type AssetId = u32;
/// A market, assigned densely by the engine in creation order (0, 1, 2, …).
pub type MarketId = u32;
/// An order, assigned by the engine from one global counter (starts at 1).
pub type OrderId = u64;
/// A trade, assigned by the engine from one global counter (starts at 1).
pub type TradeId = u64;
/// A withdrawal, assigned by the engine from one global counter (starts at 1).
pub type WithdrawalId = u64;
/// A credited deposit, assigned by the engine from one global counter (starts at 1).
pub type DepositId = u64;

/// The account that collects trading fees. It can hold balances but never trade or withdraw.
pub const FEE_ACCOUNT: AccountId = 0;

/// Which side of the book an order rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Buys base, pays quote.
    Buy,
    /// Sells base, receives quote.
    Sell,
}

impl Side {
    /// The side this side trades against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// How long a limit order may live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    /// Good till cancelled: the unfilled rest goes on the book.
    Gtc,
    /// Immediate or cancel: whatever does not fill at once expires.
    Ioc,
    /// Fill or kill: fills completely at once, or expires without any fill.
    Fok,
}

/// What happens when an order would trade with another order of the same account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StpMode {
    /// Self-trades are allowed.
    None,
    /// The incoming (taker) order expires; the resting order stays.
    ExpireTaker,
    /// The resting (maker) order expires; the taker keeps matching.
    ExpireMaker,
    /// Both orders expire.
    ExpireBoth,
}

/// Whether a market accepts orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MarketStatus {
    /// Orders and cancels are accepted.
    Trading,
    /// Only cancels are accepted (an orderly wind-down).
    CancelOnly,
    /// Nothing is accepted, not even cancels (an emergency stop).
    Halted,
}

/// The life-cycle state of an order, named as Binance names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Accepted and resting, nothing filled.
    New,
    /// Resting (or expiring) with part of it filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled by its owner.
    Canceled,
    /// Ended by its time in force (IOC/FOK/market remainder).
    Expired,
    /// Ended by self-trade prevention.
    ExpiredInMatch,
}

impl OrderStatus {
    /// True for the states that leave the order on the book.
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
}

/// The longest client id, in bytes (Binance's `newClientOrderId` limit).
pub const CLIENT_ID_LEN_MAX: usize = 36;

/// A client-chosen request id (Binance's `newClientOrderId` / `withdrawOrderId`): 1 to 36 bytes
/// of `[A-Za-z0-9._:/-]`. Stored inline so that it is `Copy` and compares with one `memcmp`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId {
    len: u8,
    bytes: [u8; CLIENT_ID_LEN_MAX],
}

impl ClientId {
    /// Validates and wraps `text`; `None` if it is empty, too long, or has a byte outside the set.
    pub fn new(text: &str) -> Option<ClientId> {
        let raw = text.as_bytes();
        if raw.is_empty() || raw.len() > CLIENT_ID_LEN_MAX {
            return None;
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-');
        if !raw.iter().all(|&b| allowed(b)) {
            return None;
        }
        let mut bytes = [0u8; CLIENT_ID_LEN_MAX];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ClientId { len: raw.len() as u8, bytes })
    }

    /// A client id made from a number (used by tools and tests that need many distinct ids).
    pub fn from_u64(value: u64) -> ClientId {
        let (digits, start) = itoa_u64(value);
        let len = digits.len() - start;
        let mut bytes = [0u8; CLIENT_ID_LEN_MAX];
        bytes[..len].copy_from_slice(&digits[start..]);
        ClientId { len: len as u8, bytes }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("validated as ASCII")
    }
}

/// Formats `value` in decimal into a fixed buffer; returns the buffer and the first used index.
fn itoa_u64(mut value: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut index = buf.len();
    loop {
        index -= 1;
        buf[index] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return (buf, index);
        }
    }
}

impl std::fmt::Debug for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ClientId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClientId::new(&text).ok_or_else(|| serde::de::Error::custom("invalid client id"))
    }
}

/// The longest chain transaction id or withdrawal address, in bytes.
pub const CHAIN_TEXT_LEN_MAX: usize = 128;

/// Validates a chain transaction id or address: 1 to 128 printable ASCII bytes, no spaces.
pub fn chain_text_valid(text: &str) -> bool {
    !text.is_empty() && text.len() <= CHAIN_TEXT_LEN_MAX && text.bytes().all(|b| b.is_ascii_graphic())
}
