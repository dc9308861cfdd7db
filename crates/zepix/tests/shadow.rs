//! Shadow mode end to end: a candidate plugin runs in shadow beside the live executor on the same
//! alerts, its virtual book survives a restart, the report compares the two, and promotion sends
//! its next orders to the venue.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{alert, get, send};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use zepix::app::{App, Options};
use zepix::config::Config;
use zepix_engine::{Mode, PluginConfig, PluginMode};
use zepix_model::{Level, PluginId, Price, Side, Signal};
use zepix_plugin::{BuiltinPlugin, Decision, Manifest, OrderIntent, Plugin, PluginContext, PluginResult};

/// The candidate: trades buys only, with a take profit 5 above the entry.
struct Candidate;

impl Plugin for Candidate {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        if signal.side != Some(Side::Buy) {
            return Ok(Decision::ignored("the candidate trades buys only"));
        }
        let mut intent = OrderIntent::from_signal(signal).unwrap();
        intent.tp = signal.price.map(|p| Level::Price(Price::new(p.value() + rust_decimal::Decimal::from(5)).unwrap()));
        let placed = ctx.place_order(intent)?;
        Ok(Decision::executed(vec![placed.order.id], Vec::new()))
    }
}

fn candidate_manifest() -> Manifest {
    let mut m = (zepix_plugins::builtins()[5].manifest)();
    m.id = PluginId::new("candidate").unwrap();
    m.name = "Candidate".into();
    m.strategy = Some("CANDIDATE".into());
    m.settings_schema.clear();
    m
}

fn config(dir: &Path) -> Config {
    let mut config = common::config(dir);
    config.engine.mode = Mode::Hybrid;
    let shadow = PluginConfig { mode: PluginMode::Shadow, ..PluginConfig::default() };
    config.plugins.insert(PluginId::new("candidate").unwrap(), shadow);
    config
}

async fn start(config: &Config) -> App {
    let candidate = BuiltinPlugin { manifest: candidate_manifest, build: |_| Ok(Box::new(Candidate)) };
    common::start(config, Options { extra_plugins: vec![candidate], ..Options::default() }).await
}

async fn post(app: &App, path: &str) -> (StatusCode, Value) {
    send(app, Method::POST, path, Bytes::new()).await
}

fn entry(id: &str, side: &str, price: u32) -> Value {
    json!({"id": id, "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": side, "price": price,
           "tp": if side == "buy" { price + 10 } else { price - 10 }, "lot": 0.1})
}

fn book<'a>(report: &'a Value, plugin: &str, book: &str) -> &'a Value {
    report["plugins"].as_array().unwrap().iter().find(|p| p["plugin"] == plugin && p["book"] == book).unwrap()
}

fn owners(positions: &Value) -> Vec<String> {
    positions["positions"].as_array().unwrap().iter().map(|p| p["plugin"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_in_shadow_is_compared_with_the_live_plugin_and_promoted() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let app = start(&config).await;
    let plugins = get(&app, "/api/plugins").await.to_string();
    assert!(plugins.contains(r#""id":"candidate""#) && plugins.contains(r#""mode":"shadow""#), "{plugins}");

    alert(&app, entry("s1", "buy", 2350)).await;
    alert(&app, entry("s2", "sell", 2350)).await;
    assert_eq!(owners(&get(&app, "/api/positions").await), ["signal_executor", "signal_executor"]);
    // 2356 reaches the candidate's target (2355, +50 on 0.1 lot) but not the live one's (2360).
    alert(&app, json!({"type": "market", "symbol": "XAUUSD", "price": 2356})).await;

    let report = get(&app, "/api/shadow/report").await;
    let cand = book(&report, "candidate", "shadow");
    assert_eq!((cand["trades"].as_u64(), cand["net_pnl"].as_str()), (Some(1), Some("50")), "{report}");
    assert_eq!(cand["decisions"], json!({"executed": 1, "ignored": 1}));
    let live = book(&report, "signal_executor", "live");
    assert_eq!((live["trades"].as_u64(), live["open_positions"].as_u64()), (Some(0), Some(2)), "{report}");
    let c = &report["comparisons"][0];
    assert_eq!((c["shadow"].as_str(), c["live"].as_str()), (Some("candidate"), Some("signal_executor")));
    assert_eq!((c["signals"].as_u64(), c["agreed"].as_u64(), c["both_filled"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!(report["signals"][0]["signal_id"], "s2");
    assert_eq!(report["signals"][0]["shadow"][0]["status"], "ignored");

    // A virtual position open across a restart is still managed afterwards.
    alert(&app, entry("s3", "buy", 2356)).await;
    get(&app, "/api/status").await;
    app.stop().await.unwrap();
    let app = start(&config).await;
    let report = get(&app, "/api/shadow/report").await;
    assert_eq!(book(&report, "candidate", "shadow")["open_positions"], 1, "{report}");
    alert(&app, json!({"type": "market", "symbol": "XAUUSD", "price": 2362})).await;
    let report = get(&app, "/api/shadow/report").await;
    let cand = book(&report, "candidate", "shadow");
    assert_eq!((cand["trades"].as_u64(), cand["open_positions"].as_u64()), (Some(2), Some(0)), "{report}");

    // Bad requests change nothing.
    let (status, _) = post(&app, "/api/plugins/nobody/promote").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&app, "/api/plugins/Bad-Id/promote").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, promoted) = post(&app, "/api/plugins/candidate/promote").await;
    assert_eq!((status, promoted["mode"].as_str()), (StatusCode::OK, Some("live")), "{promoted}");
    alert(
        &app,
        json!({"id": "c1", "strategy": "CANDIDATE", "symbol": "XAUUSD", "side": "buy", "price": 2362, "lot": 0.1}),
    )
    .await;
    let live = owners(&get(&app, "/api/positions").await);
    assert!(live.contains(&"candidate".to_owned()), "promoted: its order reached the venue: {live:?}");
    app.stop().await.unwrap();

    let app = start(&config).await;
    assert_eq!(get(&app, "/api/plugins/candidate").await["mode"], "live", "a promotion survives a restart");
    app.stop().await.unwrap();
}
