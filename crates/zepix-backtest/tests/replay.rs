//! The replay through a real kernel (built-in plugins, paper venue): what the equity curve says
//! between trades.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::collections::BTreeMap;
use std::sync::Arc;

use zepix_backtest::{FillRule, Replay, ScratchStore};
use zepix_engine::risk::RiskGate;
use zepix_engine::{EngineMetrics, Kernel, KernelConfig, PluginConfig, Registry, Services, TradingState};
use zepix_model::{Feed, Money, PluginId, Symbol, SymbolTable, TestClock, Timeframe};
use zepix_venue::{PaperConfig, PaperVenue};

#[test]
fn when_flat_after_a_close_the_equity_is_the_balance() {
    let start = "2024-01-01T00:00:00Z".parse().unwrap();
    let bars = zepix_data::generate(5_000, 3, start);
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::new(start);
    let symbols = SymbolTable::default();
    let venue = PaperVenue::new(PaperConfig::default(), symbols.clone());
    let risk = RiskGate::new(zepix_engine::RiskConfig::default(), TradingState::Active);
    let store = Arc::new(ScratchStore::new(tmp.path().to_path_buf()));
    let services = Services::new(Arc::new(clock.clone()), Box::new(venue), risk, symbols, store, 0, Money::ZERO);
    let configs: BTreeMap<PluginId, PluginConfig> = BTreeMap::new();
    let (registry, problems) = Registry::build(zepix_plugins::builtins(), Vec::new(), &configs);
    assert!(problems.is_empty(), "{problems:?}");
    let metrics = Arc::new(EngineMetrics::default());
    let mut kernel = Kernel::new(&KernelConfig::default(), registry, services, metrics).unwrap();
    kernel.start(&BTreeMap::new());
    let feed = Feed::new(Symbol::new("BTCUSDT").unwrap(), Timeframe::M1);
    let run = Replay::new(kernel, clock, feed, FillRule::Close, None).run(&bars).unwrap();

    assert!(run.trades.len() > 20, "the strategy should trade: {}", run.trades.len());
    // A point where the equity moved (every bar a position is open), none on flat bars in
    // between, and the last bar's.
    let step = Timeframe::M1.duration();
    assert!(run.equity.len() < bars.len() * 2 / 3, "{} points for {} bars", run.equity.len(), bars.len());
    assert_eq!(run.equity.last().unwrap().time, bars.last().unwrap().time + step);
    assert!(run.equity.windows(2).all(|w| w[0].time < w[1].time));
    // A change comes right after the last bar before it: a line through the points draws flat
    // stretches flat.
    for w in run.equity.windows(2).filter(|w| w[0].equity != w[1].equity) {
        assert_eq!(w[1].time - w[0].time, step, "{:?}", w);
    }
    let equity_at = |t| run.equity.iter().rev().find(|p| p.time <= t).unwrap().equity;
    // Long only, and an exit bar never enters: right after each close the book is flat, so the
    // equity is the starting balance plus every P&L so far, and stays so until the next entry.
    let mut realized = Money::from_decimal(PaperConfig::default().balance);
    for (i, trade) in run.trades.iter().enumerate() {
        realized += trade.pnl;
        assert_eq!(equity_at(trade.closed_at), realized, "at {}", trade.closed_at);
        let next_entry = run.trades.get(i + 1).map_or(bars.last().unwrap().time + step, |t| t.position.opened_at);
        assert_eq!(equity_at(next_entry), realized, "flat until {next_entry}");
    }
}
