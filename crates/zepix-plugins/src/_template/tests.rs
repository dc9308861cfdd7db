//! Tests of the template, written the way every built-in's tests are: build the plugin from
//! settings as the engine would, give it a fake context holding exactly its manifest's
//! capabilities, send alerts, and assert what a trader would see.

use std::path::Path;

use serde_json::json;
use zepix_model::{Level, Side};
use zepix_plugin::{BuiltinPlugin, DecisionKind, NotifyLevel};

use crate::testkit::{GOLD, alert, price, start};

const TEMPLATE: BuiltinPlugin = BuiltinPlugin { manifest: super::manifest, build: super::build };

#[test]
fn manifest_validates_and_defaults_build() {
    let manifest = super::manifest();
    assert!(manifest.validate(Path::new("<builtin>")).is_ok());
    let (_, ctx) = start(&TEMPLATE, json!({}));
    assert!(ctx.denied.is_empty());
}

#[test]
fn confident_entry_fills_price_and_stop_from_defaults() {
    let (mut plugin, mut ctx) = start(&TEMPLATE, json!({}));
    ctx.set_price(GOLD, "2020.5");
    let signal = alert(json!({"strategy": "MY_LOGIC", "symbol": GOLD, "direction": "buy", "confidence": 75}));
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.kind, DecisionKind::Executed);
    assert_eq!(ctx.placed[0].price, Some(price("2020.5")));
    assert_eq!(ctx.placed[0].sl, Some(Level::Pips("25".parse().unwrap())));
    assert!(ctx.denied.is_empty(), "called {:?} without declaring it", ctx.denied);
}

#[test]
fn low_confidence_is_refused_and_notified_when_asked() {
    let (mut plugin, mut ctx) = start(&TEMPLATE, json!({"notify_rejections": true}));
    let signal = alert(json!({"strategy": "MY_LOGIC", "symbol": GOLD, "direction": "buy", "confidence": 40}));
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.reason.as_deref(), Some("confidence 40 below 60"));
    assert_eq!(ctx.notes, [(NotifyLevel::Info, "MY_LOGIC: confidence 40 below 60".to_owned())]);
    assert_eq!(plugin.status(), json!({"refused": 1}));
}

#[test]
fn one_position_per_symbol_by_default() {
    let (mut plugin, mut ctx) = start(&TEMPLATE, json!({}));
    ctx.seed_position("my_logic", GOLD, Side::Buy);
    let signal =
        alert(json!({"strategy": "MY_LOGIC", "symbol": GOLD, "direction": "buy", "confidence": 90, "price": 2020}));
    let decision = plugin.process_entry_signal(&signal, &mut ctx).unwrap();
    assert_eq!(decision.reason.as_deref(), Some("1 open on XAUUSD already (max 1)"));
    assert!(ctx.placed.is_empty());
    assert!(ctx.denied.is_empty());
}
