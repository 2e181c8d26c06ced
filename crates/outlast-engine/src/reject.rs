//! Rejection codes: why a command changed nothing.
//!
//! Codes are stable: a code's number and name never change meaning once released, because
//! clients, the API's error mapping and stored histories depend on them. Add new codes at the
//! end of a group; never renumber.

use serde::{Deserialize, Serialize};

macro_rules! reject_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, )*) => {
        /// Why a command was rejected. A rejected command leaves the state (and digest) unchanged.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[repr(u16)]
        pub enum Reject {
            $( $(#[$doc])* $name = $code, )*
        }

        impl Reject {
            /// The stable numeric code.
            pub fn code(self) -> u16 {
                self as u16
            }

            /// The stable name, exactly as the variant is spelled.
            pub fn name(self) -> &'static str {
                match self {
                    $( Reject::$name => stringify!($name), )*
                }
            }

            /// Every code, in numeric order (for documentation and tests).
            pub const ALL: &'static [Reject] = &[ $( Reject::$name, )* ];
        }
    };
}

reject_codes! {
    // 1xxx: a referenced thing does not exist.
    /// The market id is not known.
    UnknownMarket = 1001,
    /// The asset id is not known.
    UnknownAsset = 1002,
    /// The account id is not known.
    UnknownAccount = 1003,
    /// No open order with that id or client id exists in that market.
    UnknownOrder = 1004,
    /// The withdrawal id is not known.
    UnknownWithdrawal = 1005,
    /// The API key is not registered.
    UnknownApiKey = 1006,
    /// The listen key is not open for this account (never opened, closed, or expired).
    UnknownListenKey = 1007,
    /// The chain is not set up.
    UnknownChain = 1008,

    // 2xxx: malformed amounts and prices.
    /// A quantity or amount is zero.
    ZeroQuantity = 2001,
    /// A price is zero.
    ZeroPrice = 2002,
    /// The price is not a multiple of the market's tick size.
    PriceOffTick = 2003,
    /// The quantity is not a multiple of the market's lot size.
    QuantityOffLot = 2004,
    /// Price × quantity is below the market's minimum notional.
    BelowMinNotional = 2005,
    /// An amount computed from the command does not fit in 64 bits.
    Overflow = 2006,

    // 3xxx: funds and ownership.
    /// The account's available balance does not cover what must be locked.
    InsufficientFunds = 3001,
    /// The order exists but belongs to another account.
    NotOrderOwner = 3002,
    /// The fee account cannot trade or withdraw.
    ReservedAccount = 3003,
    /// The destination is not on the account's withdrawal allowlist, or not for long enough.
    AddressNotAllowlisted = 3004,
    /// The account's withdrawals of this asset today would pass its daily amount.
    DailyLimitReached = 3005,
    /// All accounts' withdrawals of this asset today would pass the hot wallet's daily amount.
    HotWalletDailyLimitReached = 3006,

    // 4xxx: idempotency and time.
    /// The request id was used before, inside the window, for a different command.
    DuplicateIdMismatch = 4001,
    /// The client order id belongs to an order that is still open.
    ClientOrderIdInUse = 4002,
    /// The client timestamp is older than the request window.
    RequestExpired = 4003,
    /// The client timestamp is too far ahead of the leader's clock.
    RequestFromFuture = 4004,

    // 5xxx: market state and order rules.
    /// The market is halted: nothing is accepted.
    MarketHalted = 5001,
    /// The market accepts cancels only.
    MarketCancelOnly = 5002,
    /// A LIMIT_MAKER order would have taken liquidity.
    PostOnlyWouldTake = 5003,
    /// The withdrawal is not in a state that allows this step.
    WithdrawalStateConflict = 5004,
    /// Withdrawal requests of this asset are paused by the operator.
    WithdrawalsPaused = 5005,

    // 6xxx: configuration commands.
    /// The asset symbol or decimals are invalid.
    InvalidAsset = 6001,
    /// The market's parameters are inconsistent (see `MarketSpec`).
    InvalidMarket = 6002,
    /// A chain transaction id or address is empty, too long or not printable ASCII.
    InvalidChainText = 6003,
    /// An API key registration is malformed: the name is not 16 to 64 ASCII letters and
    /// digits, the sealed secret is empty or too long, or the IP allowlist is too long or has
    /// an impossible prefix.
    InvalidApiKey = 6004,
    /// The API key name was revoked: revocation is final, the name is never registered again.
    ApiKeyRevoked = 6005,
    /// The command names an operator that is not 1 to 64 printable ASCII characters, or names
    /// one on an account holder's request.
    InvalidOperator = 6006,
    /// A cluster administration note is empty, longer than `ADMIN_NOTE_LEN_MAX` bytes, or not
    /// printable ASCII.
    InvalidAdminNote = 6007,
    /// The command kind belongs to a data format newer than the cluster's active one: it is
    /// enabled once every voter runs a build that reads that format and an operator finalises
    /// (see `format`).
    FormatNotEnabled = 6008,
    /// A data format this build does not know, or not above the active one by exactly one.
    InvalidFormat = 6009,
    /// A chain name is not 1 to 32 lower-case letters, digits or `-`.
    InvalidChain = 6010,
    /// The chain is set up differently already, or a deposit range does not start right after
    /// its checkpoint on the same fork (see `chain`).
    ChainConflict = 6011,
    /// A signed withdrawal transaction with a nonce or position other than the one the log
    /// reserves, or a mined hash that is not one of its attempts.
    NonceConflict = 6012,

    // 7xxx: configured limits reached.
    /// `accounts_max` reached.
    AccountsLimit = 7001,
    /// `assets_max` reached.
    AssetsLimit = 7002,
    /// `markets_max` reached.
    MarketsLimit = 7003,
    /// `open_orders_per_account_max` reached.
    OpenOrdersLimit = 7004,
    /// `price_levels_per_side_max` reached.
    PriceLevelsLimit = 7005,
    /// `orders_per_book_max` reached.
    BookOrdersLimit = 7006,
    /// `requests_per_account_max` reached inside the request window.
    RequestsLimit = 7007,
    /// `deposits_max` reached.
    DepositsLimit = 7008,
    /// `withdrawals_max` reached.
    WithdrawalsLimit = 7009,
    /// `api_keys_max` reached.
    ApiKeysLimit = 7010,
    /// The account's withdrawal allowlist is full (`ALLOWLIST_PER_ACCOUNT_MAX`).
    AllowlistLimit = 7011,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}
