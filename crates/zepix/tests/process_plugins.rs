//! Python plugins in a running engine, end to end: the real `zepix` binary launches each one in
//! its sandbox, the SDK serves it, alerts arrive over HTTP, and the outcomes are read back the way
//! a trader reads them (`/api/signals`, `/api/positions`, `/api/plugins`).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use zepix::app::{self, App, Options};
use zepix::client::Client;
use zepix::config::Config;
use zepix_model::LiveClock;

fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.engine.data_dir = dir.join("data");
    config.plugin_system.plugin_dir = dir.join("plugins");
    // Room for every alert and position these tests send: the limits are not what they test.
    config.server.rate_limit_per_sec = 0;
    config.risk.max_open_positions = 1_000;
    config.risk.max_open_per_plugin = 1_000;
    config.risk.max_orders_per_minute = 100_000;
    config
}

async fn start(config: &Config) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = Options { zepix_binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_zepix"))), ..Options::default() };
    app::start(config, Arc::new(LiveClock), listener, options).await.unwrap()
}

async fn send(app: &App, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let mut client = Client::connect(app.addr).await.unwrap();
    let body = if body.is_null() { Bytes::new() } else { Bytes::from(body.to_string()) };
    let (status, body) = client.send(method, path, body, None).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn post_alert(app: &App, mut alert: Value) {
    alert["secret"] = Value::String(app.secret.value.clone());
    let (status, answer) = send(app, Method::POST, "/webhook", alert).await;
    assert_eq!((status, answer["status"].as_str()), (StatusCode::OK, Some("accepted")), "{answer}");
}

async fn outcome(app: &App, id: &str) -> Value {
    let (status, body) = send(app, Method::GET, &format!("/api/signals/{id}"), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{id}: {body}");
    body["outcome"].clone()
}

fn write_plugin(root: &Path, id: &str, strategy: &str, code: &str) -> PathBuf {
    let dir = root.join("plugins").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = format!(
        "id = \"{id}\"\nname = \"{id}\"\nversion = \"1.0.0\"\nruntime = \"python\"\nentry = \"plugin.py\"\n\
         protocol = 1\nroles = [\"logic\"]\nstrategy = \"{strategy}\"\n\
         capabilities = [\"orders\", \"positions\", \"risk\", \"trend\", \"db\"]\n\
         [limits]\ncall_timeout_ms = 3000\n\
         [settings_schema.min_confidence]\ntype = \"number\"\ndefault = 60\n"
    );
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    std::fs::write(dir.join("plugin.py"), code).unwrap();
    dir
}

const FILTER_V1: &str = r#"from zepix_sdk import LogicPlugin


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal):
        confidence = float(signal.get("confidence", 0))
        if confidence < self.config["min_confidence"]:
            return self.reject(f"confidence {confidence} below {self.config['min_confidence']}")
        placed = self.services.orders.place_from_signal(signal)
        return self.executed(orders=[placed["order"]["id"]])
"#;

fn entry(id: &str, strategy: &str, confidence: u32) -> Value {
    json!({"id": id, "strategy": strategy, "symbol": "XAUUSD", "side": "buy", "price": "2350",
           "sl": "2340", "lot": "0.1", "confidence": confidence})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_plugin_trades_a_routed_alert_and_a_reload_changes_its_behaviour() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_plugin(tmp.path(), "my_logic", "MY_LOGIC", FILTER_V1);
    let app = start(&config(tmp.path())).await;

    post_alert(&app, entry("low", "MY_LOGIC", 40)).await;
    post_alert(&app, entry("high", "MY_LOGIC", 80)).await;
    app.handle.drain().await.unwrap();
    let low = outcome(&app, "low").await;
    assert_eq!((low["status"].as_str(), low["plugin"].as_str()), (Some("rejected"), Some("my_logic")), "{low}");
    assert_eq!(low["reason"], "confidence 40.0 below 60");
    let high = outcome(&app, "high").await;
    assert_eq!(high["status"], "executed", "{high}");
    let (_, positions) = send(&app, Method::GET, "/api/positions", Value::Null).await;
    let opened = &positions["positions"][0];
    assert_eq!((opened["plugin"].as_str(), opened["lots"].as_str()), (Some("my_logic"), Some("0.1")), "{positions}");
    assert_eq!(opened["signal_id"], "high", "the order is linked to the alert that caused it");

    let (_, plugin) = send(&app, Method::GET, "/api/plugins/my_logic", Value::Null).await;
    assert_eq!(plugin["state"], "running", "{plugin}");
    assert_eq!(plugin["sandbox"], "full", "{plugin}");

    std::fs::write(dir.join("plugin.py"), FILTER_V1.replace("self.config[\"min_confidence\"]:", "100:")).unwrap();
    let (status, answer) = send(&app, Method::POST, "/api/plugins/my_logic/reload", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    post_alert(&app, entry("after-reload", "MY_LOGIC", 80)).await;
    app.handle.drain().await.unwrap();
    let after = outcome(&app, "after-reload").await;
    assert_eq!(after["status"], "rejected", "the new code decides: {after}");

    std::fs::write(dir.join("plugin.py"), "def broken(:\n").unwrap();
    let (status, answer) = send(&app, Method::POST, "/api/plugins/my_logic/reload", Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("SyntaxError"), "the reason is reported: {answer}");
    post_alert(&app, entry("old-still-runs", "MY_LOGIC", 80)).await;
    app.handle.drain().await.unwrap();
    assert_eq!(outcome(&app, "old-still-runs").await["status"], "rejected", "the running version kept trading");
    app.stop().await.unwrap();
}

const SLOW: &str = r#"import time
from zepix_sdk import LogicPlugin


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal):
        time.sleep(2)
        return self.ignore("slept 2 s")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_sleeps_two_seconds_never_delays_another() {
    let tmp = tempfile::tempdir().unwrap();
    write_plugin(tmp.path(), "slow", "SLOW", SLOW);
    write_plugin(tmp.path(), "fast", "FAST", FILTER_V1);
    let app = start(&config(tmp.path())).await;
    // Both processes are up before the clock matters.
    post_alert(&app, entry("warm-slow", "SLOW", 80)).await;
    post_alert(&app, entry("warm-fast", "FAST", 80)).await;
    app.handle.drain().await.unwrap();

    post_alert(&app, entry("slow-1", "SLOW", 80)).await;
    for i in 0..20 {
        post_alert(&app, entry(&format!("fast-{i}"), "FAST", 80)).await;
    }
    app.handle.drain().await.unwrap();
    let store = app.handle.store();
    let slow = store.signal(&"slow-1".parse().unwrap()).unwrap().unwrap();
    for i in 0..20 {
        let fast = store.signal(&format!("fast-{i}").parse().unwrap()).unwrap().unwrap();
        assert_eq!(fast.outcome.status, zepix_engine::OutcomeStatus::Executed);
        assert!(
            fast.processed_at < slow.processed_at,
            "fast-{i} was decided while the slow plugin was still sleeping: {} vs {}",
            fast.processed_at,
            slow.processed_at
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_stream_across_two_reloads_loses_nothing_and_repeats_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_plugin(tmp.path(), "stream", "STREAM", FILTER_V1);
    let app = start(&config(tmp.path())).await;
    let sender = {
        let secret = app.secret.value.clone();
        let addr = app.addr;
        tokio::spawn(async move {
            let mut client = Client::connect(addr).await.unwrap();
            for i in 0..300 {
                let side = if i % 2 == 0 { "buy" } else { "sell" };
                let alert = json!({"secret": secret, "id": format!("s-{i}"), "strategy": "STREAM",
                                   "symbol": "EURUSD", "side": side, "price": "1.0850", "lot": "0.01",
                                   "confidence": 90});
                let (status, _) =
                    client.send(Method::POST, "/webhook", Bytes::from(alert.to_string()), None).await.unwrap();
                assert_eq!(status, StatusCode::OK);
            }
        })
    };
    for version in ["2.0.0", "3.0.0"] {
        let code = FILTER_V1
            .replace("def process_entry_signal", &format!("VERSION = \"{version}\"\n\n    def process_entry_signal"));
        std::fs::write(dir.join("plugin.py"), code).unwrap();
        let (status, answer) = send(&app, Method::POST, "/api/plugins/stream/reload", Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    sender.await.unwrap();
    app.handle.drain().await.unwrap();
    let db = tmp.path().join("data/zepix.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM signals WHERE id LIKE 's-%'"), 300, "every signal has one outcome");
    assert_eq!(
        count("SELECT COUNT(*) FROM signals WHERE id LIKE 's-%' AND status = 'executed'"),
        300,
        "none failed across the reloads"
    );
    assert_eq!(count("SELECT COUNT(*) FROM orders"), 300, "no signal was handled twice");
    app.stop().await.unwrap();
}

const HOSTILE: &str = r#"import json
import os
import signal
import socket
import subprocess
from zepix_sdk import LogicPlugin


def attempt(action):
    try:
        detail = action()
        return False, repr(detail)[:200]
    except BaseException as e:  # every refusal counts, MemoryError included
        return True, f"{type(e).__name__}: {e}"[:200]


def system():
    status = os.system("true")
    if status != 0:
        raise OSError(f"os.system could not run a command (status {status})")
    return status


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal_):
        probe, arg = signal_["probe"], signal_.get("arg", "")
        plugins = self.data_dir.parent
        actions = {
            "read_other_db": lambda: open(plugins / "signal_executor" / "plugin.db", "rb").read(16),
            "read_config": lambda: open(arg).read(),
            "write_tmp": lambda: open("/tmp/zepix-hostile-was-here", "w").write("x"),
            "write_plugin_dir": lambda: open(os.path.join(os.path.dirname(__file__), "x"), "w").write("x"),
            "write_own_data": lambda: open(self.data_dir / "mine.txt", "w").write("mine"),
            "os_system": system,
            "subprocess": lambda: subprocess.run(["true"]).returncode,
            "connect": lambda: socket.create_connection(("127.0.0.1", int(arg)), timeout=2),
            "kill_engine": lambda: os.kill(os.getppid(), signal.SIGTERM),
            "allocate_1gib": lambda: len(bytearray(1 << 30)),
            "loop_forever": lambda: [None for _ in iter(int, 1)],
        }
        denied, detail = attempt(actions[probe])
        return self.ignore(json.dumps({"probe": probe, "denied": denied, "detail": detail}))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_plugin_is_denied_everything_while_the_engine_keeps_trading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_plugin(tmp.path(), "hostile", "HOSTILE", HOSTILE);
    std::fs::write(
        dir.join("plugin.toml"),
        std::fs::read_to_string(dir.join("plugin.toml"))
            .unwrap()
            .replace("call_timeout_ms = 3000", "call_timeout_ms = 1500"),
    )
    .unwrap();
    let config_file = tmp.path().join("zepix.toml");
    std::fs::write(&config_file, "[server]\nsecret = \"do-not-read-me\"\n").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let app = start(&config(tmp.path())).await;

    // The built-in executor trades between every probe: the engine keeps serving meanwhile.
    let mut trades = 0;
    let mut trade = async |app: &App| {
        trades += 1;
        let id = format!("trade-{trades}");
        post_alert(
            app,
            json!({"id": id, "strategy": "SIGNAL_EXECUTOR", "symbol": "EURUSD", "side": "buy",
                               "price": "1.0850", "lot": "0.01"}),
        )
        .await;
        id
    };
    let first_trade = trade(&app).await;
    app.handle.drain().await.unwrap();
    assert_eq!(outcome(&app, &first_trade).await["status"], "executed");

    let probes = [
        ("read_other_db", ""),
        ("read_config", config_file.to_str().unwrap()),
        ("write_tmp", ""),
        ("write_plugin_dir", ""),
        ("os_system", ""),
        ("subprocess", ""),
        ("connect", port.as_str()),
        ("kill_engine", ""),
        ("allocate_1gib", ""),
    ];
    for (probe, arg) in probes {
        post_alert(
            &app,
            json!({"id": probe, "strategy": "HOSTILE", "symbol": "XAUUSD", "side": "buy",
                                "price": "2350", "probe": probe, "arg": arg}),
        )
        .await;
        let traded = trade(&app).await;
        app.handle.drain().await.unwrap();
        let o = outcome(&app, probe).await;
        let report: Value = serde_json::from_str(o["reason"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
        assert_eq!(report["denied"], true, "{probe} must be denied: {o}");
        assert_eq!(outcome(&app, &traded).await["status"], "executed", "the engine kept trading during {probe}");
    }
    assert!(listener.accept().is_err(), "no connection reached the listener");
    assert!(!Path::new("/tmp/zepix-hostile-was-here").exists());

    post_alert(
        &app,
        json!({"id": "own-data", "strategy": "HOSTILE", "symbol": "XAUUSD", "side": "buy",
                            "price": "2350", "probe": "write_own_data"}),
    )
    .await;
    app.handle.drain().await.unwrap();
    let o = outcome(&app, "own-data").await;
    assert!(o["reason"].as_str().unwrap().contains("\"denied\": false"), "its own data folder is writable: {o}");

    // A loop that never ends is stopped by the call's deadline; the engine trades meanwhile.
    post_alert(
        &app,
        json!({"id": "loop", "strategy": "HOSTILE", "symbol": "XAUUSD", "side": "buy",
                            "price": "2350", "probe": "loop_forever"}),
    )
    .await;
    let during = trade(&app).await;
    app.handle.drain().await.unwrap();
    let looped = outcome(&app, "loop").await;
    assert_eq!(looped["status"], "failed", "{looped}");
    assert!(looped["reason"].as_str().unwrap().contains("timed out after 1500 ms"), "{looped}");
    assert_eq!(outcome(&app, &during).await["status"], "executed");
    let (_, plugin) = send(&app, Method::GET, "/api/plugins/hostile", Value::Null).await;
    assert_eq!(plugin["counters"]["failures"], 1, "the timeout counted once: {plugin}");
    app.stop().await.unwrap();
}
