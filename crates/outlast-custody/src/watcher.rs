//! The deposit watcher: credits the blocks after the chain's checkpoint that have their
//! confirmations, as one `ChainDeposits` per step, read with agreement.
//!
//! A step reads each block's header and checks that they link, from the checkpoint's hash on:
//! if the first block's parent is not the checkpoint, the chain reorganised deeper than the
//! confirmations and the watcher stops crediting (loudly) rather than guess. A transfer whose
//! block is not one of the linked headers means the chain moved mid-step: nothing is sent, and
//! the next step reads again.
//!
//! Must never: credit a block with fewer than `confirmations`, credit on one upstream's word, or
//! skip a block (the engine takes a range only if it starts right after the checkpoint).

use std::collections::BTreeSet;

use outlast_chain::B256;
use outlast_cluster::Dialer;
use outlast_engine::{AssetId, ChainDeposit, ChainState, CommandBody, Outcome, CHAIN_DEPOSITS_MAX};

use crate::custody::Custody;
use crate::reads::{self, Transfer};
use crate::units;

/// Most blocks one step reads.
pub const BLOCKS_PER_STEP_MAX: u64 = 32;

/// An asset of this chain as the ledger knows it.
struct LedgerAsset {
    id: AssetId,
    token: Option<outlast_chain::Address>,
    scale: outlast_chain::U256,
}

impl<D: Dialer> Custody<D> {
    pub(crate) async fn credit_deposits(&mut self, state: &ChainState) -> Result<(), String> {
        let confirmations = if planted_credit_unconfirmed() { 1 } else { self.config.confirmations };
        let Some(tip) = self.pool.agreed_tip() else { return Err("no two upstreams report a head".into()) };
        // The newest block with `confirmations` blocks on it, its own included.
        let Some(safe) = (tip + 1).checked_sub(confirmations) else { return Ok(()) };
        let from = state.checkpoint_block + 1;
        if from > safe {
            return Ok(());
        }
        let mut to = safe.min(from + BLOCKS_PER_STEP_MAX - 1);
        let (assets, accounts) = {
            let engine = self.writer.reader.read();
            let mut assets = Vec::new();
            for asset in &self.config.assets {
                let Some(id) = engine.asset_id(&asset.symbol) else { continue };
                let ledger_decimals = engine.assets()[id as usize].decimals;
                let Some(scale) = units::scale(asset.decimals, ledger_decimals) else {
                    return Err(format!(
                        "{} has {} decimals on chain, fewer than the ledger's {ledger_decimals}",
                        asset.symbol, asset.decimals
                    ));
                };
                assets.push(LedgerAsset { id, token: asset.token, scale });
            }
            (assets, engine.account_ids())
        };
        self.refresh_addresses(&accounts);
        loop {
            let (to_hash, deposits) = self.read_range(state, from, to, &assets).await?;
            if deposits.len() > CHAIN_DEPOSITS_MAX && to > from {
                to = from + (to - from) / 2;
                continue;
            }
            if deposits.len() > CHAIN_DEPOSITS_MAX {
                return Err(format!("block {from} holds {} deposits, more than one command carries", deposits.len()));
            }
            let credited = deposits.len();
            let body = CommandBody::ChainDeposits {
                chain: self.config.name.clone(),
                parent_hash: state.checkpoint_hash,
                to_block: to,
                to_hash: to_hash.0,
                deposits,
            };
            return match self.commit(body).await? {
                Outcome::Applied(_) => {
                    if credited > 0 {
                        tracing::info!(chain = self.config.name, from, to, credited, "deposits credited");
                    }
                    Ok(())
                }
                Outcome::Duplicate(_) => Ok(()),
                Outcome::Rejected(reject) => Err(format!("blocks {from}..={to}: {reject}")),
            };
        }
    }

    /// The deposits in blocks `from..=to` and the hash of `to`.
    async fn read_range(
        &self,
        state: &ChainState,
        from: u64,
        to: u64,
        assets: &[LedgerAsset],
    ) -> Result<(B256, Vec<ChainDeposit>), String> {
        let mut parent = B256::from(state.checkpoint_hash);
        let mut hashes = BTreeSet::new();
        let mut linked = Vec::new();
        for number in from..=to {
            let block = reads::block(&self.pool, number).await?.ok_or(format!("block {number} is not there yet"))?;
            if block.parent != parent {
                return Err(if number == from {
                    format!(
                        "block {from}'s parent is {}, not the checkpoint {parent}: the chain reorganised deeper than \
                         {} confirmations; deposits stop until an operator looks",
                        block.parent, self.config.confirmations
                    )
                } else {
                    format!("block {number} does not follow block {}: the chain moved; reading again", number - 1)
                });
            }
            parent = block.hash;
            hashes.insert(block.hash);
            linked.push(block.hash);
        }
        let mut deposits = Vec::new();
        for asset in assets {
            let transfers: Vec<Transfer> = match asset.token {
                Some(token) => {
                    let mut all = Vec::new();
                    for hash in &linked {
                        all.extend(reads::token_transfers(&self.pool, token, *hash).await?);
                    }
                    all
                }
                None => {
                    let mut all = Vec::new();
                    for number in from..=to {
                        for transfer in reads::native_transfers(&self.pool, number).await? {
                            if !self.owners.contains_key(&transfer.to) {
                                continue;
                            }
                            // A native transfer that reverted moved nothing; one whose receipt
                            // the agreeing upstreams do not have yet is read again, never skipped
                            // (the range would be credited without it).
                            match reads::receipt(&self.pool, transfer.tx).await? {
                                Some(receipt) if receipt.success => all.push(transfer),
                                Some(_) => {}
                                None => {
                                    return Err(format!(
                                        "no agreed receipt yet for deposit {}: reading again",
                                        transfer.tx
                                    ))
                                }
                            }
                        }
                    }
                    all
                }
            };
            for transfer in transfers {
                let Some(&account) = self.owners.get(&transfer.to) else { continue };
                if !hashes.contains(&transfer.block_hash) {
                    return Err(format!(
                        "transfer {} is in a block off the chain just read: reading again",
                        transfer.tx
                    ));
                }
                let Some(amount) = units::to_ledger(transfer.amount, asset.scale) else {
                    return Err(format!("deposit {} of {} does not fit the ledger", transfer.tx, transfer.amount));
                };
                if amount == 0 {
                    tracing::debug!(tx = %transfer.tx, "a deposit below the ledger's unit is not credited");
                    continue;
                }
                deposits.push(ChainDeposit {
                    account,
                    asset: asset.id,
                    amount,
                    tx: transfer.tx.0,
                    log_index: transfer.log_index,
                });
            }
        }
        Ok((parent, deposits))
    }
}

/// THE PLANTED FAULT credit-unconfirmed (feature `planted-faults`, when planted): a block is
/// credited with one confirmation, whatever the configuration says.
fn planted_credit_unconfirmed() -> bool {
    #[cfg(feature = "planted-faults")]
    return outlast_cluster::planted::is(outlast_cluster::planted::Bug::CreditUnconfirmed);
    #[cfg(not(feature = "planted-faults"))]
    false
}
