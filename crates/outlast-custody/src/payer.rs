//! The withdrawal payer. The order of events is the contract:
//! 1. sign the payment with the chain's next nonce and commit the bytes (`WithdrawalSigned`);
//! 2. only once that is applied, broadcast them — to several upstreams;
//! 3. until one attempt is mined with its confirmations, broadcast every attempt again now and
//!    then (a provider may drop it; a new leader starts here, from the committed bytes), and
//!    after `bump_after_ms` sign a fee bump with the same nonce (committed first, likewise);
//! 4. commit which attempt was mined (`WithdrawalMined`): a payment confirms, a revert fails.
//!
//! A withdrawal whose address is not an address fails before anything is signed (nothing can
//! be mined for it). Must never: broadcast bytes that are not applied in the log, sign with a
//! nonce the log did not reserve, or settle on one upstream's word.

use std::time::{Duration, Instant};

use outlast_chain::tx::{fees_of, Payment, Unsigned, NATIVE_TRANSFER_GAS};
use outlast_chain::{Address, B256};
use outlast_cluster::Dialer;
use outlast_engine::{
    ChainPayment, CommandBody, Outcome, PaymentAttempt, Reject, Withdrawal, WithdrawalId, WithdrawalState,
    PAYMENT_ATTEMPTS_MAX,
};

use crate::custody::{Custody, Sending};
use crate::reads;
use crate::units;

/// Most withdrawals signed in one step.
pub const SIGNED_PER_STEP_MAX: usize = 16;
/// Most payments signed and not yet mined. Each later nonce waits for the ones before it on
/// chain, so past this a stuck payment only piles up work (and re-broadcasts) behind it.
pub const IN_FLIGHT_MAX: usize = 64;
/// Gas for an ERC-20 transfer (a plain token uses about 35,000 to 65,000).
pub const TOKEN_TRANSFER_GAS: u64 = 100_000;
/// How often a payment not yet mined is broadcast again, in polls.
const REBROADCAST_POLLS: u32 = 5;

impl<D: Dialer> Custody<D> {
    pub(crate) async fn pay(&mut self) -> Result<(), String> {
        let chain = self.config.name.clone();
        let (requested, unmined, next_nonce) = {
            let engine = self.writer.reader.read();
            let Some(state) = engine.chain(&chain) else { return Ok(()) };
            let on_this_chain = |w: &Withdrawal| {
                let symbol = &engine.assets()[w.asset as usize].symbol;
                self.config.assets.iter().any(|a| &a.symbol == symbol)
            };
            let unmined: Vec<(Withdrawal, ChainPayment)> = engine
                .chain_payments()
                .iter()
                .filter(|(_, p)| p.chain == chain && p.mined.is_none())
                .map(|(id, p)| (engine.withdrawal(*id).expect("a payment's withdrawal exists").clone(), p.clone()))
                .collect();
            let requested: Vec<Withdrawal> = engine
                .withdrawals()
                .iter()
                .filter(|w| w.state == WithdrawalState::Requested && on_this_chain(w))
                .take(SIGNED_PER_STEP_MAX.min(IN_FLIGHT_MAX.saturating_sub(unmined.len())))
                .cloned()
                .collect();
            (requested, unmined, state.next_nonce)
        };
        let mut errors = Vec::new();
        for (withdrawal, payment) in &unmined {
            if let Err(why) = self.follow(withdrawal, payment).await {
                errors.push(format!("withdrawal {}: {why}", withdrawal.id));
            }
        }
        if let Err(why) = self.sign_new(&requested, next_nonce).await {
            errors.push(why);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Settles a signed withdrawal if one of its attempts is mined and final; else re-broadcasts,
    /// and bumps the fee when it has waited too long.
    async fn follow(&mut self, withdrawal: &Withdrawal, payment: &ChainPayment) -> Result<(), String> {
        for attempt in &payment.attempts {
            let hash = B256::from(attempt.hash);
            let Some(receipt) = reads::receipt(&self.pool, hash).await? else { continue };
            let final_at = receipt.block + self.config.confirmations - 1;
            if self.pool.agreed_tip().is_none_or(|tip| tip < final_at) {
                return Ok(()); // mined, not final yet: nothing to send
            }
            let block = reads::block(&self.pool, receipt.block).await?;
            if block.map(|b| b.hash) != Some(receipt.block_hash) {
                return Err(format!("{hash}'s block {} is not on the agreed chain yet", receipt.block));
            }
            let mined = CommandBody::WithdrawalMined {
                withdrawal: withdrawal.id,
                hash: attempt.hash,
                block: receipt.block,
                reverted: !receipt.success,
            };
            return match self.commit(mined).await? {
                Outcome::Applied(summary) | Outcome::Duplicate(summary) => {
                    tracing::info!(chain = self.config.name, withdrawal = withdrawal.id, tx = %hash, ?summary, "withdrawal settled");
                    self.sending.remove(&withdrawal.id);
                    Ok(())
                }
                Outcome::Rejected(reject) => Err(format!("settling with {hash}: {reject}")),
            };
        }
        // Nothing mined: send again now and then, and bump the fee when it is overdue.
        let now = Instant::now();
        let poll = Duration::from_millis(self.config.poll_ms);
        let sending =
            *self.sending.entry(withdrawal.id).or_insert(Sending { since: now, last: now - poll * REBROADCAST_POLLS });
        let overdue = now.duration_since(sending.since) >= Duration::from_millis(self.config.bump_after_ms);
        // One place is kept for a cancel.
        if overdue && payment.attempts.len() < PAYMENT_ATTEMPTS_MAX - 1 {
            return self.bump(withdrawal, payment).await;
        }
        if now.duration_since(sending.last) >= poll * REBROADCAST_POLLS {
            self.sending.insert(withdrawal.id, Sending { last: now, ..sending });
            for attempt in payment.attempts.iter().rev() {
                self.broadcast(withdrawal.id, attempt).await;
            }
        }
        Ok(())
    }

    /// Signs the same payment with the same nonce and higher fees, commits it, broadcasts it.
    async fn bump(&mut self, withdrawal: &Withdrawal, payment: &ChainPayment) -> Result<(), String> {
        let newest = payment.attempts.last().expect("a payment has an attempt");
        let (old_max, old_tip) = fees_of(&newest.raw)?;
        let ceiling = self.fee_ceiling();
        let (max_now, tip_now) = reads::fees(&self.pool, ceiling).await?;
        // At least 25 % more than before (nodes replace a pending transaction for 10 % more).
        let raise = |old: u128| old.saturating_add(old / 4).saturating_add(1);
        let tip = raise(old_tip).max(tip_now);
        let max_fee = raise(old_max).max(max_now).max(tip);
        if max_fee > ceiling {
            return Err(format!("a fee bump to {max_fee} wei per gas would pass the ceiling of {ceiling}"));
        }
        let unsigned = self.unsigned(withdrawal, payment.nonce, max_fee, tip)?;
        let signed = self.wallet.sign(&unsigned)?;
        let attempt = PaymentAttempt { hash: signed.hash.0, raw: signed.raw, cancel: false };
        let position = payment.attempts.len() as u32;
        self.commit_and_send(withdrawal.id, payment.nonce, position, attempt).await.map(|_| ())
    }

    /// Signs requested withdrawals with the next nonces, one after another.
    async fn sign_new(&mut self, requested: &[Withdrawal], mut nonce: u64) -> Result<(), String> {
        if requested.is_empty() {
            return Ok(());
        }
        let (max_fee, tip) = reads::fees(&self.pool, self.fee_ceiling()).await?;
        for withdrawal in requested {
            let unsigned = match self.unsigned(withdrawal, nonce, max_fee, tip) {
                Ok(unsigned) => unsigned,
                Err(why) => {
                    // Nothing was signed for it, so nothing can be mined: the refund is safe.
                    tracing::warn!(chain = self.config.name, withdrawal = withdrawal.id, "refused: {why}");
                    let failed = CommandBody::WithdrawalFailed { withdrawal: withdrawal.id };
                    self.commit(failed).await?;
                    continue;
                }
            };
            let signed = self.wallet.sign(&unsigned)?;
            let attempt = PaymentAttempt { hash: signed.hash.0, raw: signed.raw, cancel: false };
            if !self.commit_and_send(withdrawal.id, nonce, 0, attempt).await? {
                return Ok(()); // the state moved (another leader's commit): next step
            }
            nonce += 1;
        }
        Ok(())
    }

    /// Commits an attempt, then (only if applied) broadcasts it. False if the log refused it
    /// because the state moved.
    async fn commit_and_send(
        &mut self,
        withdrawal: WithdrawalId,
        nonce: u64,
        position: u32,
        attempt: PaymentAttempt,
    ) -> Result<bool, String> {
        let body = CommandBody::WithdrawalSigned {
            withdrawal,
            chain: self.config.name.clone(),
            nonce,
            attempt: position,
            signed: attempt.clone(),
        };
        match self.commit(body).await? {
            Outcome::Applied(_) => {
                let now = Instant::now();
                self.sending.insert(withdrawal, Sending { since: now, last: now });
                tracing::info!(chain = self.config.name, withdrawal, nonce, position, tx = %B256::from(attempt.hash), "withdrawal signed");
                self.broadcast(withdrawal, &attempt).await;
                if planted_settle_unmined() {
                    let block = self.pool.agreed_tip().unwrap_or(0);
                    let mined = CommandBody::WithdrawalMined { withdrawal, hash: attempt.hash, block, reverted: false };
                    self.commit(mined).await?;
                }
                Ok(true)
            }
            // Committed before (a retry): the follow step sends it.
            Outcome::Duplicate(_) => Ok(true),
            Outcome::Rejected(Reject::NonceConflict | Reject::WithdrawalStateConflict) => Ok(false),
            Outcome::Rejected(reject) => Err(format!("withdrawal {withdrawal}: {reject}")),
        }
    }

    async fn broadcast(&self, withdrawal: WithdrawalId, attempt: &PaymentAttempt) {
        if let Err(why) = self.pool.broadcast(&attempt.raw).await {
            // Retried by the follow step; "nonce used" is settled there from the receipts.
            tracing::debug!(chain = self.config.name, withdrawal, tx = %B256::from(attempt.hash), "broadcast: {why}");
        }
    }

    /// The most a payment may offer per gas, in wei.
    fn fee_ceiling(&self) -> u128 {
        u128::from(self.config.fee_per_gas_max_gwei) * 1_000_000_000
    }

    /// The payment transaction for `withdrawal` with `nonce` and these fees.
    fn unsigned(&self, withdrawal: &Withdrawal, nonce: u64, max_fee: u128, tip: u128) -> Result<Unsigned, String> {
        let to = parse_address(&withdrawal.address)?;
        let (symbol, ledger_decimals) = {
            let engine = self.writer.reader.read();
            let asset = &engine.assets()[withdrawal.asset as usize];
            (asset.symbol.clone(), asset.decimals)
        };
        let asset =
            self.config.assets.iter().find(|a| a.symbol == symbol).ok_or(format!("{symbol} is not on this chain"))?;
        let scale =
            units::scale(asset.decimals, ledger_decimals).ok_or("the chain has fewer decimals than the ledger")?;
        let amount = units::to_chain(withdrawal.amount, scale).ok_or("the amount overflows on chain")?;
        let (payment, gas_limit) = match asset.token {
            Some(token) => (Payment::Erc20 { token, to, amount }, TOKEN_TRANSFER_GAS),
            None => (Payment::Native { to, wei: amount }, NATIVE_TRANSFER_GAS),
        };
        Ok(Unsigned {
            chain_id: self.config.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            payment,
        })
    }
}

/// A withdrawal's destination: `0x` and 40 hex digits, not the zero address.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let hex = text.strip_prefix("0x").filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let address: Address =
        hex.and_then(|h| h.parse().ok()).ok_or(format!("{text:?} is not an address (0x and 40 hex digits)"))?;
    if address.is_zero() {
        return Err("the zero address burns what it receives".into());
    }
    Ok(address)
}

/// THE PLANTED FAULT settle-unmined (feature `planted-faults`, when planted): a payment is
/// settled as paid as soon as it is broadcast, without its receipt; one a provider dropped is
/// then confirmed, never sent again, and never paid.
fn planted_settle_unmined() -> bool {
    #[cfg(feature = "planted-faults")]
    return outlast_cluster::planted::is(outlast_cluster::planted::Bug::SettleUnmined);
    #[cfg(not(feature = "planted-faults"))]
    false
}
