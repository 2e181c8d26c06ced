//! Account requests: time checks, idempotency, and dispatch to the order and wallet handlers.
//!
//! Every account request is keyed by `(account, request_id)`. Within the request window a retry
//! of an applied request returns the original summary and changes nothing; a different request
//! under the same id is rejected. A request whose client timestamp falls outside the window is
//! rejected as expired, which is what lets the engine forget ids without ever applying a retry
//! twice: a retry carries its original timestamp, so it is either remembered or expired.
//! Rejected requests are not remembered (that would change state), so a client may fix and
//! resend under the same id.

use crate::account::IdEntry;
use crate::command::{AccountAction, AccountRequest};
use crate::engine::Engine;
use crate::event::{Event, Outcome, Summary};
use crate::hasher::fingerprint;
use crate::reject::Reject;
use crate::types::{AccountId, ClientId, MarketId, OrderId, FEE_ACCOUNT};

impl Engine {
    /// How long an id is kept after its request applied: the window plus the allowed clock lead.
    pub(crate) fn id_retention_ms(&self) -> u64 {
        self.limits.request_window_ms.saturating_add(self.limits.request_ahead_ms_max)
    }

    pub(crate) fn account_request(&mut self, request: &AccountRequest, events: &mut Vec<Event>) -> Outcome {
        let print = fingerprint(&request.action);
        let key_hash = self.ids.hash(request.account, &request.request_id);
        match self.check_request(request, print, key_hash) {
            Err(reject) => return Outcome::Rejected(reject),
            Ok(Some(original)) => return Outcome::Duplicate(original),
            Ok(None) => {}
        }
        let (account, id) = (request.account, request.request_id);
        let result = match &request.action {
            AccountAction::PlaceOrder(spec) => self.place_order(account, id, spec, events),
            AccountAction::CancelOrder { market, target } => self.cancel_order(account, *market, *target, events),
            AccountAction::CancelAll { market } => self.cancel_all(account, *market, events),
            AccountAction::CancelReplace { target, new_order } => {
                self.cancel_replace(account, id, *target, new_order, events)
            }
            AccountAction::RequestWithdrawal { asset, amount, address } => self
                .validate_withdrawal(account, *asset, *amount, address)
                .map(|()| self.execute_withdrawal(account, id, *asset, *amount, address, events)),
            AccountAction::AddWithdrawalAddress { address } => self.add_withdrawal_address(account, address),
        };
        match result {
            Ok(summary) => {
                #[cfg(feature = "planted-faults")]
                if self.planted(crate::engine::PlantedBug::ForgetRequestIds) {
                    return Outcome::Applied(summary);
                }
                self.remember(request, print, key_hash, summary);
                Outcome::Applied(summary)
            }
            Err(reject) => Outcome::Rejected(reject),
        }
    }

    /// `Ok(Some)` for a retry, `Ok(None)` for a new request, `Err` if it must be rejected.
    fn check_request(&self, request: &AccountRequest, print: u64, key_hash: u64) -> Result<Option<Summary>, Reject> {
        if request.account == FEE_ACCOUNT {
            return Err(Reject::ReservedAccount);
        }
        let account = self.accounts.get(&request.account).ok_or(Reject::UnknownAccount)?;
        if request.request_ts_ms.saturating_add(self.limits.request_window_ms) < self.now_ms {
            return Err(Reject::RequestExpired);
        }
        if request.request_ts_ms > self.now_ms.saturating_add(self.limits.request_ahead_ms_max) {
            return Err(Reject::RequestFromFuture);
        }
        if let Some(entry) = self.ids.get_hashed(key_hash, request.account, &request.request_id) {
            if entry.applied_ms.saturating_add(self.id_retention_ms()) >= self.now_ms {
                return if entry.fingerprint == print {
                    Ok(Some(entry.summary))
                } else {
                    Err(Reject::DuplicateIdMismatch)
                };
            }
            if self.open_order_of(entry).is_some() {
                return Err(Reject::ClientOrderIdInUse);
            }
        }
        if self.ids.ring_len() >= crate::ids::RING_RECORDS_MAX {
            return Err(Reject::RequestsLimit);
        }
        if account.queued_ids >= self.limits.requests_per_account_max
            && account.queued_ids - self.aged_queued_ids(request.account) >= self.limits.requests_per_account_max
        {
            return Err(Reject::RequestsLimit);
        }
        Ok(None)
    }

    /// Ring records of `account` that have aged out but are not yet popped (the next applied
    /// command pops them). Only counted when the account is at its cap, so this scan over the
    /// aged prefix of the ring stays off the common path.
    fn aged_queued_ids(&self, account: AccountId) -> u32 {
        let retention_ms = self.id_retention_ms();
        let aged = self.ids.ring().take_while(|r| r.entry.applied_ms.saturating_add(retention_ms) < self.now_ms);
        aged.filter(|r| r.account == account).count() as u32
    }

    /// Records an applied request's id, first forgetting ids that have aged out.
    fn remember(&mut self, request: &AccountRequest, print: u64, key_hash: u64, summary: Summary) {
        let (now_ms, retention_ms) = (self.now_ms, self.id_retention_ms());
        let order = match (&request.action, summary) {
            (AccountAction::PlaceOrder(spec), Summary::OrderPlaced { order, .. })
            | (AccountAction::CancelReplace { new_order: spec, .. }, Summary::Replaced { order, .. }) => {
                Some((spec.market, order))
            }
            _ => None,
        };
        self.forget_expired_ids(now_ms, retention_ms);
        let entry = IdEntry { fingerprint: print, applied_ms: now_ms, summary, order };
        if let Some(old) = self.ids.push(key_hash, request.account, request.request_id, entry) {
            assert!(old.applied_ms.saturating_add(retention_ms) < now_ms, "only an aged id is replaced");
            assert!(self.open_order_of(&old).is_none(), "an open order's id is never reused");
        }
        self.account_mut(request.account).queued_ids += 1;
    }

    /// Pops aged-out ids off the ring; those still naming a resting order are kept aside.
    fn forget_expired_ids(&mut self, now_ms: u64, retention_ms: u64) {
        while let Some(front) = self.ids.front() {
            if front.entry.applied_ms.saturating_add(retention_ms) >= now_ms {
                break;
            }
            let open = self.open_order_of(&front.entry).is_some();
            let popped = self.ids.pop_front(|_| open);
            let holder = self.account_mut(popped.account);
            assert!(holder.queued_ids > 0, "a popped record was counted");
            holder.queued_ids -= 1;
        }
    }

    /// The order an id entry names, if that order still rests on its book.
    pub(crate) fn open_order_of(&self, entry: &IdEntry) -> Option<(MarketId, OrderId)> {
        let (market, order) = entry.order?;
        self.books[market as usize].slot_of(order).map(|_| (market, order))
    }

    /// The orders of `account` resting in `market` as (client id, order id), in book priority
    /// (a canonical order: bids best first, then asks best first).
    pub(crate) fn open_ids_in(&self, account: AccountId, market: MarketId) -> Vec<(ClientId, OrderId)> {
        let Some(book) = self.books.get(market as usize) else { return Vec::new() };
        [crate::types::Side::Buy, crate::types::Side::Sell]
            .into_iter()
            .flat_map(|side| book.iter_side(side))
            .map(|slot| book.order(slot))
            .filter(|order| order.account == account)
            .map(|order| (order.client_id, order.id))
            .collect()
    }
}
