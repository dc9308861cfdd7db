//! Risk additions end to end: a stop loss locks its symbol for the cooldown (listed, kept across
//! a restart, lifted by an operator), and open lots per symbol are capped.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{get, send};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use zepix::app::{App, Options};
use zepix::config::Config;

fn config(dir: &Path) -> Config {
    let mut config = common::config(dir);
    config.risk.sl_cooldown_minutes = 30;
    config.risk.max_lots_per_symbol = "0.3".parse().unwrap();
    config
}

async fn start(config: &Config) -> App {
    common::start(config, Options::default()).await
}

/// Sends an alert and returns its outcome once processed.
async fn alert(app: &App, alert: Value) -> Value {
    let answer = common::alert(app, alert).await;
    let id = answer["signal_id"].as_str().unwrap().to_owned();
    get(app, &format!("/api/signals/{id}")).await["outcome"].clone()
}

fn entry(id: &str, symbol: &str, price: f64, lot: f64) -> Value {
    json!({"id": id, "strategy": "SIGNAL_EXECUTOR", "symbol": symbol, "side": "buy", "price": price,
           "sl": price * 0.99, "lot": lot})
}

async fn locks(app: &App) -> Value {
    get(app, "/api/locks").await["locks"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_loss_locks_its_symbol_until_the_cooldown_ends_or_an_operator_lifts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config(tmp.path());
    let app = start(&config).await;
    assert_eq!(alert(&app, entry("a", "XAUUSD", 2350.0, 0.1)).await["status"], "executed");
    assert_eq!(locks(&app).await, json!([]));
    alert(&app, json!({"type": "market", "symbol": "XAUUSD", "price": 2320})).await;

    let listed = locks(&app).await;
    assert_eq!(listed[0]["symbol"], "XAUUSD", "{listed}");
    assert!(listed[0]["reason"].as_str().unwrap().contains("stop loss of #1"), "{listed}");
    let refused = alert(&app, entry("b", "XAUUSD", 2320.0, 0.1)).await;
    assert_eq!((refused["status"].as_str(), refused["code"].as_str()), (Some("rejected"), Some("symbol_locked")));
    assert_eq!(alert(&app, entry("c", "EURUSD", 1.1, 0.1)).await["status"], "executed", "other symbols trade on");
    app.stop().await.unwrap();

    let app = start(&config).await;
    assert_eq!(locks(&app).await[0]["symbol"], "XAUUSD", "the lock survives a restart");
    assert_eq!(alert(&app, entry("d", "XAUUSD", 2320.0, 0.1)).await["code"], "symbol_locked");

    let (status, _) = send(&app, Method::POST, "/api/locks/BAD%24/unlock", Bytes::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, lifted) = send(&app, Method::POST, "/api/locks/XAUUSD/unlock", Bytes::new()).await;
    assert_eq!((status, lifted["unlocked"]["symbol"].as_str()), (StatusCode::OK, Some("XAUUSD")), "{lifted}");
    let (status, again) = send(&app, Method::POST, "/api/locks/XAUUSD/unlock", Bytes::new()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(locks(&app).await, json!([]));

    // Open lots per symbol are capped at 0.3.
    assert_eq!(alert(&app, entry("e", "XAUUSD", 2320.0, 0.2)).await["status"], "executed");
    let capped = alert(&app, entry("f", "XAUUSD", 2320.0, 0.2)).await;
    assert_eq!(capped["code"], "max_symbol_exposure", "{capped}");
    assert!(capped["reason"].as_str().unwrap().contains("0.2 lots open on XAUUSD"), "{capped}");
    assert_eq!(alert(&app, entry("g", "XAUUSD", 2320.0, 0.1)).await["status"], "executed", "up to the cap");
    app.stop().await.unwrap();
}
