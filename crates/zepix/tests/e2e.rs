//! The engine end to end in one process: real HTTP, inbox, SQLite, paper venue, built-in
//! plugins. Each test asserts what a trader sees through the API and in the database files.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{config, get, send, start};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use zepix::app::{App, Options};
use zepix_model::Signal;
use zepix_plugin::{BuiltinPlugin, Decision, Manifest, Plugin, PluginContext, PluginResult};

async fn post(app: &App, mut alert: Value) -> (StatusCode, Value) {
    if alert.get("secret").is_none() {
        alert["secret"] = Value::String(app.secret.value.clone());
    }
    send(app, Method::POST, "/webhook", Bytes::from(alert.to_string())).await
}

fn count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn trend(tf: &str) -> Value {
    json!({"type": "trend", "symbol": "OANDA:XAUUSD", "tf": tf, "direction": "bullish"})
}

fn v3_entry(id: &str) -> Value {
    json!({"id": id, "strategy": "V3_COMBINED", "tf": "15", "ticker": "OANDA:XAUUSD", "action": "buy",
           "price": "2350", "sl": "2340", "tp": "2370", "lot": "0.1"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aligned_v3_alert_opens_a_position_seen_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let app = start(&config, Options::default()).await;
    let (status, answer) = post(&app, v3_entry("early")).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("accepted")));
    for tf in ["15", "60"] {
        assert_eq!(post(&app, trend(tf)).await.0, StatusCode::OK);
    }
    let (_, answer) = post(&app, v3_entry("entry-1")).await;
    assert_eq!(answer, json!({"status": "accepted", "signal_id": "entry-1"}));
    app.handle.drain().await.unwrap();

    let early = get(&app, "/api/signals/early").await;
    assert_eq!(early["outcome"]["status"], "rejected", "before the trends aligned: {early}");
    assert!(early["outcome"]["reason"].as_str().unwrap().contains("trend not aligned"));
    let entry = get(&app, "/api/signals/entry-1").await;
    assert_eq!(
        (entry["outcome"]["status"].as_str(), entry["outcome"]["plugin"].as_str()),
        (Some("executed"), Some("v3_combined"))
    );
    let positions = get(&app, "/api/positions").await;
    let p = &positions["positions"][0];
    assert_eq!(
        (p["symbol"].as_str(), p["side"].as_str(), p["lots"].as_str(), p["entry_price"].as_str()),
        (Some("XAUUSD"), Some("buy"), Some("0.1"), Some("2350"))
    );
    app.stop().await.unwrap();

    let data = config.engine.data_dir;
    assert_eq!(count(&data.join("zepix.db"), "select count(*) from signals"), 4);
    assert_eq!(count(&data.join("zepix.db"), "select count(*) from positions"), 1);
    let plugin_db = data.join("plugins/v3_combined/plugin.db");
    assert_eq!(count(&plugin_db, "select count(*) from trades where status = 'OPEN' and symbol = 'XAUUSD'"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_secret_malformed_alerts_and_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let app = start(&config, Options::default()).await;

    let (status, body) = post(
        &app,
        json!({"secret": "guess", "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy", "price": 2350}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) =
        send(&app, Method::POST, "/webhook", Bytes::from_static(b"{\"symbol\": \"XAUUSD\" \"side\": \"buy\"}")).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("body")));
    assert!(body["error"].as_str().unwrap().contains("line 1 column"), "{body}");
    let (status, body) =
        post(&app, json!({"strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy", "price": "twenty"})).await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("price")));

    let alert = json!({"id": "dup-1", "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy", "price": 2350, "lot": 0.01});
    assert_eq!(post(&app, alert.clone()).await.1["status"], "accepted");
    assert_eq!(post(&app, alert.clone()).await.1, json!({"status": "duplicate", "signal_id": "dup-1"}));
    app.handle.drain().await.unwrap();
    assert_eq!(get(&app, "/api/positions").await["positions"].as_array().unwrap().len(), 1, "the repeat never traded");
    assert_eq!(
        get(&app, "/api/signals").await["signals"].as_array().unwrap().len(),
        1,
        "only the good alert is stored"
    );
    app.stop().await.unwrap();
    let db = config.engine.data_dir.join("zepix.db");
    assert_eq!(count(&db, "select count(*) from signals"), 1);
    assert_eq!(count(&db, "select count(*) from orders"), 1);
}

struct Bomb;

impl Plugin for Bomb {
    fn process_entry_signal(&mut self, _signal: &Signal, _ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        panic!("index out of range in my indicator")
    }
}

fn bomb_manifest() -> Manifest {
    let mut m = (zepix_plugins::builtins()[5].manifest)();
    m.id = zepix_model::PluginId::new("bomb").unwrap();
    m.name = "Bomb".into();
    m.strategy = Some("BOMB".into());
    m.settings_schema.clear();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_is_disabled_after_five_failures_while_others_trade() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let bomb = BuiltinPlugin { manifest: bomb_manifest, build: |_| Ok(Box::new(Bomb)) };
    let app = start(&config, Options { extra_plugins: vec![bomb], ..Options::default() }).await;
    for i in 0..6 {
        let (status, _) = post(
            &app,
            json!({"id": format!("b{i}"), "strategy": "BOMB", "symbol": "XAUUSD", "side": "buy", "price": 2350}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = post(&app, json!({"id": format!("e{i}"), "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy", "price": 2350, "lot": 0.01})).await;
        assert_eq!(status, StatusCode::OK);
    }
    app.handle.drain().await.unwrap();
    let bomb = get(&app, "/api/plugins/bomb").await;
    assert_eq!(bomb["state"], "failed", "{bomb}");
    assert_eq!(bomb["counters"]["failures"], 5);
    assert!(bomb["last_error"]["message"].as_str().unwrap().contains("index out of range"));
    assert_eq!(get(&app, "/api/signals/b4").await["outcome"]["status"], "failed");
    assert_eq!(get(&app, "/api/signals/b5").await["outcome"]["code"], "plugin_not_running");
    assert_eq!(
        get(&app, "/api/positions").await["positions"].as_array().unwrap().len(),
        6,
        "signal_executor traded every time"
    );
    let events = get(&app, "/api/events?limit=200").await;
    let text = events.to_string();
    assert!(text.contains("bomb: running → failed (5 consecutive failures"), "{text}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let app = start(&config, Options::default()).await;
    let entry = |id: &str, price: i32| json!({"id": id, "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD", "side": "buy", "price": price, "tp": price + 10, "lot": 0.1});
    post(&app, entry("a", 2350)).await;
    post(&app, json!({"type": "market", "symbol": "XAUUSD", "price": 2361})).await;
    post(&app, entry("b", 2361)).await;
    let (status, _) = send(&app, Method::POST, "/api/plugins/v3_combined/disable", Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    app.handle.drain().await.unwrap();
    app.stop().await.unwrap();

    let app = start(&config, Options::default()).await;
    let status = get(&app, "/api/status").await;
    assert_eq!(status["account"]["balance"], "10100", "the TP profit of 100 was kept: {status}");
    let positions = status["positions"].as_array().unwrap();
    assert_eq!((positions.len(), positions[0]["id"].as_u64()), (1, Some(2)));
    assert_eq!(get(&app, "/api/plugins/v3_combined").await["state"], "disabled", "an operator's choice is remembered");
    post(&app, entry("c", 2362)).await;
    app.handle.drain().await.unwrap();
    let ids: Vec<u64> = get(&app, "/api/positions").await["positions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .collect();
    assert_eq!(ids, [2, 3], "ids continue after a restart, closed ones included");
    let (_, dup) = post(&app, entry("a", 2350)).await;
    assert_eq!(dup["status"], "duplicate", "ids are remembered across restarts");
    app.stop().await.unwrap();
}
