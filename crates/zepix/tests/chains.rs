//! Dual orders and profit chains end to end: alerts to a running engine with `signal_executor`
//! in dual mode, a restart in the middle of the chain, the chain and the dual order finishing.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use zepix::app::{self, App, Options};
use zepix::client::Client;
use zepix::config::Config;
use zepix_engine::PluginConfig;
use zepix_model::{LiveClock, PluginId};

/// The engine's defaults with `signal_executor` set to `settings`.
fn config(dir: &Path, settings: &Value) -> Config {
    let mut config = Config::default();
    config.engine.data_dir = dir.join("data");
    config.plugin_system.plugin_dir = dir.join("plugins");
    let executor = PluginConfig { settings: settings.as_object().cloned().unwrap(), ..PluginConfig::default() };
    config.plugins.insert(PluginId::new("signal_executor").unwrap(), executor);
    config
}

async fn start(config: &Config) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    app::start(config, Arc::new(LiveClock), listener, Options::default()).await.unwrap()
}

async fn send(app: &App, method: Method, path: &str, body: Bytes) -> (StatusCode, Value) {
    let mut client = Client::connect(app.addr).await.unwrap();
    let (status, body) = client.send(method, path, body, None).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn alert(app: &App, mut alert: Value) {
    alert["secret"] = Value::String(app.secret.value.clone());
    let (status, answer) = send(app, Method::POST, "/webhook", Bytes::from(alert.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app.handle.drain().await.unwrap();
}

async fn price(app: &App, price: &str) {
    alert(app, json!({"type": "market", "symbol": "XAUUSD", "price": price})).await;
}

async fn status(app: &App) -> Value {
    send(app, Method::GET, "/api/status", Bytes::new()).await.1
}

/// Open positions as `lots@entry tp`.
fn book(status: &Value) -> Vec<String> {
    let positions = status["positions"].as_array().unwrap();
    positions.iter().map(|p| format!("{}@{} tp {}", p["lots"], p["entry_price"], p["tp"])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_order_from_an_alert_pyramids_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dual = json!({"order_mode": "dual", "pyramid_levels": [1, 2], "level_target_pips": 10, "chain_sl_pips": 10});
    let config = config(tmp.path(), &dual);
    let app = start(&config).await;
    alert(
        &app,
        json!({"id": "d1", "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy",
                       "price": "2000", "tp": "2005", "lot": "0.2"}),
    )
    .await;
    assert_eq!(book(&status(&app).await), [r#""0.1"@"2000" tp "2005""#, r#""0.1"@"2000" tp "2001""#]);
    price(&app, "2001").await;
    let s = status(&app).await;
    assert_eq!(book(&s).len(), 3, "B booked, level 2 opened two orders: {s}");
    assert_eq!((s["chains"][0]["level"].as_u64(), s["chains"][0]["booked"].as_str()), (Some(1), Some("10")));
    app.stop().await.unwrap();

    let app = start(&config).await;
    let s = status(&app).await;
    assert_eq!(s["chains"][0]["level"], 1, "the chain is back after the restart: {s}");
    price(&app, "2002").await;
    let s = status(&app).await;
    assert_eq!(book(&s), [r#""0.1"@"2000" tp "2005""#], "the chain completed; A waits for its target");
    assert_eq!(s["chains"], json!([]));
    price(&app, "2005").await;
    let s = status(&app).await;
    assert!(book(&s).is_empty());
    // A: +50; B and level 2: +10 + 2 × 10.
    assert_eq!(s["account"]["balance"], "10080", "{s}");
    let events = send(&app, Method::GET, "/api/events?limit=100", Bytes::new()).await.1.to_string();
    for needle in [
        "dual order 1: A #1",
        "profit chain 2: level 2 of 2 opened with 2 orders",
        "profit chain 2 completed",
        "order A #1 closed (take_profit)",
    ] {
        assert!(events.contains(needle), "`{needle}` not in {events}");
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_trade_is_recovered_after_a_restart_and_its_target_continued() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(
        tmp.path(),
        &json!({"reentry": true, "reentry_zone_pips": 5, "reentry_sl_factor": 0.5, "reentry_max_level": 2}),
    );
    let app = start(&config).await;
    alert(
        &app,
        json!({"id": "r1", "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy",
                       "price": "2000", "sl": "1990", "tp": "2020", "lot": "0.1"}),
    )
    .await;
    price(&app, "1989").await;
    let s = status(&app).await;
    assert!(book(&s).is_empty(), "stopped out: {s}");
    assert_eq!(s["reentries"][0]["watching"]["trigger"], "1999.5", "{s}");
    app.stop().await.unwrap();

    let app = start(&config).await;
    price(&app, "1999.6").await;
    let s = status(&app).await;
    assert_eq!(book(&s), [r#""0.1"@"1999.6" tp "2019.6""#], "recovered after the restart: {s}");
    assert_eq!(s["positions"][0]["sl"], "1994.6", "half the original stop distance");
    assert_eq!(s["safety"]["recoveries_today"], 1);
    price(&app, "2019.6").await;
    price(&app, "2029.6").await;
    let s = status(&app).await;
    assert_eq!(book(&s), [r#""0.1"@"2029.6" tp "2049.6""#], "continued 10 pips past the target: {s}");
    assert_eq!(s["reentries"][0]["level"], 2);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverse_shield_hedges_a_losing_trade_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path(), &json!({"reverse_shield_share": 0.5}));
    let app = start(&config).await;
    alert(
        &app,
        json!({"id": "s1", "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy",
                       "price": "2000", "sl": "1990", "tp": "2020", "lot": "0.1"}),
    )
    .await;
    price(&app, "1995").await;
    let s = status(&app).await;
    assert_eq!(book(&s), [r#""0.1"@"2000" tp "2020""#, r#""0.1"@"1995" tp null"#], "hedged at half the stop: {s}");
    assert_eq!(s["positions"][1]["side"], "sell");
    app.stop().await.unwrap();

    let app = start(&config).await;
    assert_eq!(status(&app).await["shields"][0]["hedge"], 2, "the shield and its hedge are back");
    price(&app, "1998").await;
    let s = status(&app).await;
    assert_eq!(book(&s), [r#""0.1"@"2000" tp "2020""#], "recovered: the hedge closed: {s}");
    assert_eq!(s["shields"][0]["booked"], "-30", "sold at 1995, bought back at 1998");
    price(&app, "2020").await;
    let s = status(&app).await;
    assert!(book(&s).is_empty() && s["shields"] == json!([]), "the trade took its profit; the shield ended: {s}");
    app.stop().await.unwrap();
}
