//! Deposits and withdrawals: money entering and leaving the exchange.
//!
//! A deposit is credited once per chain transaction id, whatever the chain watcher re-reports.
//! A withdrawal is a small state machine (see `WithdrawalState`) whose transitions are the only
//! way its locked funds are debited (once, on Confirmed) or refunded (once, on Failed). Every
//! step is idempotent: repeating a step that already happened is a `Duplicate`.

use crate::engine::{DepositRecord, Engine, Withdrawal};
use crate::event::{Event, EventKind, Outcome, Summary, WithdrawalState};
use crate::reject::Reject;
use crate::types::{chain_text_valid, AccountId, AssetId, ClientId, WithdrawalId, FEE_ACCOUNT};

impl Engine {
    pub(crate) fn deposit(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
        chain_tx: &str,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if let Err(reject) = self.validate_deposit(account, asset, amount, chain_tx) {
            return Outcome::Rejected(reject);
        }
        if let Some(record) = self.deposits.get(chain_tx) {
            return if (record.account, record.asset, record.amount) == (account, asset, amount) {
                Outcome::Duplicate(Summary::Deposited(record.id))
            } else {
                Outcome::Rejected(Reject::DuplicateIdMismatch)
            };
        }
        if self.deposits.len() as u64 >= self.limits.deposits_max {
            return Outcome::Rejected(Reject::DepositsLimit);
        }
        let total = &mut self.assets[asset as usize].deposited;
        let Some(new_total) = total.checked_add(amount) else {
            return Outcome::Rejected(Reject::Overflow);
        };
        // The asset total bounds every balance, so crediting the account cannot overflow now.
        *total = new_total;
        let id = self.next_deposit_id;
        self.next_deposit_id += 1;
        self.deposits.insert(chain_tx.to_string(), DepositRecord { id, account, asset, amount });
        self.credit(account, asset, amount);
        self.emit(events, EventKind::Deposit { deposit: id, account, asset, amount });
        Outcome::Applied(Summary::Deposited(id))
    }

    fn validate_deposit(&self, account: AccountId, asset: AssetId, amount: u64, chain_tx: &str) -> Result<(), Reject> {
        if account == FEE_ACCOUNT {
            return Err(Reject::ReservedAccount);
        }
        if !self.accounts.contains_key(&account) {
            return Err(Reject::UnknownAccount);
        }
        if asset as usize >= self.assets.len() {
            return Err(Reject::UnknownAsset);
        }
        if amount == 0 {
            return Err(Reject::ZeroQuantity);
        }
        if !chain_text_valid(chain_tx) {
            return Err(Reject::InvalidChainText);
        }
        Ok(())
    }

    /// Validates a withdrawal request (the account exists and is not the fee account).
    pub(crate) fn validate_withdrawal(
        &self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
        address: &str,
    ) -> Result<(), Reject> {
        if asset as usize >= self.assets.len() {
            return Err(Reject::UnknownAsset);
        }
        if self.withdrawals_paused.contains(&asset) {
            return Err(Reject::WithdrawalsPaused);
        }
        if amount == 0 {
            return Err(Reject::ZeroQuantity);
        }
        if !chain_text_valid(address) {
            return Err(Reject::InvalidChainText);
        }
        if self.accounts[&account].balance(asset).available < amount {
            return Err(Reject::InsufficientFunds);
        }
        if self.withdrawals.len() as u64 >= self.limits.withdrawals_max {
            return Err(Reject::WithdrawalsLimit);
        }
        self.check_withdrawal_controls(account, asset, amount, address)
    }

    /// Locks the funds and records the withdrawal. Validated by `validate_withdrawal`.
    pub(crate) fn execute_withdrawal(
        &mut self,
        account: AccountId,
        request_id: ClientId,
        asset: AssetId,
        amount: u64,
        address: &str,
        events: &mut Vec<Event>,
    ) -> Summary {
        let id = self.withdrawals.len() as u64 + 1;
        self.lock(account, asset, amount);
        // Requested, or waiting for approval when the asset's controls say so.
        let state = self.count_withdrawal(account, asset, amount);
        self.withdrawals.push(Withdrawal {
            id,
            account,
            request_id,
            asset,
            amount,
            address: address.to_string(),
            state,
            chain_tx: None,
            requested_ms: self.now_ms,
        });
        self.emit(events, EventKind::Withdrawal { withdrawal: id, account, state });
        Summary::WithdrawalRequested(id)
    }

    fn withdrawal_index(&self, withdrawal: WithdrawalId) -> Result<usize, Reject> {
        let index = withdrawal.checked_sub(1).ok_or(Reject::UnknownWithdrawal)? as usize;
        if index < self.withdrawals.len() {
            Ok(index)
        } else {
            Err(Reject::UnknownWithdrawal)
        }
    }

    pub(crate) fn withdrawal_sent(
        &mut self,
        withdrawal: WithdrawalId,
        chain_tx: &str,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let index = match self.withdrawal_index(withdrawal) {
            Ok(index) => index,
            Err(reject) => return Outcome::Rejected(reject),
        };
        if !chain_text_valid(chain_tx) {
            return Outcome::Rejected(Reject::InvalidChainText);
        }
        let record = &self.withdrawals[index];
        let same_tx = record.chain_tx.as_deref() == Some(chain_tx);
        match record.state {
            WithdrawalState::Requested => {}
            WithdrawalState::Sent | WithdrawalState::Confirmed if same_tx => {
                return Outcome::Duplicate(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Sent));
            }
            _ => return Outcome::Rejected(Reject::WithdrawalStateConflict),
        }
        let account = record.account;
        let record = &mut self.withdrawals[index];
        record.state = WithdrawalState::Sent;
        record.chain_tx = Some(chain_tx.to_string());
        self.emit(events, EventKind::Withdrawal { withdrawal, account, state: WithdrawalState::Sent });
        Outcome::Applied(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Sent))
    }

    pub(crate) fn withdrawal_confirmed(&mut self, withdrawal: WithdrawalId, events: &mut Vec<Event>) -> Outcome {
        if let Err(reject) = self.withdrawal_index(withdrawal) {
            return Outcome::Rejected(reject);
        }
        // Paid on chain by the processor: only its mined transaction settles it (see `chain`).
        if self.chain_payments.contains_key(&withdrawal) {
            return Outcome::Rejected(Reject::WithdrawalStateConflict);
        }
        self.settle_confirmed(withdrawal, events)
    }

    /// Confirms a withdrawal in Sent (debits its locked funds); a duplicate if confirmed.
    pub(crate) fn settle_confirmed(&mut self, withdrawal: WithdrawalId, events: &mut Vec<Event>) -> Outcome {
        let index = match self.withdrawal_index(withdrawal) {
            Ok(index) => index,
            Err(reject) => return Outcome::Rejected(reject),
        };
        let record = &self.withdrawals[index];
        match record.state {
            WithdrawalState::Sent => {}
            WithdrawalState::Confirmed => {
                return Outcome::Duplicate(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Confirmed));
            }
            // Never confirm what was not sent, and never pay what was refunded.
            WithdrawalState::Requested | WithdrawalState::Failed | WithdrawalState::PendingApproval => {
                return Outcome::Rejected(Reject::WithdrawalStateConflict);
            }
        }
        let (account, asset, amount) = (record.account, record.asset, record.amount);
        self.withdrawals[index].state = WithdrawalState::Confirmed;
        self.debit_locked(account, asset, amount);
        let withdrawn = &mut self.assets[asset as usize].withdrawn;
        *withdrawn = withdrawn.checked_add(amount).expect("withdrawn never exceeds deposited");
        assert!(self.assets[asset as usize].withdrawn <= self.assets[asset as usize].deposited);
        self.emit(events, EventKind::Withdrawal { withdrawal, account, state: WithdrawalState::Confirmed });
        Outcome::Applied(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Confirmed))
    }

    pub(crate) fn withdrawal_failed(&mut self, withdrawal: WithdrawalId, events: &mut Vec<Event>) -> Outcome {
        if let Err(reject) = self.withdrawal_index(withdrawal) {
            return Outcome::Rejected(reject);
        }
        // A transaction for it is signed: refunding is safe only once a cancel of its nonce is
        // mined (see `chain`), never on an operator's word.
        if self.chain_payments.contains_key(&withdrawal) {
            return Outcome::Rejected(Reject::WithdrawalStateConflict);
        }
        self.settle_failed(withdrawal, events)
    }

    /// Fails a withdrawal in Requested or Sent (refunds its locked funds); a duplicate if failed.
    pub(crate) fn settle_failed(&mut self, withdrawal: WithdrawalId, events: &mut Vec<Event>) -> Outcome {
        let index = match self.withdrawal_index(withdrawal) {
            Ok(index) => index,
            Err(reject) => return Outcome::Rejected(reject),
        };
        let record = &self.withdrawals[index];
        match record.state {
            WithdrawalState::Requested | WithdrawalState::Sent | WithdrawalState::PendingApproval => {}
            WithdrawalState::Failed => {
                return Outcome::Duplicate(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Failed));
            }
            // A paid withdrawal is never refunded.
            WithdrawalState::Confirmed => return Outcome::Rejected(Reject::WithdrawalStateConflict),
        }
        let (account, asset, amount) = (record.account, record.asset, record.amount);
        // An operator who fails a withdrawal waiting for approval rejects it.
        self.controls.approvals.remove(&withdrawal);
        self.withdrawals[index].state = WithdrawalState::Failed;
        self.unlock(account, asset, amount);
        self.emit(events, EventKind::Withdrawal { withdrawal, account, state: WithdrawalState::Failed });
        Outcome::Applied(Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Failed))
    }
}
