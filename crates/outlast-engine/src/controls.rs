//! Withdrawal controls a risk team sets per asset (format 3): destinations that must be on the
//! account's allowlist for a while first, a daily amount per account and one for the hot wallet
//! (all accounts together), and two distinct operators' approval above a threshold.
//!
//! An asset without a policy keeps the behaviour of the formats before (so replaying an older
//! log decides the same). The daily amounts count what was requested in the UTC day of the
//! engine's time; a withdrawal that later fails does not give its amount back (the
//! conservative side). Every decision is an operator command, so it is in the audit trail with
//! the operator's name. Must never: let one operator approve twice, or let a request through
//! that any control of its asset refuses.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::event::{Event, EventKind, Outcome, Summary, WithdrawalState};
use crate::reject::Reject;
use crate::types::{chain_text_valid, AccountId, AssetId, WithdrawalId};

/// A UTC day, in ms.
pub const DAY_MS: u64 = 86_400_000;
/// Addresses one account's allowlist holds at most.
pub const ALLOWLIST_PER_ACCOUNT_MAX: usize = 32;
/// Distinct operators whose approval a withdrawal over the threshold needs.
pub const APPROVALS_NEEDED: usize = 2;

/// One asset's withdrawal controls; `None` turns a control off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WithdrawalPolicy {
    /// A destination must have been on the account's allowlist this long, in ms.
    pub allowlist_delay_ms: Option<u64>,
    /// The most one account may request in a UTC day, in minor units.
    pub account_daily_max: Option<u64>,
    /// The most all accounts together may request in a UTC day: what the hot wallet pays.
    pub hot_wallet_daily_max: Option<u64>,
    /// A request of at least this much waits for `APPROVALS_NEEDED` operators.
    pub approval_threshold: Option<u64>,
}

/// What a day has used of a daily amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUse {
    /// The UTC day (engine ms / `DAY_MS`).
    pub day: u64,
    /// Requested in it, in minor units.
    pub amount: u64,
}

impl DayUse {
    fn used_on(&self, day: u64) -> u64 {
        if self.day == day {
            self.amount
        } else {
            0
        }
    }
}

/// The controls' replicated state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controls {
    /// Policies by asset.
    pub policies: std::collections::BTreeMap<AssetId, WithdrawalPolicy>,
    /// (account, address) → when it was added (engine ms).
    pub allowlists: std::collections::BTreeMap<(AccountId, String), u64>,
    /// (account, asset) → today's requested amount.
    pub account_days: std::collections::BTreeMap<(AccountId, AssetId), DayUse>,
    /// asset → today's requested amount over all accounts.
    pub hot_wallet_days: std::collections::BTreeMap<AssetId, DayUse>,
    /// Withdrawals waiting for approval → the operators who approved so far.
    pub approvals: std::collections::BTreeMap<WithdrawalId, Vec<String>>,
}

impl Engine {
    /// The withdrawal controls' state.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    pub(crate) fn set_withdrawal_policy(&mut self, asset: AssetId, policy: &WithdrawalPolicy) -> Outcome {
        if asset as usize >= self.assets.len() {
            return Outcome::Rejected(Reject::UnknownAsset);
        }
        if self.controls.policies.get(&asset) == Some(policy) {
            return Outcome::Duplicate(Summary::WithdrawalPolicySet(asset));
        }
        self.controls.policies.insert(asset, *policy);
        Outcome::Applied(Summary::WithdrawalPolicySet(asset))
    }

    pub(crate) fn add_withdrawal_address(&mut self, account: AccountId, address: &str) -> Result<Summary, Reject> {
        if !chain_text_valid(address) {
            return Err(Reject::InvalidChainText);
        }
        let key = (account, address.to_string());
        if let Some(&added_ms) = self.controls.allowlists.get(&key) {
            // Already there: the original time stands (adding again must not restart it).
            return Ok(Summary::AddressAllowlisted(added_ms));
        }
        let listed = self.controls.allowlists.range((account, String::new())..).take_while(|((a, _), _)| *a == account);
        if listed.count() >= ALLOWLIST_PER_ACCOUNT_MAX {
            return Err(Reject::AllowlistLimit);
        }
        self.controls.allowlists.insert(key, self.now_ms);
        Ok(Summary::AddressAllowlisted(self.now_ms))
    }

    /// The controls' checks on a withdrawal request (none for an asset without a policy).
    pub(crate) fn check_withdrawal_controls(
        &self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
        address: &str,
    ) -> Result<(), Reject> {
        let Some(policy) = self.controls.policies.get(&asset) else { return Ok(()) };
        if let Some(delay_ms) = policy.allowlist_delay_ms {
            let added = self.controls.allowlists.get(&(account, address.to_string()));
            if added.is_none_or(|added_ms| added_ms.saturating_add(delay_ms) > self.now_ms) {
                return Err(Reject::AddressNotAllowlisted);
            }
        }
        let day = self.now_ms / DAY_MS;
        if let Some(max) = policy.account_daily_max {
            let used = self.controls.account_days.get(&(account, asset)).map_or(0, |d| d.used_on(day));
            if used.checked_add(amount).is_none_or(|total| total > max) {
                return Err(Reject::DailyLimitReached);
            }
        }
        if let Some(max) = policy.hot_wallet_daily_max {
            let used = self.controls.hot_wallet_days.get(&asset).map_or(0, |d| d.used_on(day));
            if used.checked_add(amount).is_none_or(|total| total > max) {
                return Err(Reject::HotWalletDailyLimitReached);
            }
        }
        Ok(())
    }

    /// Counts a validated withdrawal against the day; the state it starts in.
    pub(crate) fn count_withdrawal(&mut self, account: AccountId, asset: AssetId, amount: u64) -> WithdrawalState {
        let Some(policy) = self.controls.policies.get(&asset).copied() else { return WithdrawalState::Requested };
        let day = self.now_ms / DAY_MS;
        // Checked against the maxima just before, so the sums fit.
        let account_day = self.controls.account_days.entry((account, asset)).or_default();
        *account_day = DayUse { day, amount: account_day.used_on(day).saturating_add(amount) };
        let wallet_day = self.controls.hot_wallet_days.entry(asset).or_default();
        *wallet_day = DayUse { day, amount: wallet_day.used_on(day).saturating_add(amount) };
        if policy.approval_threshold.is_some_and(|threshold| amount >= threshold) {
            WithdrawalState::PendingApproval
        } else {
            WithdrawalState::Requested
        }
    }

    pub(crate) fn approve_withdrawal(
        &mut self,
        withdrawal: WithdrawalId,
        operator: Option<&str>,
        events: &mut Vec<Event>,
    ) -> Outcome {
        // Approval is personal: it needs an operator's name (a certificate's), not a token.
        let Some(operator) = operator else { return Outcome::Rejected(Reject::InvalidOperator) };
        let Some(index) = withdrawal.checked_sub(1).map(|i| i as usize).filter(|&i| i < self.withdrawals.len()) else {
            return Outcome::Rejected(Reject::UnknownWithdrawal);
        };
        let state = self.withdrawals[index].state;
        if state != WithdrawalState::PendingApproval {
            return Outcome::Rejected(Reject::WithdrawalStateConflict);
        }
        let approvals = self.controls.approvals.entry(withdrawal).or_default();
        if approvals.iter().any(|name| name == operator) {
            return Outcome::Duplicate(Summary::WithdrawalUpdated(withdrawal, state));
        }
        approvals.push(operator.to_string());
        if approvals.len() < APPROVALS_NEEDED {
            return Outcome::Applied(Summary::WithdrawalUpdated(withdrawal, state));
        }
        self.controls.approvals.remove(&withdrawal);
        let record = &mut self.withdrawals[index];
        record.state = WithdrawalState::Requested;
        let account = record.account;
        self.emit(events, EventKind::Withdrawal { withdrawal, account, state: WithdrawalState::Requested });
        Outcome::Applied(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Requested))
    }
}
