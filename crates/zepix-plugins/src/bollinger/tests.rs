use rust_decimal::Decimal;
use serde_json::json;
use zepix_model::{Bar, Feed, Level, Side, SignalType, Sizing, Timeframe};

use zepix_plugin::BuiltinPlugin;

use crate::testkit::{price, start, sym};

const BOLLINGER: BuiltinPlugin = BuiltinPlugin { manifest: super::manifest, build: super::build };

fn feed() -> Feed {
    Feed::new(sym("BTCUSDT"), Timeframe::M1)
}

fn bar(minute: i64, close: &str) -> Bar {
    let time = chrono::DateTime::from_timestamp(1_700_000_000 + minute * 60, 0).unwrap();
    let c = price(close);
    Bar::new(time, c, c, c, c, Decimal::ZERO).unwrap()
}

/// Feeds closes; returns (bar index, kind, side) of each signal emitted.
fn run(settings: serde_json::Value, closes: &[&str]) -> Vec<(usize, SignalType, Side)> {
    let (mut plugin, mut ctx) = start(&BOLLINGER, settings);
    let mut seen = Vec::new();
    for (i, close) in closes.iter().enumerate() {
        let before = ctx.emitted.len();
        plugin.on_bar(&feed(), &bar(i as i64, close), &mut ctx).unwrap();
        for s in &ctx.emitted[before..] {
            seen.push((i, s.kind.clone(), s.side.unwrap()));
        }
    }
    seen
}

#[test]
fn buys_below_the_lower_band_and_exits_above_the_middle() {
    // Period 3, k 1. Bar 3: window 10 10 7, mean 9, σ 1.41, lower 7.59 > 7 → buy. Bar 4: window
    // 10 7 7, middle 8 > 7 → hold. Bar 5: window 7 7 9, middle 7.67 < 9 → exit.
    let got = run(json!({"period": 3, "k": 1.0}), &["10", "10", "10", "7", "7", "9"]);
    assert_eq!(got, [(3, SignalType::Entry, Side::Buy), (5, SignalType::Exit, Side::Buy)]);
}

#[test]
fn short_and_both_directions_take_the_upper_band() {
    // Bar 3: window 10 10 13, upper 12.41 < 13 → sell. Bar 4: middle 12 < 13 → hold. Bar 5:
    // window 13 13 11, middle 12.33 > 11 → exit; for a long-only strategy 11 is below the lower
    // band (11.39) → buy.
    let closes = ["10", "10", "10", "13", "13", "11"];
    let long = run(json!({"period": 3, "k": 1.0}), &closes);
    assert_eq!(long, [(5, SignalType::Entry, Side::Buy)], "long only ignores the upper band");
    let short = run(json!({"period": 3, "k": 1.0, "direction": "short"}), &closes);
    assert_eq!(short, [(3, SignalType::Entry, Side::Sell), (5, SignalType::Exit, Side::Sell)]);
    let both = run(json!({"period": 3, "k": 1.0, "direction": "both"}), &closes);
    assert_eq!(both, short, "an exit bar does not also enter");
}

#[test]
fn entries_carry_size_levels_and_the_target_plugin() {
    let (mut plugin, mut ctx) = start(
        &BOLLINGER,
        json!({"period": 3, "k": 1.0, "sl_pct": 1, "tp_pct": 2, "lot": 0.5, "target": "v3_combined"}),
    );
    for (i, close) in ["100", "100", "100", "90"].iter().enumerate() {
        plugin.on_bar(&feed(), &bar(i as i64, close), &mut ctx).unwrap();
    }
    let s = &ctx.emitted[0];
    assert_eq!(s.price, Some(price("90")));
    assert_eq!(s.sl, Some(Level::Price(price("89.1"))));
    assert_eq!(s.tp, [Level::Price(price("91.8"))]);
    assert_eq!(s.size, Some(Sizing::Lots("0.5".parse().unwrap())));
    assert_eq!(s.plugin_hint.as_ref().map(|p| p.as_str()), Some("v3_combined"));
}

#[test]
fn bad_settings_are_refused_with_the_key() {
    let manifest = super::manifest();
    for (given, key) in [
        (json!({"period": 1}), "period"),
        (json!({"k": -1}), "k"),
        (json!({"direction": "sideways"}), "direction"),
        (json!({"target": "Not An Id"}), "target"),
        (json!({"window": 20}), "window"),
    ] {
        let given = given.as_object().cloned().unwrap();
        let result = zepix_plugin::Settings::validate(&manifest.settings_schema, &given)
            .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            .and_then(|s| super::build(&s).map(|_| ()));
        let e = result.expect_err("refused");
        assert!(e.contains(key), "{key}: {e}");
    }
}
