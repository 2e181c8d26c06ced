//! Money on an EVM chain, as the log records it: where each chain's deposit watcher has credited
//! up to, which nonce the hot wallet uses next, and for each withdrawal paid on chain the exact
//! signed transactions that may pay it.
//!
//! The order of events is the contract (format 3):
//! - `ChainDeposits` credits a contiguous range of blocks at once, and only if it starts right
//!   after the checkpoint and names the checkpoint's hash as its parent: a block range is
//!   credited once, whichever leader's watcher sends it, and a watcher on another fork cannot
//!   add to this one. Each deposit is also idempotent by `chain:tx:log_index`.
//! - `WithdrawalSigned` commits a transaction's bytes before anything is broadcast. The first
//!   attempt takes the chain's next nonce; every later attempt (a fee bump, or a cancel that
//!   pays nobody) reuses it, so at most one of them can be mined.
//! - `WithdrawalMined` names which attempt was mined (after the confirmations): a payment
//!   confirms the withdrawal (debit); a cancel, or a payment that reverted, fails it (refund).
//!   Nothing else ends a withdrawal that has attempts: a refund needs the evidence that its
//!   nonce is spent by a transaction that paid nothing.
//!
//! Must never: let two withdrawals share a nonce, accept an attempt with another nonce, credit a
//! block twice, or refund a withdrawal one of whose payments could still be mined.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::event::{Event, EventKind, Outcome, Summary, WithdrawalState};
use crate::reject::Reject;
use crate::types::{AccountId, AssetId, WithdrawalId, FEE_ACCOUNT};

/// Longest chain name.
pub const CHAIN_NAME_LEN_MAX: usize = 32;
/// Most deposits one `ChainDeposits` carries.
pub const CHAIN_DEPOSITS_MAX: usize = 256;
/// Most blocks one `ChainDeposits` covers.
pub const CHAIN_BLOCKS_MAX: u64 = 10_000;
/// Most transactions signed for one withdrawal (first, fee bumps, cancels).
pub const PAYMENT_ATTEMPTS_MAX: usize = 8;
/// Largest signed transaction kept, in bytes.
pub const RAW_TX_BYTES_MAX: usize = 2_048;

/// A 32-byte block or transaction hash.
pub type Hash32 = [u8; 32];

/// One chain's replicated progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    /// The hot wallet's next unused nonce.
    pub next_nonce: u64,
    /// The last block whose deposits are credited.
    pub checkpoint_block: u64,
    /// Its hash.
    pub checkpoint_hash: Hash32,
}

/// One deposit found on chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainDeposit {
    /// Who is credited (the owner of the deposit address).
    pub account: AccountId,
    /// What is credited.
    pub asset: AssetId,
    /// How much, in the asset's minor units.
    pub amount: u64,
    /// The transaction.
    pub tx: Hash32,
    /// The log's index in its block (for a native transfer, `u32::MAX`).
    pub log_index: u32,
}

/// One signed transaction that may pay (or cancel) a withdrawal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaymentAttempt {
    /// Its hash.
    pub hash: Hash32,
    /// Its exact bytes, as broadcast and re-broadcast.
    pub raw: Vec<u8>,
    /// A cancel: pays nobody, spends the nonce.
    pub cancel: bool,
}

/// A withdrawal paid on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPayment {
    /// The chain.
    pub chain: String,
    /// The nonce every attempt uses.
    pub nonce: u64,
    /// The attempts, oldest first.
    pub attempts: Vec<PaymentAttempt>,
    /// The attempt that was mined, once known.
    pub mined: Option<MinedAttempt>,
}

/// Which of a withdrawal's attempts the chain took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinedAttempt {
    /// Its hash.
    pub hash: Hash32,
    /// Its block.
    pub block: u64,
    /// Whether it paid the withdrawal (not a cancel, and did not revert).
    pub paid: bool,
}

/// Whether a chain name is 1 to `CHAIN_NAME_LEN_MAX` lower-case letters, digits or `-`.
pub fn chain_name_valid(chain: &str) -> bool {
    !chain.is_empty()
        && chain.len() <= CHAIN_NAME_LEN_MAX
        && chain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The deposit's key in the deposit table: `chain:0x<tx>:<log index>`.
pub fn deposit_key(chain: &str, tx: &Hash32, log_index: u32) -> String {
    let hex: String = tx.iter().map(|b| format!("{b:02x}")).collect();
    format!("{chain}:0x{hex}:{log_index}")
}

impl Engine {
    /// The chain's progress, if set up.
    pub fn chain(&self, chain: &str) -> Option<&ChainState> {
        self.chains.get(chain)
    }

    /// Every chain set up, by name.
    pub fn chains(&self) -> &BTreeMap<String, ChainState> {
        &self.chains
    }

    /// A withdrawal's chain payment, if it has one.
    pub fn chain_payment(&self, withdrawal: WithdrawalId) -> Option<&ChainPayment> {
        self.chain_payments.get(&withdrawal)
    }

    /// Every chain payment, by withdrawal.
    pub fn chain_payments(&self) -> &BTreeMap<WithdrawalId, ChainPayment> {
        &self.chain_payments
    }

    pub(crate) fn chain_setup(&mut self, chain: &str, next_nonce: u64, block: u64, hash: &Hash32) -> Outcome {
        if !chain_name_valid(chain) {
            return Outcome::Rejected(Reject::InvalidChain);
        }
        let state = ChainState { next_nonce, checkpoint_block: block, checkpoint_hash: *hash };
        match self.chains.get(chain) {
            Some(existing) if *existing == state => Outcome::Duplicate(Summary::ChainUpdated(block)),
            // Set up once: moving a checkpoint or a nonce by hand could credit or pay twice.
            Some(_) => Outcome::Rejected(Reject::ChainConflict),
            None => {
                self.chains.insert(chain.to_string(), state);
                Outcome::Applied(Summary::ChainUpdated(block))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn chain_deposits(
        &mut self,
        chain: &str,
        parent_hash: &Hash32,
        to_block: u64,
        to_hash: &Hash32,
        deposits: &[ChainDeposit],
        events: &mut Vec<Event>,
    ) -> Outcome {
        let Some(state) = self.chains.get(chain) else {
            return Outcome::Rejected(Reject::UnknownChain);
        };
        if to_block <= state.checkpoint_block {
            // Credited already (a new leader's watcher resending a range).
            return Outcome::Duplicate(Summary::ChainUpdated(state.checkpoint_block));
        }
        if *parent_hash != state.checkpoint_hash
            || to_block - state.checkpoint_block > CHAIN_BLOCKS_MAX
            || deposits.len() > CHAIN_DEPOSITS_MAX
        {
            return Outcome::Rejected(Reject::ChainConflict);
        }
        // Validate every deposit before crediting any: all or nothing. A key already credited, or
        // twice in this range, must name the same credit (else the command is refused: crediting
        // below must not meet a mismatch).
        let mut adding = vec![0u64; self.assets.len()];
        let mut in_range: BTreeMap<String, (AccountId, AssetId, u64)> = BTreeMap::new();
        for deposit in deposits {
            let key = deposit_key(chain, &deposit.tx, deposit.log_index);
            let credit = (deposit.account, deposit.asset, deposit.amount);
            let known = self.deposits.get(&key).map(|r| (r.account, r.asset, r.amount)).or(in_range.get(&key).copied());
            if known.is_some_and(|known| known != credit) {
                return Outcome::Rejected(Reject::DuplicateIdMismatch);
            }
            in_range.insert(key.clone(), credit);
            if deposit.account == FEE_ACCOUNT {
                return Outcome::Rejected(Reject::ReservedAccount);
            }
            if !self.accounts.contains_key(&deposit.account) {
                return Outcome::Rejected(Reject::UnknownAccount);
            }
            if deposit.asset as usize >= self.assets.len() {
                return Outcome::Rejected(Reject::UnknownAsset);
            }
            if deposit.amount == 0 {
                return Outcome::Rejected(Reject::ZeroQuantity);
            }
            if self.deposits.contains_key(&key) {
                continue;
            }
            let asset = deposit.asset as usize;
            let Some(sum) = adding[asset].checked_add(deposit.amount) else {
                return Outcome::Rejected(Reject::Overflow);
            };
            adding[asset] = sum;
            if self.assets[asset].deposited.checked_add(sum).is_none() {
                return Outcome::Rejected(Reject::Overflow);
            }
        }
        let fresh = deposits.iter().filter(|d| !self.deposits.contains_key(&deposit_key(chain, &d.tx, d.log_index)));
        if self.deposits.len() + fresh.count() > self.limits.deposits_max as usize {
            return Outcome::Rejected(Reject::DepositsLimit);
        }
        for deposit in deposits {
            let key = deposit_key(chain, &deposit.tx, deposit.log_index);
            // Validated above; a key twice in one range is credited once.
            let outcome = self.deposit(deposit.account, deposit.asset, deposit.amount, &key, events);
            assert!(matches!(outcome, Outcome::Applied(_) | Outcome::Duplicate(_)), "{outcome:?}");
        }
        let state = self.chains.get_mut(chain).expect("checked above");
        state.checkpoint_block = to_block;
        state.checkpoint_hash = *to_hash;
        Outcome::Applied(Summary::ChainUpdated(to_block))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn withdrawal_signed(
        &mut self,
        withdrawal: WithdrawalId,
        chain: &str,
        nonce: u64,
        attempt: u32,
        signed: &PaymentAttempt,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let index = match withdrawal.checked_sub(1).map(|i| i as usize).filter(|&i| i < self.withdrawals.len()) {
            Some(index) => index,
            None => return Outcome::Rejected(Reject::UnknownWithdrawal),
        };
        let Some(state) = self.chains.get(chain) else {
            return Outcome::Rejected(Reject::UnknownChain);
        };
        if signed.raw.is_empty() || signed.raw.len() > RAW_TX_BYTES_MAX {
            return Outcome::Rejected(Reject::InvalidChainText);
        }
        let record = &self.withdrawals[index];
        let updated = Summary::WithdrawalUpdated(withdrawal, WithdrawalState::Sent);
        match self.chain_payments.get(&withdrawal) {
            None => {
                // The first attempt: only of a requested withdrawal, only with the next nonce.
                if record.state != WithdrawalState::Requested {
                    return Outcome::Rejected(Reject::WithdrawalStateConflict);
                }
                if attempt != 0 || signed.cancel || nonce != state.next_nonce {
                    return Outcome::Rejected(Reject::NonceConflict);
                }
                let account = record.account;
                self.chains.get_mut(chain).expect("checked above").next_nonce =
                    nonce.checked_add(1).expect("a nonce never reaches 2^64");
                let record = &mut self.withdrawals[index];
                record.state = WithdrawalState::Sent;
                record.chain_tx = Some(hex0x(&signed.hash));
                let payment =
                    ChainPayment { chain: chain.to_string(), nonce, attempts: vec![signed.clone()], mined: None };
                self.chain_payments.insert(withdrawal, payment);
                self.emit(events, EventKind::Withdrawal { withdrawal, account, state: WithdrawalState::Sent });
                Outcome::Applied(updated)
            }
            Some(payment) => {
                let position = attempt as usize;
                if payment.attempts.get(position) == Some(signed) && payment.chain == chain && payment.nonce == nonce {
                    return Outcome::Duplicate(updated);
                }
                // Another attempt: same chain, same nonce, the next position, while not mined.
                if payment.chain != chain || payment.nonce != nonce || position != payment.attempts.len() {
                    return Outcome::Rejected(Reject::NonceConflict);
                }
                if payment.mined.is_some() || record.state != WithdrawalState::Sent {
                    return Outcome::Rejected(Reject::WithdrawalStateConflict);
                }
                if payment.attempts.len() >= PAYMENT_ATTEMPTS_MAX {
                    return Outcome::Rejected(Reject::WithdrawalsLimit);
                }
                if payment.attempts.iter().any(|a| a.hash == signed.hash) {
                    return Outcome::Rejected(Reject::NonceConflict);
                }
                self.chain_payments.get_mut(&withdrawal).expect("present").attempts.push(signed.clone());
                Outcome::Applied(updated)
            }
        }
    }

    pub(crate) fn withdrawal_mined(
        &mut self,
        withdrawal: WithdrawalId,
        hash: &Hash32,
        block: u64,
        reverted: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let Some(payment) = self.chain_payments.get(&withdrawal) else {
            return Outcome::Rejected(Reject::UnknownWithdrawal);
        };
        if let Some(mined) = &payment.mined {
            return if mined.hash == *hash {
                let state = self.withdrawals[withdrawal as usize - 1].state;
                Outcome::Duplicate(Summary::WithdrawalUpdated(withdrawal, state))
            } else {
                // One nonce, one mined transaction: a second is impossible on one chain.
                Outcome::Rejected(Reject::NonceConflict)
            };
        }
        let Some(attempt) = payment.attempts.iter().find(|a| a.hash == *hash) else {
            return Outcome::Rejected(Reject::NonceConflict);
        };
        // A cancel pays nobody, and a reverted payment paid nobody: either way the nonce is
        // spent, so no attempt can be mined any more and the refund is safe.
        let paid = !attempt.cancel && !reverted;
        let payment = self.chain_payments.get_mut(&withdrawal).expect("present");
        payment.mined = Some(MinedAttempt { hash: *hash, block, paid });
        self.withdrawals[withdrawal as usize - 1].chain_tx = Some(hex0x(hash));
        let outcome =
            if paid { self.settle_confirmed(withdrawal, events) } else { self.settle_failed(withdrawal, events) };
        assert!(matches!(outcome, Outcome::Applied(_)), "a signed withdrawal is in Sent: {outcome:?}");
        outcome
    }
}

/// `0x` and lower-case hex.
pub(crate) fn hex0x(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{hex}")
}
