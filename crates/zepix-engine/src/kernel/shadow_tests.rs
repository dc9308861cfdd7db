//! Shadow mode in the kernel: virtual books beside the venue, broadcast, decisions, promotion.

use serde_json::json;
use zepix_model::Clock;

use super::*;
use crate::config::{EngineConfig, KernelConfig};
use crate::outcome::OutcomeStatus;
use crate::ports::Store;
use crate::testkit::{ScriptedPlugin, manifest, slot};

fn hybrid() -> KernelConfig {
    KernelConfig { engine: EngineConfig { mode: Mode::Hybrid, ..EngineConfig::default() }, ..KernelConfig::default() }
}

fn executor(id: &str, strategy: &str, mode: PluginMode) -> crate::registry::PluginSlot {
    let mut s = slot(manifest(id, strategy, &[]), Box::new(ScriptedPlugin::executor()));
    s.meta.mode = mode;
    s
}

type Engine = crate::testkit::Session;

/// Owners of the venue's open positions.
fn live_plugins(e: &Engine) -> Vec<String> {
    e.kernel.status().positions.iter().map(|p| p.plugin.to_string()).collect()
}

/// The virtual books' open positions: owner and entry.
fn book(e: &Engine) -> Vec<(String, String)> {
    let positions = e.kernel.services().shadow_positions();
    positions.iter().map(|p| (p.plugin.to_string(), p.entry_price.to_string())).collect()
}

#[test]
fn a_shadow_plugin_trades_the_same_signals_on_its_own_book() {
    let mut e = Engine::new(
        vec![executor("exec", "EXEC", PluginMode::Live), executor("exec_v2", "EXEC", PluginMode::Shadow)],
        &hybrid(),
    );
    let o = e.send(json!({"id": "e1", "strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000,
                          "sl": 1990, "tp": 2020, "lot": 0.1}));
    // Both own EXEC: the live one takes the signal, the shadow one sees it by broadcast.
    assert_eq!((o.status, o.plugin.as_ref().map(PluginId::as_str)), (OutcomeStatus::Executed, Some("exec")));
    assert_eq!(live_plugins(&e), ["exec"], "the venue holds the live plugin's position only");
    assert_eq!(book(&e), [("exec_v2".to_owned(), "2000".to_owned())]);
    let ops = e.store.ops();
    let live_orders: Vec<&str> =
        ops.iter().filter_map(|op| if let StoreOp::Order(o) = op { Some(o.plugin.as_str()) } else { None }).collect();
    assert_eq!(live_orders, ["exec"], "a shadow plugin never sends an order to the venue");
    let decided: Vec<(&str, &str, OutcomeStatus)> = ops
        .iter()
        .filter_map(|op| match op {
            StoreOp::ShadowDecision { signal_id, outcome, .. } => {
                Some((signal_id.as_str(), outcome.plugin.as_ref()?.as_str(), outcome.status))
            }
            _ => None,
        })
        .collect();
    assert_eq!(decided, [("e1", "exec_v2", OutcomeStatus::Executed)]);

    // The same price closes both at their stop: one live trade, one shadow trade.
    e.send(json!({"id": "m1", "type": "market", "symbol": "XAUUSD", "price": 1989}));
    assert!(live_plugins(&e).is_empty() && book(&e).is_empty());
    assert_eq!(e.kernel.status().realized_today.to_string(), "-100", "only the live loss counts for the day");
    let rows = e.store.shadow_rows().unwrap();
    assert_eq!((rows.live_trades.len(), rows.shadow_trades.len()), (1, 1));
    let report = crate::shadow::report(&rows);
    let c = &report.comparisons[0];
    assert_eq!((c.shadow.as_str(), c.live.as_str()), ("exec_v2", "exec"));
    assert_eq!((c.signals, c.agreed, c.both_filled), (1, 1, 1));
    assert_eq!(c.mean_fill_difference, Some(rust_decimal::Decimal::ZERO));
    let shadow = report.plugins.iter().find(|p| p.plugin.as_str() == "exec_v2").unwrap();
    assert_eq!((shadow.trades, shadow.net_pnl.to_string()), (1, "-100".to_owned()));
}

#[test]
fn promotion_sends_the_next_orders_to_the_venue() {
    let mut e = Engine::new(vec![executor("cand", "CAND", PluginMode::Shadow)], &hybrid());
    let entry = |id: &str, price: u32| json!({"id": id, "strategy": "CAND", "symbol": "XAUUSD", "side": "buy", "price": price, "lot": 0.1});
    // No live plugin owns CAND: the shadow plugin takes it, on its book.
    let o = e.send(entry("c1", 2000));
    assert_eq!(o.status, OutcomeStatus::Executed);
    assert!(live_plugins(&e).is_empty());
    assert_eq!(book(&e).len(), 1);

    let id = PluginId::new("cand").unwrap();
    let status = e.kernel.set_mode(&id, PluginMode::Live).unwrap();
    assert_eq!(status.mode, PluginMode::Live);
    e.send(entry("c2", 2001));
    assert_eq!(live_plugins(&e), ["cand"], "promoted: the next order reached the venue");
    assert_eq!(book(&e), [("cand".to_owned(), "2000".to_owned())], "the virtual position stays on its book");
    e.store.submit(e.kernel.take_ops());
    let stored = e.store.snapshot(e.clock.now()).unwrap();
    assert_eq!(stored.plugin_modes.get(&id), Some(&PluginMode::Live), "the choice survives a restart");
}

#[test]
fn modes_are_chosen_per_plugin_only_in_hybrid() {
    let mut e = Engine::new(vec![executor("cand", "CAND", PluginMode::Shadow)], &KernelConfig::default());
    let id = PluginId::new("cand").unwrap();
    assert_eq!(e.kernel.plugins()[0].mode, PluginMode::Live, "LIVE: every plugin trades live");
    let err = e.kernel.set_mode(&id, PluginMode::Shadow).unwrap_err().to_string();
    assert!(err.contains("the engine runs LIVE") && err.contains("HYBRID"), "{err}");
    let unknown = e.kernel.set_mode(&PluginId::new("nope").unwrap(), PluginMode::Live).unwrap_err();
    assert!(matches!(unknown, EngineError::UnknownPlugin(_)));

    let shadow_all = KernelConfig {
        engine: EngineConfig { mode: Mode::Shadow, ..EngineConfig::default() },
        ..KernelConfig::default()
    };
    let mut e = Engine::new(vec![executor("exec", "EXEC", PluginMode::Live)], &shadow_all);
    e.send(json!({"id": "s1", "strategy": "EXEC", "symbol": "XAUUSD", "side": "sell", "price": 2000, "lot": 0.1}));
    assert!(live_plugins(&e).is_empty(), "SHADOW: nothing reaches the venue");
    assert_eq!(book(&e).len(), 1);
}
