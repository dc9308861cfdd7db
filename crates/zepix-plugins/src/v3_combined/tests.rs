//! What a trader sees from `v3_combined`: aligned entries trade as alerted, misaligned ones are
//! refused with the trends named, exits and reversals touch only the plugin's own positions.

use serde_json::{Value, json};
use zepix_model::{Level, PositionId, Side, Sizing, Timeframe, Trend};
use zepix_plugin::{BuiltinPlugin, DecisionKind, PluginError, RiskCode};

use crate::testkit::{Call, FakeContext, GOLD, alert, price, settings, start, sym};

const V3: BuiltinPlugin = BuiltinPlugin { manifest: super::manifest, build: super::build };

/// A 5m alert at 2020.5 with levels on the right side for `direction`.
fn entry(direction: &str) -> Value {
    let (sl, tp) = if direction == "buy" { (2010, 2040) } else { (2030, 2000) };
    json!({
        "strategy": "V3_COMBINED", "tf": "5", "symbol": "OANDA:XAUUSD", "type": "entry",
        "direction": direction, "price": 2020.5, "sl": sl, "tp": tp, "lot": 0.2
    })
}

fn trends(ctx: &mut FakeContext, m15: Trend, h1: Trend) {
    ctx.set_trend(GOLD, Timeframe::M15, m15);
    ctx.set_trend(GOLD, Timeframe::H1, h1);
}

#[test]
fn aligned_entry_places_exactly_one_order_with_the_alerts_levels() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    trends(&mut ctx, Trend::Bullish, Trend::Bullish);
    let decision = plugin.process_entry_signal(&alert(entry("buy")), &mut ctx).unwrap();

    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(ctx.placed.len(), 1);
    assert_eq!(decision.orders, [ctx.open_positions()[0].order_id]);
    let order = &ctx.placed[0];
    assert_eq!((order.side, order.symbol.as_str()), (Side::Buy, GOLD));
    assert_eq!(order.price, Some(price("2020.5")));
    assert_eq!(order.sl, Some(Level::Price(price("2010"))));
    assert_eq!(order.tp, Some(Level::Price(price("2040"))));
    assert_eq!(order.size, Some(Sizing::Lots("0.2".parse().unwrap())));
    assert_eq!(order.comment, "V3_COMBINED 5m");
    assert_eq!(ctx.trend_queries, [(sym(GOLD), Timeframe::M15), (sym(GOLD), Timeframe::H1)]);
    assert!(ctx.denied.is_empty());
}

#[test]
fn misaligned_entry_is_rejected_naming_each_trend() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    trends(&mut ctx, Trend::Bullish, Trend::Bearish);
    let decision = plugin.process_entry_signal(&alert(entry("buy")), &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Rejected);
    assert_eq!(decision.reason.as_deref(), Some("trend not aligned for buy XAUUSD: 15m bullish, 1h bearish"));
    assert!(ctx.placed.is_empty());
}

#[test]
fn an_unknown_trend_is_not_agreement() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    let decision = plugin.process_entry_signal(&alert(entry("sell")), &mut ctx).unwrap();
    assert_eq!(decision.reason.as_deref(), Some("trend not aligned for sell XAUUSD: 15m neutral, 1h neutral"));
    assert!(ctx.placed.is_empty());
}

#[test]
fn relaxed_setting_trades_against_the_trend() {
    let (mut plugin, mut ctx) = start(&V3, json!({"require_trend_alignment": false}));
    trends(&mut ctx, Trend::Bearish, Trend::Bearish);
    let decision = plugin.process_entry_signal(&alert(entry("buy")), &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(ctx.placed.len(), 1);
    assert!(ctx.trend_queries.is_empty(), "no trend look-up when alignment is off");
}

#[test]
fn alignment_timeframes_are_configurable_in_tradingview_spelling() {
    let (mut plugin, mut ctx) = start(&V3, json!({"alignment_timeframes": ["240"]}));
    ctx.set_trend(GOLD, Timeframe::H4, Trend::Bearish);
    ctx.set_trend(GOLD, Timeframe::H1, Trend::Bullish);
    let decision = plugin.process_entry_signal(&alert(entry("sell")), &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(ctx.trend_queries, [(sym(GOLD), Timeframe::H4)]);
}

#[test]
fn a_bad_alignment_timeframe_fails_the_build_naming_it() {
    let manifest = super::manifest();
    let err = super::build(&settings(&manifest, json!({"alignment_timeframes": ["15m", "7x"]}))).err().unwrap();
    assert!(err.contains("alignment_timeframes[1]") && err.contains("7x"), "{err}");
    let err = super::build(&settings(&manifest, json!({"alignment_timeframes": []}))).err().unwrap();
    assert!(err.contains("require_trend_alignment"), "{err}");
    assert!(
        super::build(&settings(&manifest, json!({"alignment_timeframes": [], "require_trend_alignment": false})))
            .is_ok()
    );
}

#[test]
fn exit_closes_only_its_positions_on_the_symbol() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    let long = ctx.seed_position("v3_combined", GOLD, Side::Buy);
    let short = ctx.seed_position("v3_combined", GOLD, Side::Sell);
    let euro = ctx.seed_position("v3_combined", "EURUSD", Side::Buy);
    let other = ctx.seed_position("v6_price_action_5m", GOLD, Side::Buy);

    let exit = alert(json!({"strategy": "V3_COMBINED", "symbol": GOLD, "type": "exit"}));
    let decision = plugin.process_exit_signal(&exit, &mut ctx).unwrap();

    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(decision.closed, [long, short]);
    let still_open: Vec<PositionId> = ctx.open_positions().iter().map(|p| p.id).collect();
    assert_eq!(still_open, [euro, other]);

    let again = plugin.process_exit_signal(&exit, &mut ctx).unwrap();
    assert_eq!(again.kind, DecisionKind::Ignored);
    assert_eq!(again.reason.as_deref(), Some("no open position on XAUUSD"));
}

#[test]
fn reversal_closes_then_opens_the_other_side() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    let long = ctx.seed_position("v3_combined", GOLD, Side::Buy);
    trends(&mut ctx, Trend::Bearish, Trend::Bearish);
    let mut reversal = entry("sell");
    reversal["type"] = json!("reversal");

    let decision = plugin.process_reversal_signal(&alert(reversal), &mut ctx).unwrap();

    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(decision.closed, [long]);
    assert_eq!(decision.orders.len(), 1);
    assert_eq!(ctx.calls, [Call::Closed(long, Side::Buy, sym(GOLD)), Call::Placed(Side::Sell, sym(GOLD))]);
}

#[test]
fn misaligned_reversal_still_closes_but_does_not_enter() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    let long = ctx.seed_position("v3_combined", GOLD, Side::Buy);
    trends(&mut ctx, Trend::Bullish, Trend::Bullish);
    let mut reversal = entry("sell");
    reversal["type"] = json!("reversal");

    let decision = plugin.process_reversal_signal(&alert(reversal), &mut ctx).unwrap();

    assert_eq!(decision.closed, [long]);
    assert!(decision.orders.is_empty() && ctx.placed.is_empty());
    assert_eq!(decision.reason.as_deref(), Some("trend not aligned for sell XAUUSD: 15m bullish, 1h bullish"));
}

#[test]
fn a_risk_refusal_is_an_outcome_not_a_plugin_failure() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    trends(&mut ctx, Trend::Bullish, Trend::Bullish);
    ctx.refuse_orders(RiskCode::DailyLossLimit);
    let err = plugin.process_entry_signal(&alert(entry("buy")), &mut ctx).unwrap_err();
    assert!(matches!(&err, PluginError::Service(e) if e.risk_code() == Some(RiskCode::DailyLossLimit)));
    assert!(!err.is_failure());
}

#[test]
fn an_entry_without_a_direction_is_rejected() {
    let (mut plugin, mut ctx) = start(&V3, json!({}));
    let mut signal = alert(entry("buy"));
    signal.side = None;
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.reason.as_deref(), Some("entry signal needs a direction (buy or sell)"));
    assert!(ctx.placed.is_empty());
}
