//! The kernel tested as a trading day: a sequence of inputs with the result of each asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use zepix_model::{EventKind, PluginId, Timeframe};
use zepix_plugin::{Capability, Decision, HookDecision, Plugin, PluginContext, PluginResult, RiskCode};

use super::*;
use crate::config::KernelConfig;
use crate::outcome::OutcomeStatus;
use crate::risk::RiskConfig;
use crate::testkit::{ScriptedPlugin, manifest, slot};

fn start() -> DateTime<Utc> {
    "2026-03-02T10:00:00Z".parse().unwrap()
}

type Day = crate::testkit::Session;

fn executor(id: &str, strategy: &str, tfs: &[Timeframe]) -> crate::registry::PluginSlot {
    slot(manifest(id, strategy, tfs), Box::new(ScriptedPlugin::executor()))
}

#[test]
fn a_trading_day_golden_sequence() {
    let mut day = Day::new(vec![executor("exec", "EXEC", &[])], &KernelConfig::default());
    let o = day.send(json!({"id": "1", "strategy": "EXEC", "symbol": "OANDA:XAUUSD", "side": "buy", "price": 2000, "sl": 1990, "tp": 2020, "lot": 0.1}));
    assert_eq!(
        (o.status, o.plugin.as_ref().map(PluginId::as_str), o.orders.len()),
        (OutcomeStatus::Executed, Some("exec"), 1)
    );
    let status = day.kernel.status();
    assert_eq!(status.positions.len(), 1);
    assert_eq!(status.positions[0].entry_price.to_string(), "2000");

    let o = day.send(json!({"id": "2", "type": "market", "symbol": "XAUUSD", "price": 2010}));
    assert_eq!(o.status, OutcomeStatus::Applied);
    assert_eq!(day.kernel.status().account.unrealized.to_string(), "100");

    let o = day.send(json!({"id": "3", "type": "market", "symbol": "XAUUSD", "price": 2021}));
    assert_eq!(o.status, OutcomeStatus::Applied);
    let status = day.kernel.status();
    assert!(status.positions.is_empty(), "take profit closed it");
    assert_eq!(status.account.balance.to_string(), "10200");
    assert_eq!(status.realized_today.to_string(), "200");

    let o = day.send(json!({"id": "4", "strategy": "EXEC", "symbol": "XAUUSD", "side": "sell", "price": 2020, "sl": {"pips": 50}, "lot": 0.1}));
    assert_eq!(o.status, OutcomeStatus::Executed);
    assert_eq!(day.kernel.status().positions[0].sl.unwrap().to_string(), "2025", "50 pips of 0.1 above a sell");
    let o = day.send(json!({"id": "5", "strategy": "EXEC", "symbol": "XAUUSD", "action": "close", "price": 2015}));
    assert_eq!((o.status, o.closed.len()), (OutcomeStatus::Executed, 1));
    assert_eq!(day.kernel.status().account.balance.to_string(), "10250");

    let closes = day.events(EventKind::PositionClosed);
    assert_eq!(closes.len(), 2);
    assert!(closes[0].contains("take_profit"), "{}", closes[0]);
    assert!(closes[1].contains("(signal)"), "{}", closes[1]);
    let stored = day.store.signals();
    assert_eq!(stored.iter().map(|r| r.signal.id.as_str()).collect::<Vec<_>>(), ["1", "2", "3", "4", "5"]);
}

#[test]
fn reversal_closes_then_opens_the_other_side() {
    let mut day = Day::new(vec![executor("exec", "EXEC", &[])], &KernelConfig::default());
    day.send(json!({"strategy": "EXEC", "symbol": "EURUSD", "side": "buy", "price": "1.1000", "lot": 1}));
    let o = day.send(json!({"strategy": "EXEC", "symbol": "EURUSD", "action": "reverse", "side": "sell", "price": "1.1010", "lot": 1}));
    assert_eq!((o.status, o.closed.len(), o.orders.len()), (OutcomeStatus::Executed, 1, 1));
    let positions = day.kernel.status().positions;
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].side, zepix_model::Side::Sell);
    assert_eq!(day.kernel.status().account.realized.to_string(), "100");
}

#[test]
fn routing_rules_and_unrouted_reasons() {
    let mut day = Day::new(
        vec![
            executor("a_1m", "PA", &[Timeframe::M1]),
            executor("a_5m", "PA", &[Timeframe::M5]),
            executor("solo", "SOLO", &[Timeframe::H1]),
        ],
        &KernelConfig::default(),
    );
    let entry = |extra: Value| {
        let mut base = json!({"symbol": "XAUUSD", "side": "buy", "price": 2000, "lot": 0.01});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    };
    let plugin = |o: &Outcome| o.plugin.as_ref().map(|p| p.as_str().to_owned());
    assert_eq!(plugin(&day.send(entry(json!({"strategy": "PA", "tf": "5"})))), Some("a_5m".into()));
    assert_eq!(plugin(&day.send(entry(json!({"strategy": "pa", "tf": "1m"})))), Some("a_1m".into()));
    assert_eq!(
        plugin(&day.send(entry(json!({"strategy": "SOLO", "tf": "4h"})))),
        Some("solo".into()),
        "rule 3: the one owner"
    );
    assert_eq!(
        plugin(&day.send(entry(json!({"strategy": "OTHER", "plugin": "solo"})))),
        Some("solo".into()),
        "hint wins"
    );

    let unrouted = |o: Outcome| (o.status, o.code.unwrap());
    assert_eq!(
        unrouted(day.send(entry(json!({"strategy": "PA", "tf": "4h"})))),
        (OutcomeStatus::Unrouted, "ambiguous".into())
    );
    assert_eq!(unrouted(day.send(entry(json!({"strategy": "NOPE"})))), (OutcomeStatus::Unrouted, "no_plugin".into()));
    assert_eq!(unrouted(day.send(entry(json!({})))), (OutcomeStatus::Unrouted, "no_strategy".into()));
    assert_eq!(
        unrouted(day.send(entry(json!({"plugin": "ghost"})))),
        (OutcomeStatus::Unrouted, "unknown_plugin".into())
    );
    day.kernel.set_enabled(&PluginId::new("solo").unwrap(), false).unwrap();
    let o = day.send(entry(json!({"strategy": "SOLO"})));
    assert_eq!(unrouted(o.clone()), (OutcomeStatus::Unrouted, "plugin_not_running".into()));
    assert!(o.reason.unwrap().contains("solo is disabled"));
    let o = day.send(entry(json!({"plugin": "solo", "strategy": "PA", "tf": "1"})));
    assert_eq!(o.code.as_deref(), Some("plugin_not_running"), "a hint to a disabled plugin is never sent elsewhere");
}

struct Hook(fn(&Signal) -> HookDecision);

impl Plugin for Hook {
    fn on_signal_received(&mut self, signal: &Signal, _ctx: &mut dyn PluginContext) -> PluginResult<HookDecision> {
        Ok((self.0)(signal))
    }

    fn process_entry_signal(&mut self, _signal: &Signal, _ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        Ok(Decision::ignored("hook plugin"))
    }
}

#[test]
fn hooks_pass_modify_or_reject_in_priority_order() {
    let mut doubler = manifest("doubler", "HOOKS", &[]);
    doubler.priority = 10;
    let mut guard = manifest("guard", "HOOKS", &[]);
    guard.priority = 20;
    let double = |s: &Signal| {
        let mut changed = s.clone();
        changed.size = Some(zepix_model::Sizing::Lots("0.2".parse().unwrap()));
        HookDecision::Modify(Box::new(changed))
    };
    let reject_btc = |s: &Signal| {
        if s.symbol.as_ref().is_some_and(|x| x.as_str() == "BTCUSDT") {
            HookDecision::Reject("no crypto on weekends".into())
        } else {
            HookDecision::Pass
        }
    };
    let mut day = Day::new(
        vec![
            slot(guard, Box::new(Hook(reject_btc))),
            slot(doubler, Box::new(Hook(double))),
            executor("exec", "EXEC", &[]),
        ],
        &KernelConfig::default(),
    );
    let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000, "lot": 0.1}));
    assert_eq!(o.status, OutcomeStatus::Executed);
    assert_eq!(day.kernel.status().positions[0].lots.to_string(), "0.2", "the modified signal was routed");
    let o = day.send(json!({"strategy": "EXEC", "symbol": "BTCUSDT", "side": "buy", "price": 60000, "lot": 0.01}));
    assert_eq!(
        (o.status, o.code.as_deref(), o.plugin.as_ref().map(PluginId::as_str)),
        (OutcomeStatus::Rejected, Some("hook_rejected"), Some("guard"))
    );
    assert_eq!(o.reason.as_deref(), Some("no crypto on weekends"));
}

#[test]
fn a_panicking_plugin_is_disabled_after_five_failures_and_others_keep_trading() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let bomb = ScriptedPlugin::new(move |_s, _c| {
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("division by zero in my indicator")
    });
    let mut day = Day::new(
        vec![slot(manifest("bomb", "BOMB", &[]), Box::new(bomb)), executor("exec", "EXEC", &[])],
        &KernelConfig::default(),
    );
    for i in 0..5 {
        let o = day.send(json!({"strategy": "BOMB", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
        assert_eq!((o.status, o.code.as_deref()), (OutcomeStatus::Failed, Some("plugin_failed")), "call {i}");
        assert!(o.reason.unwrap().contains("division by zero"));
        let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
        assert_eq!(o.status, OutcomeStatus::Executed, "the other plugin keeps trading");
    }
    assert_eq!(day.state("bomb"), PluginState::Failed);
    let o = day.send(json!({"strategy": "BOMB", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
    assert_eq!(o.code.as_deref(), Some("plugin_not_running"));
    assert_eq!(calls.load(Ordering::SeqCst), 5, "a failed plugin gets no more calls");
    let status = day.kernel.plugins().into_iter().find(|p| p.id.as_str() == "bomb").unwrap();
    assert_eq!((status.counters.failures, status.counters.consecutive_failures), (5, 5));
    assert!(status.last_error.unwrap().message.contains("panicked"));
    let states = day.events(EventKind::PluginState);
    assert!(states.iter().any(|m| m.starts_with("bomb: running → failed (5 consecutive failures")), "{states:?}");
    assert!(day.events(EventKind::Notify).iter().any(|m| m.contains("plugin bomb disabled")));
    day.kernel.set_enabled(&PluginId::new("bomb").unwrap(), true).unwrap();
    assert_eq!(day.state("bomb"), PluginState::Running, "an operator can bring it back");
}

#[test]
fn risk_refusals_are_outcomes_not_plugin_failures() {
    let config = KernelConfig {
        risk: RiskConfig { max_open_per_plugin: 1, ..RiskConfig::default() },
        ..KernelConfig::default()
    };
    let mut day = Day::new(vec![executor("exec", "EXEC", &[])], &config);
    let buy = json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000, "lot": 0.01});
    assert_eq!(day.send(buy.clone()).status, OutcomeStatus::Executed);
    for _ in 0..6 {
        let o = day.send(buy.clone());
        assert_eq!(
            (o.status, o.code.as_deref()),
            (OutcomeStatus::Rejected, Some(RiskCode::MaxPositionsPlugin.as_str()))
        );
    }
    assert_eq!(day.state("exec"), PluginState::Running, "six refusals are not failures");
    let o = day.send(json!({"strategy": "EXEC", "symbol": "NOPEUSD", "side": "buy", "price": 1, "lot": 0.01}));
    assert_eq!(o.code.as_deref(), Some("unknown_symbol"));
    let rejected = day
        .store
        .ops()
        .iter()
        .filter(|op| matches!(op, StoreOp::Order(o) if o.status == zepix_model::OrderStatus::Rejected))
        .count();
    assert_eq!(rejected, 6, "each refused order is recorded with its reason");
    let status = day.kernel.plugins().into_iter().find(|p| p.id.as_str() == "exec").unwrap();
    let orders = status.services[&zepix_plugin::Service::Orders];
    assert_eq!((orders.calls, orders.errors, orders.denied), (8, 0, 7));
}

#[test]
fn capabilities_are_enforced_and_counted() {
    let mut m = manifest("nosy", "NOSY", &[]);
    m.capabilities = vec![Capability::Positions];
    let mut day = Day::new(vec![slot(m, Box::new(ScriptedPlugin::executor()))], &KernelConfig::default());
    let o = day.send(json!({"strategy": "NOSY", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
    assert_eq!(o.status, OutcomeStatus::Failed);
    assert!(o.reason.unwrap().contains("may not use orders: add \"orders\""));
    assert!(day.kernel.status().positions.is_empty());
    let status = day.kernel.plugins().into_iter().next().unwrap();
    assert_eq!(status.services[&zepix_plugin::Service::Orders].errors, 1);
}

#[test]
fn trend_signals_feed_the_trend_manager() {
    let aligned = ScriptedPlugin::new(|signal, ctx| {
        let symbol = signal.symbol.clone().unwrap();
        if !ctx.is_aligned(&symbol, signal.side.unwrap(), &[Timeframe::M15, Timeframe::H1])? {
            return Ok(Decision::rejected("trend not aligned"));
        }
        let placed = ctx.place_order(zepix_plugin::OrderIntent::from_signal(signal).unwrap())?;
        Ok(Decision::executed(vec![placed.order.id], vec![]))
    });
    let mut day = Day::new(vec![slot(manifest("v3", "V3", &[]), Box::new(aligned))], &KernelConfig::default());
    let entry = json!({"strategy": "V3", "symbol": "XAUUSD", "side": "buy", "price": 2000});
    assert_eq!(day.send(entry.clone()).status, OutcomeStatus::Rejected);
    day.send(json!({"type": "trend", "symbol": "XAUUSD", "tf": "15", "direction": "bullish"}));
    let o = day.send(json!({"type": "trend", "symbol": "XAUUSD", "tf": "60", "direction": "buy"}));
    assert_eq!((o.status, o.reason.as_deref()), (OutcomeStatus::Applied, Some("XAUUSD 1h trend bullish")));
    assert_eq!(day.send(entry).status, OutcomeStatus::Executed);
    assert!(
        day.store.ops().iter().any(|op| matches!(op, StoreOp::Trend { timeframe, .. } if *timeframe == Timeframe::H1))
    );
}

#[test]
fn stale_signals_are_rejected() {
    let mut day = Day::new(vec![executor("exec", "EXEC", &[])], &KernelConfig::default());
    let ts = (start() - Duration::seconds(90)).to_rfc3339();
    let o = day.send(
        json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000, "timestamp": ts, "max_lag": 60}),
    );
    assert_eq!((o.status, o.code.as_deref()), (OutcomeStatus::Rejected, Some("stale")));
    assert!(day.kernel.status().positions.is_empty());
}

#[test]
fn daily_loss_limit_is_reduce_only_until_the_daily_reset() {
    let config = KernelConfig {
        risk: RiskConfig { daily_loss_limit: 100.into(), ..RiskConfig::default() },
        ..KernelConfig::default()
    };
    let mut day = Day::new(vec![executor("exec", "EXEC", &[])], &config);
    day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000, "sl": 1985, "lot": 0.1}));
    day.send(json!({"type": "market", "symbol": "XAUUSD", "price": 1984}));
    assert!(day.kernel.status().daily_loss_locked, "lost 150 against a 100 limit");
    assert_eq!(day.events(EventKind::DailyLossLimit).len(), 1);
    let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 1984, "lot": 0.1}));
    assert_eq!(o.code.as_deref(), Some("daily_loss_limit"));
    // 10:00 UTC; the reset is 03:35 Asia/Kolkata = 22:05 UTC.
    day.clock.advance(Duration::hours(12) + Duration::minutes(6));
    let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 1984, "lot": 0.1}));
    assert_eq!(o.status, OutcomeStatus::Executed, "the reset opened the lock");
    assert_eq!(day.events(EventKind::DailyReset).len(), 1);
    assert!(!day.kernel.status().daily_loss_locked);
    let closed: Vec<String> = day
        .store
        .ops()
        .iter()
        .filter_map(|op| match op {
            StoreOp::DayClosed { plugin, date } => Some(format!("{plugin} {date}")),
            _ => None,
        })
        .collect();
    assert_eq!(closed, ["exec 2026-03-02"], "a performance row for each plugin's day that ended at 22:05 UTC");
}

#[test]
fn trading_state_pause_and_halt() {
    let mut day = Day::new(vec![executor("exec", "EXEC", &[])], &KernelConfig::default());
    day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000, "lot": 0.1}));
    day.kernel.set_trading_state(TradingState::Paused);
    let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
    assert_eq!(o.code.as_deref(), Some("trading_paused"));
    let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "action": "close", "price": 2001}));
    assert_eq!(o.status, OutcomeStatus::Executed, "paused is reduce-only: exits pass");
    day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
    day.kernel.set_trading_state(TradingState::Active);
    day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000}));
    day.kernel.set_trading_state(TradingState::Halted);
    let o = day.send(json!({"strategy": "EXEC", "symbol": "XAUUSD", "action": "close", "price": 2001}));
    assert_eq!(o.code.as_deref(), Some("trading_halted"));
    let id = day.kernel.status().positions[0].id;
    assert!(day.kernel.close_position(id).is_ok(), "an operator can still close when halted");
}
