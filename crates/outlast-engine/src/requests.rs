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
        match self.check_request(request, print) {
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
        };
        match result {
            Ok(summary) => {
                #[cfg(feature = "planted-bugs")]
                if self.planted(crate::engine::PlantedBug::ForgetRequestIds) {
                    return Outcome::Applied(summary);
                }
                self.remember(request, print, summary);
                Outcome::Applied(summary)
            }
            Err(reject) => Outcome::Rejected(reject),
        }
    }

    /// `Ok(Some)` for a retry, `Ok(None)` for a new request, `Err` if it must be rejected.
    fn check_request(&self, request: &AccountRequest, print: u64) -> Result<Option<Summary>, Reject> {
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
        let retention_ms = self.id_retention_ms();
        if let Some(entry) = account.ids.get(&request.request_id) {
            if entry.applied_ms.saturating_add(retention_ms) >= self.now_ms {
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
        if account.queued_ids >= self.limits.requests_per_account_max
            && account.queued_ids - self.aged_queued_ids(request.account) >= self.limits.requests_per_account_max
        {
            return Err(Reject::RequestsLimit);
        }
        Ok(None)
    }

    /// Records an applied request's id, first forgetting ids that have aged out.
    fn remember(&mut self, request: &AccountRequest, print: u64, summary: Summary) {
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
        let replaced = self.account_mut(request.account).ids.insert(request.request_id, entry);
        if let Some(old) = replaced {
            assert!(self.open_order_of(&old).is_none(), "an open order's id is never reused");
        }
        self.account_mut(request.account).queued_ids += 1;
        self.id_queue.push_back((now_ms, request.account, request.request_id));
    }

    /// Queue entries of `account` that have aged out but are not yet popped (they are popped by
    /// the next applied command). Only counted when the account is at its cap, so the scan over
    /// the aged prefix of the queue stays off the common path.
    fn aged_queued_ids(&self, account: AccountId) -> u32 {
        let retention_ms = self.id_retention_ms();
        let aged =
            self.id_queue.iter().take_while(|(applied_ms, _, _)| applied_ms.saturating_add(retention_ms) < self.now_ms);
        aged.filter(|(_, owner, _)| *owner == account).count() as u32
    }

    /// Pops aged-out ids off the queue, forgetting those that name no open order.
    fn forget_expired_ids(&mut self, now_ms: u64, retention_ms: u64) {
        while let Some(&(applied_ms, account, id)) = self.id_queue.front() {
            if applied_ms.saturating_add(retention_ms) >= now_ms {
                break;
            }
            self.id_queue.pop_front();
            let holder = self.accounts.get(&account).expect("accounts are never deleted");
            let forget = holder.ids.get(&id).is_some_and(|entry| {
                entry.applied_ms.saturating_add(retention_ms) < now_ms && self.open_order_of(entry).is_none()
            });
            let holder = self.account_mut(account);
            holder.queued_ids -= 1;
            if forget {
                holder.ids.remove(&id);
            }
        }
    }

    /// The order an id entry names, if that order still rests on its book.
    pub(crate) fn open_order_of(&self, entry: &IdEntry) -> Option<(MarketId, OrderId)> {
        let (market, order) = entry.order?;
        self.books[market as usize].slot_of(order).map(|_| (market, order))
    }

    /// The ids of `account` naming orders resting in `market`, sorted by client id (canonical).
    pub(crate) fn open_ids_in(&self, account: AccountId, market: MarketId) -> Vec<(ClientId, OrderId)> {
        let Some(holder) = self.accounts.get(&account) else { return Vec::new() };
        let mut open: Vec<(ClientId, OrderId)> = holder
            .ids
            .iter()
            .filter_map(|(id, entry)| match self.open_order_of(entry) {
                Some((m, order)) if m == market => Some((*id, order)),
                _ => None,
            })
            .collect();
        open.sort_unstable();
        open
    }
}
