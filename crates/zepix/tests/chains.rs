//! Dual orders and profit chains end to end: alerts to a running engine with `signal_executor`
//! in dual mode, a restart in the middle of the chain, the chain and the dual order finishing.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

mod common;

use std::path::Path;

use common::{alert, get};
use serde_json::{Value, json};
use zepix::app::{App, Options};
use zepix::config::Config;
use zepix_engine::PluginConfig;
use zepix_model::PluginId;

/// The engine's defaults with `signal_executor` set to `settings`.
fn config(dir: &Path, settings: &Value) -> Config {
    let mut config = common::config(dir);
    let executor = PluginConfig { settings: settings.as_object().cloned().unwrap(), ..PluginConfig::default() };
    config.plugins.insert(PluginId::new("signal_executor").unwrap(), executor);
    config
}

async fn start(config: &Config) -> App {
    common::start(config, Options::default()).await
}

async fn price(app: &App, price: &str) {
    alert(app, json!({"type": "market", "symbol": "XAUUSD", "price": price})).await;
}

async fn status(app: &App) -> Value {
    get(app, "/api/status").await
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
    let events = get(&app, "/api/events?limit=100").await.to_string();
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
