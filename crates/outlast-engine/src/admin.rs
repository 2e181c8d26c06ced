//! Operator configuration: assets, markets, market status, accounts.
//!
//! Each command is idempotent by its natural key (symbol or account id): the same request again
//! is a `Duplicate`, a different request under the same key is `DuplicateIdMismatch`. These
//! commands never move money.

use crate::account::Account;
use crate::book::Book;
use crate::command::MarketSpec;
use crate::engine::{Asset, Engine, Market};
use crate::event::{Event, EventKind, Outcome, Summary};
use crate::money::{pow10, PPM};
use crate::reject::Reject;
use crate::types::{AccountId, AssetId, MarketId, MarketStatus, FEE_ACCOUNT};

/// Longest asset symbol, in bytes.
const ASSET_SYMBOL_LEN_MAX: usize = 16;
/// Longest market symbol, in bytes.
const MARKET_SYMBOL_LEN_MAX: usize = 20;
/// Most decimals an asset may have (10^18 still fits in 64 bits; Ethereum uses 18).
const DECIMALS_MAX: u8 = 18;

fn symbol_valid(symbol: &str, len_max: usize) -> bool {
    !symbol.is_empty()
        && symbol.len() <= len_max
        && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Engine {
    pub(crate) fn create_asset(&mut self, symbol: &str, decimals: u8) -> Outcome {
        if !symbol_valid(symbol, ASSET_SYMBOL_LEN_MAX) || decimals > DECIMALS_MAX {
            return Outcome::Rejected(Reject::InvalidAsset);
        }
        if let Some(id) = self.assets.iter().position(|asset| asset.symbol == symbol) {
            return if self.assets[id].decimals == decimals {
                Outcome::Duplicate(Summary::AssetCreated(id as u32))
            } else {
                Outcome::Rejected(Reject::DuplicateIdMismatch)
            };
        }
        if self.assets.len() >= self.limits.assets_max as usize {
            return Outcome::Rejected(Reject::AssetsLimit);
        }
        let id = self.assets.len() as u32;
        self.assets.push(Asset { symbol: symbol.to_string(), decimals, deposited: 0, withdrawn: 0 });
        Outcome::Applied(Summary::AssetCreated(id))
    }

    /// Checks a market spec and derives quote units per tick-lot.
    fn market_factor(&self, spec: &MarketSpec) -> Result<u64, Reject> {
        let valid = symbol_valid(&spec.symbol, MARKET_SYMBOL_LEN_MAX)
            && spec.base != spec.quote
            && spec.tick_size > 0
            && spec.lot_size > 0
            && spec.maker_fee_ppm <= self.limits.fee_ppm_max
            && spec.taker_fee_ppm <= self.limits.fee_ppm_max
            && u64::from(self.limits.fee_ppm_max) <= PPM;
        if !valid {
            return Err(Reject::InvalidMarket);
        }
        let base = self.assets.get(spec.base as usize).ok_or(Reject::UnknownAsset)?;
        self.assets.get(spec.quote as usize).ok_or(Reject::UnknownAsset)?;
        let scale = pow10(base.decimals).ok_or(Reject::InvalidMarket)?;
        let product = spec.tick_size.checked_mul(spec.lot_size).ok_or(Reject::InvalidMarket)?;
        // Exact fills need tick × lot to be a whole number of quote minor units per lot.
        if product % scale != 0 {
            return Err(Reject::InvalidMarket);
        }
        Ok(product / scale)
    }

    pub(crate) fn create_market(&mut self, spec: &MarketSpec, events: &mut Vec<Event>) -> Outcome {
        let factor = match self.market_factor(spec) {
            Ok(factor) => factor,
            Err(reject) => return Outcome::Rejected(reject),
        };
        if let Some(id) = self.markets.iter().position(|market| market.spec.symbol == spec.symbol) {
            return if &self.markets[id].spec == spec {
                Outcome::Duplicate(Summary::MarketCreated(id as u32))
            } else {
                Outcome::Rejected(Reject::DuplicateIdMismatch)
            };
        }
        if self.markets.len() >= self.limits.markets_max as usize {
            return Outcome::Rejected(Reject::MarketsLimit);
        }
        assert!(factor > 0);
        let id = self.markets.len() as MarketId;
        self.markets.push(Market { spec: spec.clone(), status: MarketStatus::Trading, quote_per_tick_lot: factor });
        self.books.push(Book::default());
        self.emit(events, EventKind::Market { market: id, status: MarketStatus::Trading });
        Outcome::Applied(Summary::MarketCreated(id))
    }

    pub(crate) fn set_market_status(
        &mut self,
        market: MarketId,
        status: MarketStatus,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let Some(current) = self.markets.get(market as usize).map(|m| m.status) else {
            return Outcome::Rejected(Reject::UnknownMarket);
        };
        if current == status {
            return Outcome::Duplicate(Summary::MarketStatusSet(status));
        }
        self.markets[market as usize].status = status;
        self.emit(events, EventKind::Market { market, status });
        Outcome::Applied(Summary::MarketStatusSet(status))
    }

    /// Formats rise one at a time, and never past what this build reads (an entry of a newer
    /// format never reaches an older build: see `outlast_cluster::format`).
    pub(crate) fn finalize_format(&mut self, format: u32) -> Outcome {
        if format <= self.format {
            return Outcome::Duplicate(Summary::FormatFinalized(self.format));
        }
        if format != self.format + 1 || format > crate::format::FORMAT_CURRENT {
            return Outcome::Rejected(Reject::InvalidFormat);
        }
        self.format = format;
        Outcome::Applied(Summary::FormatFinalized(format))
    }

    pub(crate) fn set_withdrawals_paused(&mut self, asset: AssetId, paused: bool) -> Outcome {
        if asset as usize >= self.assets.len() {
            return Outcome::Rejected(Reject::UnknownAsset);
        }
        if self.withdrawals_paused.contains(&asset) == paused {
            return Outcome::Duplicate(Summary::WithdrawalsPaused(asset, paused));
        }
        if paused {
            self.withdrawals_paused.insert(asset);
        } else {
            self.withdrawals_paused.remove(&asset);
        }
        Outcome::Applied(Summary::WithdrawalsPaused(asset, paused))
    }

    pub(crate) fn create_account(&mut self, account: AccountId) -> Outcome {
        if account == FEE_ACCOUNT {
            return Outcome::Rejected(Reject::ReservedAccount);
        }
        if self.accounts.contains_key(&account) {
            return Outcome::Duplicate(Summary::AccountCreated(account));
        }
        if self.accounts.len() as u64 >= self.limits.accounts_max {
            return Outcome::Rejected(Reject::AccountsLimit);
        }
        self.accounts.insert(account, Account::default());
        Outcome::Applied(Summary::AccountCreated(account))
    }
}
