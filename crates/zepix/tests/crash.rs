//! Durability against SIGKILL, with the real `zepix` binary: every acknowledged alert is
//! processed exactly once after a restart, whether the engine died before processing anything or
//! in the middle of a burst.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use zepix::client::Client;

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Limits high enough that every test alert opens a position.
const CONFIG: &str =
    "[risk]\nmax_open_positions = 10000\nmax_open_per_plugin = 10000\nmax_orders_per_minute = 100000\n";

/// The engine process; killed when dropped, so a failing test leaves nothing running.
struct Engine(Child);

impl Engine {
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(data: &Path, addr: SocketAddr, hold: bool) -> Engine {
    let config = data.parent().unwrap().join("zepix.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zepix"));
    cmd.arg("--config").arg(&config).args(["run", "--bind", &addr.to_string(), "--data-dir"]).arg(data);
    if hold {
        cmd.arg("--hold");
    }
    cmd.env("ZEPIX_WEBHOOK_SECRET", "crash-test")
        .env("ZEPIX_LOG", "warn")
        .current_dir(data.parent().unwrap())
        .stdout(Stdio::null())
        .spawn()
        .map(Engine)
        .unwrap()
}

async fn connect(addr: SocketAddr) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut c) = Client::connect(addr).await
            && matches!(c.send(Method::GET, "/health", Bytes::new(), None).await, Ok((StatusCode::OK, _)))
        {
            return c;
        }
        assert!(Instant::now() < deadline, "the engine did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn entry(i: usize) -> Bytes {
    Bytes::from(
        json!({"secret": "crash-test", "id": format!("k-{i}"), "strategy": "SIGNAL_EXECUTOR", "symbol": "XAUUSD",
               "side": "buy", "price": 2350, "lot": 0.01})
        .to_string(),
    )
}

/// Polls until `n` signals are recorded (bounded), then returns them.
async fn recorded(client: &mut Client, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = client.get_json("/api/signals?limit=1000", None).await.unwrap();
        let signals = body["signals"].as_array().cloned().unwrap_or_default();
        if signals.len() >= n {
            return signals;
        }
        assert!(Instant::now() < deadline, "only {} of {n} signals processed", signals.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_exactly_once(signals: &[Value], n: usize, positions: usize) {
    let mut ids: Vec<&str> = signals.iter().filter_map(|s| s["signal"]["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "each acknowledged signal recorded once");
    assert!(signals.iter().all(|s| s["outcome"]["status"] == "executed"), "every one traded");
    assert_eq!(positions, n, "one position per signal, none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_acknowledgement_then_restart_processes_each_signal_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let addr = free_addr();

    // 1. Acknowledged but held (not processed), then killed.
    let engine = spawn(&data, addr, true);
    let mut client = connect(addr).await;
    for i in 0..40 {
        let (status, body) = client.send(Method::POST, "/webhook", entry(i), None).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    }
    engine.kill();

    // 2. Restarted: all 40 processed once; a repeat is a duplicate.
    let engine = spawn(&data, addr, false);
    let mut client = connect(addr).await;
    let signals = recorded(&mut client, 40).await;
    let positions = client.get_json("/api/positions", None).await.unwrap()["positions"].as_array().unwrap().len();
    assert_exactly_once(&signals, 40, positions);
    let (_, body) = client.send(Method::POST, "/webhook", entry(7), None).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["status"], "duplicate");

    // 3. Killed in the middle of a burst, right after the last acknowledgement.
    for i in 40..240 {
        let (status, _) = client.send(Method::POST, "/webhook", entry(i), None).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    engine.kill();

    // 4. Restarted: the 240 acknowledged signals, each exactly once, one position each.
    let engine = spawn(&data, addr, false);
    let mut client = connect(addr).await;
    let signals = recorded(&mut client, 240).await;
    let positions = client.get_json("/api/positions", None).await.unwrap()["positions"].as_array().unwrap().len();
    assert_exactly_once(&signals, 240, positions);
    engine.kill();
}
