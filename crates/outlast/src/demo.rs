//! `outlast demo`: the engine on its own, telling one short story on the terminal.
//!
//! It shows what the engine guarantees — locking, matching, fees, idempotent retries, stable
//! rejections, the withdrawal life cycle, and snapshot/restore with equal digests — with real
//! asset precisions. It is a tour, not a server: nothing is persisted.

use std::process::ExitCode;

use outlast_engine::{
    AccountAction, AccountId, AccountRequest, AssetId, ClientId, Command, CommandBody, Engine, Event, Limits,
    MarketSpec, OrderKind, OrderSpec, Outcome, Side, StpMode, Summary, TimeInForce,
};

const BTC: AssetId = 0;
const USDT: AssetId = 1;
const ALICE: AccountId = 1001;
const BOB: AccountId = 1002;
/// Both assets use 8 decimals here; a price is USDT minor units per whole BTC.
const SCALE: u64 = 100_000_000;

struct Demo {
    engine: Engine,
    now_ms: u64,
    events: Vec<Event>,
}

impl Demo {
    fn apply(&mut self, body: CommandBody) -> Outcome {
        self.now_ms += 7;
        self.events.clear();
        self.engine.apply(&Command { ts_ms: self.now_ms, body, operator: None }, &mut self.events)
    }

    fn request(&mut self, account: AccountId, id: &str, action: AccountAction) -> Outcome {
        let request_id = ClientId::new(id).expect("demo ids are valid");
        self.apply(CommandBody::Account(AccountRequest { account, request_id, request_ts_ms: self.now_ms, action }))
    }

    fn order(&mut self, account: AccountId, id: &str, side: Side, price: u64, qty: u64) -> Outcome {
        let kind = OrderKind::Limit { price, qty, tif: TimeInForce::Gtc };
        self.request(
            account,
            id,
            AccountAction::PlaceOrder(OrderSpec { market: 0, side, kind, stp: StpMode::ExpireMaker }),
        )
    }

    fn show(&self, what: &str, outcome: Outcome) {
        let text = match outcome {
            Outcome::Applied(summary) => format!("applied    {summary:?}"),
            Outcome::Duplicate(summary) => format!("duplicate  {summary:?} (nothing changed)"),
            Outcome::Rejected(reject) => format!("rejected   {} (code {})", reject.name(), reject.code()),
        };
        println!("  {what:<44} {text}  [{} events]", self.events.len());
    }

    fn balances(&self) {
        for (name, account) in [("alice", ALICE), ("bob", BOB), ("fees", outlast_engine::FEE_ACCOUNT)] {
            let btc = self.engine.balance(account, BTC).unwrap_or_default();
            let usdt = self.engine.balance(account, USDT).unwrap_or_default();
            println!(
                "    {name:<6} BTC {} (+{} locked)   USDT {} (+{} locked)",
                decimal(btc.available),
                decimal(btc.locked),
                decimal(usdt.available),
                decimal(usdt.locked)
            );
        }
    }
}

fn decimal(minor: u64) -> String {
    format!("{}.{:08}", minor / SCALE, minor % SCALE)
}

pub fn run() -> ExitCode {
    let mut d = Demo { engine: Engine::new(Limits::default()), now_ms: 1_767_225_600_000, events: Vec::new() };
    println!("Outlast engine demo: one replica's state machine, applied command by command.\n");
    println!("Setup");
    d.apply(CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 });
    d.apply(CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 8 });
    let spec = MarketSpec {
        symbol: "BTCUSDT".into(),
        base: BTC,
        quote: USDT,
        tick_size: SCALE / 100,    // 0.01 USDT
        lot_size: SCALE / 100_000, // 0.00001 BTC
        min_notional: 5 * SCALE,   // 5 USDT
        maker_fee_ppm: 1_000,      // 0.1 %
        taker_fee_ppm: 1_000,
    };
    let outcome = d.apply(CommandBody::CreateMarket(spec));
    d.show("create market BTCUSDT", outcome);
    for (account, asset, amount, tx) in [(ALICE, BTC, 2 * SCALE, "btc-tx-1"), (BOB, USDT, 150_000 * SCALE, "usdt-tx-7")]
    {
        d.apply(CommandBody::CreateAccount { account });
        let outcome = d.apply(CommandBody::Deposit { account, asset, amount, chain_tx: tx.into() });
        d.show(&format!("deposit {tx} to {account}"), outcome);
    }
    let outcome = d.apply(CommandBody::Deposit {
        account: BOB,
        asset: USDT,
        amount: 150_000 * SCALE,
        chain_tx: "usdt-tx-7".into(),
    });
    d.show("the chain watcher reports usdt-tx-7 again", outcome);
    d.balances();

    println!("\nTrading");
    let outcome = d.order(ALICE, "alice-ask-1", Side::Sell, 65_000 * SCALE, SCALE);
    d.show("alice sells 1 BTC at 65000", outcome);
    let outcome = d.order(ALICE, "alice-ask-1", Side::Sell, 65_000 * SCALE, SCALE);
    d.show("alice's client retries the same order", outcome);
    let outcome = d.order(BOB, "bob-bid-1", Side::Buy, 65_010 * SCALE + SCALE / 1_000, SCALE / 2);
    d.show("bob bids 65010.001 (off tick)", outcome);
    let outcome = d.order(BOB, "bob-bid-1", Side::Buy, 65_010 * SCALE, SCALE / 2);
    d.show("bob buys 0.5 BTC up to 65010", outcome);
    d.balances();
    let outcome = d.order(BOB, "bob-bid-2", Side::Buy, 70_000 * SCALE, 10 * SCALE);
    d.show("bob bids for 10 BTC he cannot pay for", outcome);

    println!("\nWithdrawal");
    let action = AccountAction::RequestWithdrawal { asset: USDT, amount: 10_000 * SCALE, address: "0xa11ce".into() };
    let outcome = d.request(ALICE, "alice-w-1", action);
    d.show("alice withdraws 10000 USDT", outcome);
    let Some(Summary::WithdrawalRequested(id)) = outcome.summary() else { return ExitCode::FAILURE };
    let outcome = d.apply(CommandBody::WithdrawalSent { withdrawal: id, chain_tx: "0xout1".into() });
    d.show("operator broadcasts it", outcome);
    let outcome = d.apply(CommandBody::WithdrawalConfirmed { withdrawal: id });
    d.show("operator confirms it", outcome);
    let outcome = d.apply(CommandBody::WithdrawalFailed { withdrawal: id });
    d.show("a late 'failed' report arrives", outcome);
    d.balances();

    println!("\nReplication check");
    let bytes = d.engine.snapshot();
    let restored = match Engine::restore(&bytes) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("restore failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("  snapshot: {} bytes", bytes.len());
    println!("  digest of the running engine:  {}", d.engine.digest_hex());
    println!("  digest of the restored engine: {}", restored.digest_hex());
    if restored.digest() != d.engine.digest() {
        return ExitCode::FAILURE;
    }
    println!("\nReplicated: `outlast node` runs this engine on every node of a cluster (see README.md).");
    ExitCode::SUCCESS
}
