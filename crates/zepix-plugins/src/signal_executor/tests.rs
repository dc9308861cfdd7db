//! What a trader sees from `signal_executor`: alerts are traded exactly as given.

use serde_json::{Map, json};
use zepix_model::{Level, Side, Sizing};
use zepix_plugin::{BuiltinPlugin, DecisionKind, Service, Settings};

use crate::testkit::{Call, GOLD, alert, price, start, sym};

const EXECUTOR: BuiltinPlugin = BuiltinPlugin { manifest: super::manifest, build: super::build };

#[test]
fn entries_are_placed_as_given() {
    let (mut plugin, mut ctx) = start(&EXECUTOR, json!({}));
    let signal = alert(json!({
        "strategy": "SIGNAL_EXECUTOR", "tf": "4h", "symbol": "EURUSD", "action": "sell", "price": 1.0850,
        "sl": {"pips": 30}, "tp": [1.0800, 1.0750], "risk_pct": 0.75
    }));
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(ctx.placed.len(), 1);
    let order = &ctx.placed[0];
    assert_eq!((order.side, order.symbol.as_str()), (Side::Sell, "EURUSD"));
    assert_eq!(order.sl, Some(Level::Pips("30".parse().unwrap())));
    assert_eq!(order.tp, Some(Level::Price(price("1.08"))), "the first target");
    assert_eq!(order.size, Some(Sizing::RiskPct("0.75".parse().unwrap())));
    assert!(ctx.denied.is_empty());
}

#[test]
fn a_bare_entry_is_placed_without_levels_and_with_the_default_lot() {
    let (mut plugin, mut ctx) = start(&EXECUTOR, json!({}));
    ctx.set_price(GOLD, "2020");
    let signal = alert(json!({"strategy": "SIGNAL_EXECUTOR", "symbol": GOLD, "direction": "long"}));
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Executed);
    let order = &ctx.placed[0];
    assert_eq!((order.sl, order.tp, order.size, order.price), (None, None, None, None));
}

#[test]
fn reversal_closes_then_enters_and_exit_closes() {
    let (mut plugin, mut ctx) = start(&EXECUTOR, json!({}));
    let short = ctx.seed_position("signal_executor", GOLD, Side::Sell);
    let reversal = alert(json!({"strategy": "SIGNAL_EXECUTOR", "symbol": GOLD, "action": "reverse",
                                "direction": "buy", "price": 2020}));
    let decision = plugin.process_reversal_signal(&reversal, &mut ctx).unwrap();
    assert_eq!(decision.closed, [short]);
    assert_eq!(ctx.calls, [Call::Closed(short, Side::Sell, sym(GOLD)), Call::Placed(Side::Buy, sym(GOLD))]);

    let exit = alert(json!({"strategy": "SIGNAL_EXECUTOR", "symbol": GOLD, "action": "close"}));
    let decision = plugin.process_exit_signal(&exit, &mut ctx).unwrap();
    assert_eq!(decision.closed.len(), 1);
    assert!(ctx.open_positions().is_empty());
}

#[test]
fn declares_no_trend_or_notify_and_refuses_unknown_or_bad_settings() {
    let manifest = super::manifest();
    let services: Vec<Service> = Service::ALL.into_iter().filter(|s| manifest.allows(s.capability())).collect();
    assert_eq!(
        services,
        [
            Service::Orders,
            Service::Positions,
            Service::Risk,
            Service::Market,
            Service::DualOrder,
            Service::ProfitBooking,
            Service::Reentry,
            Service::Safety
        ]
    );
    assert!(manifest.timeframes.is_empty(), "any timeframe");
    let given = json!({"adx_threshold": 25}).as_object().cloned().unwrap();
    let errors = Settings::validate(&manifest.settings_schema, &given).unwrap_err();
    assert!(errors[0].message.contains("unknown setting"), "{}", errors[0].message);
    let mode = json!({"order_mode": "triple"}).as_object().cloned().unwrap();
    assert!(Settings::validate(&manifest.settings_schema, &mode).is_err());
    let bad_chain = json!({"order_mode": "dual", "pyramid_levels": [2, 4]}).as_object().cloned().unwrap();
    let settings = Settings::validate(&manifest.settings_schema, &bad_chain).unwrap();
    let err = super::build(&settings).err().unwrap();
    assert!(err.contains("the first level is order B alone"), "{err}");
    assert!(super::build(&Settings::validate(&manifest.settings_schema, &Map::new()).unwrap()).is_ok());
}

#[test]
fn dual_mode_splits_an_entry_and_pyramid_mode_starts_a_chain() {
    let (mut plugin, mut ctx) = start(&EXECUTOR, json!({"order_mode": "dual"}));
    let signal = alert(
        json!({"strategy": "SIGNAL_EXECUTOR", "symbol": GOLD, "side": "buy", "price": 2000, "tp": 2010, "lot": 0.2}),
    );
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!((decision.kind, decision.orders.len()), (DecisionKind::Executed, 2), "order A and order B");
    assert_eq!(ctx.chains.len(), 1);

    let (mut plugin, mut ctx) = start(&EXECUTOR, json!({"order_mode": "pyramid", "pyramid_levels": [2, 4]}));
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!((ctx.placed.len(), ctx.chains[0].plan.levels.clone()), (2, vec![2, 4]), "the first level's two orders");
}
