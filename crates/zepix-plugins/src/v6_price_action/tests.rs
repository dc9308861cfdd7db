//! What a trader sees from the `v6_price_action_*` plugins: each filter's refusal with its
//! reason, the per-timeframe defaults for bare alerts, and the 15m trend filter.

use serde_json::{Value, json};
use zepix_model::{Level, Pips, Side, Sizing, Timeframe, Trend};
use zepix_plugin::{BuiltinPlugin, Decision, DecisionKind};

use super::Variant;
use crate::testkit::{FakeContext, GOLD, alert, dec, price, settings, start, sym};

fn builtin(variant: &Variant) -> BuiltinPlugin {
    match variant.id {
        "v6_price_action_1m" => BuiltinPlugin { manifest: super::manifest_1m, build: super::build_1m },
        "v6_price_action_5m" => BuiltinPlugin { manifest: super::manifest_5m, build: super::build_5m },
        "v6_price_action_15m" => BuiltinPlugin { manifest: super::manifest_15m, build: super::build_15m },
        _ => BuiltinPlugin { manifest: super::manifest_1h, build: super::build_1h },
    }
}

/// A bare buy alert: no SL, TP or size.
fn bare(extra: Value) -> Value {
    let mut body = json!({
        "strategy": "V6_PRICE_ACTION", "tf": "5", "symbol": GOLD, "type": "entry", "direction": "buy",
        "price": 2020.5
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    body
}

fn run(variant: &Variant, given: Value, body: Value) -> (Decision, FakeContext) {
    let (mut plugin, mut ctx) = start(&builtin(variant), given);
    ctx.set_trend(GOLD, Timeframe::M15, Trend::Bullish);
    let decision = plugin.process_entry_signal(&alert(body), &mut ctx).unwrap();
    (decision, ctx)
}

fn pips(n: &str) -> Option<Level> {
    Some(Level::Pips(n.parse::<Pips>().unwrap()))
}

#[test]
fn bare_alerts_get_each_timeframes_default_levels_and_risk() {
    let cases = [
        (super::M1, "10", "15", "0.5"),
        (super::M5, "20", "40", "1"),
        (super::M15, "35", "70", "1"),
        (super::H1, "60", "120", "1.5"),
    ];
    for (variant, sl, tp, risk) in cases {
        let (decision, ctx) = run(&variant, json!({}), bare(json!({"adx": 30, "confidence": 80})));
        assert_eq!(decision.kind, DecisionKind::Executed, "{}: {:?}", variant.id, decision.reason);
        assert_eq!(ctx.placed.len(), 1, "{}", variant.id);
        let order = &ctx.placed[0];
        assert_eq!(order.sl, pips(sl), "{}", variant.id);
        assert_eq!(order.tp, pips(tp), "{}", variant.id);
        assert_eq!(order.size, Some(Sizing::RiskPct(dec(risk))), "{}", variant.id);
        assert_eq!(order.comment, format!("V6_PRICE_ACTION {}", variant.timeframe));
        assert!(ctx.denied.is_empty(), "{}: used {:?} without declaring it", variant.id, ctx.denied);
    }
}

#[test]
fn the_alerts_own_levels_and_size_win() {
    let body = bare(json!({"adx": 30, "confidence": 80, "sl": 2010, "tp": {"pips": 55}, "lot": "0.3"}));
    let (decision, ctx) = run(&super::M5, json!({}), body);
    assert_eq!(decision.kind, DecisionKind::Executed);
    let order = &ctx.placed[0];
    assert_eq!(order.sl, Some(Level::Price(price("2010"))));
    assert_eq!(order.tp, pips("55"));
    assert_eq!(order.size, Some(Sizing::Lots("0.3".parse().unwrap())));
    assert_eq!(order.side, Side::Buy);
}

#[test]
fn low_adx_is_rejected_with_value_and_threshold() {
    let (decision, ctx) = run(&super::M5, json!({}), bare(json!({"adx": 18, "confidence": 80})));
    assert_eq!(decision.kind, DecisionKind::Rejected);
    assert_eq!(decision.reason.as_deref(), Some("adx 18 below 25"));
    assert!(ctx.placed.is_empty());
}

#[test]
fn missing_adx_is_rejected() {
    let (decision, ctx) = run(&super::M15, json!({}), bare(json!({"confidence": 80})));
    assert_eq!(decision.reason.as_deref(), Some("adx missing: the alert has no `adx` field (at least 25 needed)"));
    assert!(ctx.placed.is_empty());
}

#[test]
fn low_or_missing_confidence_is_rejected() {
    let (decision, _) = run(&super::H1, json!({}), bare(json!({"adx": 40, "confidence": "69.5"})));
    assert_eq!(decision.reason.as_deref(), Some("confidence 69.5 below 70"));
    let (decision, ctx) = run(&super::H1, json!({}), bare(json!({"adx": 40})));
    assert_eq!(
        decision.reason.as_deref(),
        Some("confidence missing: the alert has no `confidence` field (at least 70 needed)")
    );
    assert!(ctx.placed.is_empty());
}

#[test]
fn thresholds_are_settings_and_inclusive() {
    let given = json!({"adx_threshold": 30, "confidence_threshold": 55.5});
    let (decision, _) = run(&super::M1, given.clone(), bare(json!({"adx": 28, "confidence": 90})));
    assert_eq!(decision.reason.as_deref(), Some("adx 28 below 30"));
    let (decision, _) = run(&super::M1, given.clone(), bare(json!({"adx": 30, "confidence": 55})));
    assert_eq!(decision.reason.as_deref(), Some("confidence 55 below 55.5"));
    let (decision, ctx) = run(&super::M1, given, bare(json!({"adx": "30", "confidence": "55.5"})));
    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(ctx.placed.len(), 1);
}

#[test]
fn short_timeframes_need_the_15m_trend_to_agree() {
    for variant in [super::M1, super::M5] {
        let (mut plugin, mut ctx) = start(&builtin(&variant), json!({}));
        ctx.set_trend(GOLD, Timeframe::M15, Trend::Bearish);
        let signal = alert(bare(json!({"adx": 30, "confidence": 80})));
        let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
        assert_eq!(
            decision.reason.as_deref(),
            Some("15m trend bearish does not agree with buy XAUUSD"),
            "{}",
            variant.id
        );
        assert!(ctx.placed.is_empty());
        assert_eq!(ctx.trend_queries, [(sym(GOLD), Timeframe::M15)]);
    }
}

#[test]
fn long_timeframes_skip_the_15m_filter_unless_asked() {
    for variant in [super::M15, super::H1] {
        let (mut plugin, mut ctx) = start(&builtin(&variant), json!({}));
        ctx.set_trend(GOLD, Timeframe::M15, Trend::Bearish);
        let decision =
            plugin.process_entry_signal(&alert(bare(json!({"adx": 30, "confidence": 80}))), &mut ctx).unwrap();
        assert_eq!(decision.kind, DecisionKind::Executed, "{}", variant.id);
        assert!(ctx.trend_queries.is_empty(), "{}", variant.id);
    }
    let (mut plugin, mut ctx) = start(&builtin(&super::H1), json!({"require_15m_alignment": true}));
    ctx.set_trend(GOLD, Timeframe::M15, Trend::Neutral);
    let decision = plugin.process_entry_signal(&alert(bare(json!({"adx": 30, "confidence": 80}))), &mut ctx).unwrap();
    assert_eq!(decision.reason.as_deref(), Some("15m trend neutral does not agree with buy XAUUSD"));
}

#[test]
fn manifests_route_one_timeframe_each_with_its_defaults() {
    for (variant, tf, align) in [
        (super::M1, Timeframe::M1, true),
        (super::M5, Timeframe::M5, true),
        (super::M15, Timeframe::M15, false),
        (super::H1, Timeframe::H1, false),
    ] {
        let manifest = variant.manifest();
        assert_eq!(manifest.id.as_str(), variant.id);
        assert_eq!(manifest.strategy.as_deref(), Some("V6_PRICE_ACTION"));
        assert_eq!(manifest.timeframes, [tf]);
        assert_eq!(settings(&manifest, json!({})).as_map()["require_15m_alignment"], json!(align));
    }
}

#[test]
fn zero_levels_or_risk_fail_the_build() {
    let manifest = super::M5.manifest();
    let err = super::build_5m(&settings(&manifest, json!({"sl_pips": 0}))).err().unwrap();
    assert!(err.contains("pips"), "{err}");
    let err = super::build_5m(&settings(&manifest, json!({"risk_pct": 0}))).err().unwrap();
    assert!(err.contains("risk_pct"), "{err}");
    let too_risky = json!({"risk_pct": 25}).as_object().cloned().unwrap();
    assert!(zepix_plugin::Settings::validate(&manifest.settings_schema, &too_risky).is_err());
}

#[test]
fn exit_closes_the_plugins_positions_on_the_symbol() {
    let (mut plugin, mut ctx) = start(&builtin(&super::M5), json!({}));
    let mine = ctx.seed_position("v6_price_action_5m", GOLD, Side::Buy);
    ctx.seed_position("v6_price_action_1m", GOLD, Side::Buy);
    let exit = alert(json!({"strategy": "V6_PRICE_ACTION", "tf": "5", "symbol": GOLD, "type": "exit"}));
    let decision = plugin.process_exit_signal(&exit, &mut ctx).unwrap();
    assert_eq!(decision.closed, [mine]);
    assert_eq!(ctx.open_positions().len(), 1);
}
