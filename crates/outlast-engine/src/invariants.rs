//! The engine's invariants, checked as a whole: after restore, and after every command in tests.
//!
//! The hot path asserts local facts as it goes (a fill never exceeds a remainder, a debit never
//! exceeds a lock); this module checks the global ones that are too costly per command:
//! conservation of every asset, locks that match open orders and pending withdrawals, books in
//! order and uncrossed, and the id tables consistent with the books.

use std::collections::BTreeMap;

use crate::engine::Engine;
use crate::event::WithdrawalState;
use crate::types::{AccountId, AssetId};

impl Engine {
    /// Checks every global invariant; `Err` describes the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut expected_locked: BTreeMap<(AccountId, AssetId), u64> = BTreeMap::new();
        let mut expected_open: BTreeMap<AccountId, u32> = BTreeMap::new();
        for (market, book) in self.books.iter().enumerate() {
            book.check().map_err(|why| format!("market {market}: {why}"))?;
            let units = self.units(market as u32);
            for side in [crate::types::Side::Buy, crate::types::Side::Sell] {
                for slot in book.iter_side(side) {
                    let order = book.order(slot);
                    let (asset, amount) = Self::resting_lock(units, order);
                    *expected_locked.entry((order.account, asset)).or_default() += amount;
                    *expected_open.entry(order.account).or_default() += 1;
                    let entry = self.ids.get(order.account, &order.client_id);
                    if entry.and_then(|e| e.order) != Some((market as u32, order.id)) {
                        return Err(format!("order {} is not named by its client id", order.id));
                    }
                }
            }
        }
        for w in &self.withdrawals {
            if matches!(w.state, WithdrawalState::Requested | WithdrawalState::Sent | WithdrawalState::PendingApproval)
            {
                *expected_locked.entry((w.account, w.asset)).or_default() += w.amount;
            }
        }
        let mut totals = vec![0u128; self.assets.len()];
        for (&id, account) in &self.accounts {
            if account.balances.len() > self.assets.len() {
                return Err(format!("account {id} has balances of unknown assets"));
            }
            for (asset, balance) in account.balances.iter().enumerate() {
                let expected = expected_locked.get(&(id, asset as AssetId)).copied().unwrap_or(0);
                if balance.locked != expected {
                    return Err(format!(
                        "account {id} asset {asset}: locked {} but orders and withdrawals hold {expected}",
                        balance.locked
                    ));
                }
                totals[asset] += u128::from(balance.available) + u128::from(balance.locked);
            }
            let expected = expected_open.get(&id).copied().unwrap_or(0);
            if account.open_orders != expected {
                return Err(format!("account {id}: {} open orders counted, {expected} on books", account.open_orders));
            }
        }
        let mut queued: BTreeMap<AccountId, u32> = BTreeMap::new();
        let mut previous_ms = 0;
        for record in self.ids.ring() {
            if record.entry.applied_ms < previous_ms || record.entry.applied_ms > self.now_ms {
                return Err("id ring out of time order".into());
            }
            previous_ms = record.entry.applied_ms;
            *queued.entry(record.account).or_default() += 1;
        }
        // The index holds exactly the keys in the ring, each at its newest record: every record's
        // key is found, and the records found at themselves are as many as the index's keys.
        let mut live = 0usize;
        for record in self.ids.ring() {
            match self.ids.get(record.account, &record.id) {
                Some(found) if std::ptr::eq(found, &record.entry) => live += 1,
                Some(_) => {}
                None => {
                    return Err(format!("account {}: id {} in the ring but not indexed", record.account, record.id))
                }
            }
        }
        if live != self.ids.index_len() {
            return Err(format!("id index holds {} keys, the ring {live}", self.ids.index_len()));
        }
        for (&id, account) in &self.accounts {
            if account.queued_ids != queued.get(&id).copied().unwrap_or(0) {
                return Err(format!("account {id}: queued id count disagrees with the ring"));
            }
        }
        // An id is kept past its ring record only while its order rests: anything more is a leak.
        for ((account, id), entry) in self.ids.kept() {
            if self.open_order_of(entry).is_none() {
                return Err(format!("account {account}: id {id} kept without an open order"));
            }
        }
        for ((account, asset), amount) in &expected_locked {
            let held = self.accounts.get(account).map(|a| a.balance(*asset).locked).unwrap_or(0);
            if held != *amount {
                return Err(format!("account {account} asset {asset}: locked {held}, expected {amount}"));
            }
        }
        self.check_chain_payments()?;
        for (id, approvals) in &self.controls.approvals {
            let waiting = id.checked_sub(1).and_then(|i| self.withdrawals.get(i as usize));
            if waiting.is_none_or(|w| w.state != WithdrawalState::PendingApproval)
                || approvals.is_empty()
                || approvals.len() >= crate::controls::APPROVALS_NEEDED
            {
                return Err(format!("withdrawal {id}: approvals {approvals:?} for a withdrawal not waiting"));
            }
        }
        for (asset, total) in totals.iter().enumerate() {
            let a = &self.assets[asset];
            let net = u128::from(a.deposited)
                .checked_sub(u128::from(a.withdrawn))
                .ok_or(format!("asset {} paid out more than came in", a.symbol))?;
            if *total != net {
                return Err(format!(
                    "asset {} not conserved: balances {total}, deposits less withdrawals {net}",
                    a.symbol
                ));
            }
        }
        Ok(())
    }

    /// Every chain payment belongs to a withdrawal that left Requested, on a chain followed;
    /// no two share a nonce on a chain, and each is below the chain's next nonce; a mined
    /// attempt is one of its own, and it settled the withdrawal the way its kind says.
    fn check_chain_payments(&self) -> Result<(), String> {
        let mut nonces = std::collections::BTreeSet::new();
        for (&id, payment) in &self.chain_payments {
            let withdrawal = id
                .checked_sub(1)
                .and_then(|i| self.withdrawals.get(i as usize))
                .ok_or(format!("chain payment of unknown withdrawal {id}"))?;
            let chain = self.chains.get(&payment.chain).ok_or(format!("withdrawal {id}: unknown chain"))?;
            if payment.nonce >= chain.next_nonce || !nonces.insert((payment.chain.as_str(), payment.nonce)) {
                return Err(format!("withdrawal {id}: nonce {} reused or not reserved", payment.nonce));
            }
            if payment.attempts.is_empty() || payment.attempts.len() > crate::chain::PAYMENT_ATTEMPTS_MAX {
                return Err(format!("withdrawal {id}: {} attempts", payment.attempts.len()));
            }
            let expected = match payment.mined {
                None => WithdrawalState::Sent,
                Some(mined) => match payment.attempts.iter().find(|a| a.hash == mined.hash) {
                    Some(attempt) if attempt.cancel && mined.paid => {
                        return Err(format!("withdrawal {id}: a cancel recorded as a payment"));
                    }
                    Some(_) if mined.paid => WithdrawalState::Confirmed,
                    Some(_) => WithdrawalState::Failed,
                    None => return Err(format!("withdrawal {id}: mined a transaction it did not sign")),
                },
            };
            if withdrawal.state != expected {
                return Err(format!(
                    "withdrawal {id}: {:?}, but its chain payment says {expected:?}",
                    withdrawal.state
                ));
            }
        }
        Ok(())
    }
}
