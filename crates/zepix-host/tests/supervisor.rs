//! The supervisor against real processes (a protocol 1 plugin written in plain Python): every call
//! gets exactly one answer whatever the process does; failures restart it; a reload swaps it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use zepix_host::{Launch, PluginSpec, ProcessLink};
use zepix_model::PluginId;
use zepix_plugin::remote::code;
use zepix_plugin::{RemoteEvent, RemoteLink};

struct Harness {
    link: ProcessLink,
    events: mpsc::UnboundedReceiver<RemoteEvent>,
    /// Every `Failed` reason seen so far.
    failed: Vec<String>,
    dir: tempfile::TempDir,
}

fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw_plugin.py");
    std::fs::copy(source, dir.path().join("raw_plugin.py")).unwrap();
    dir
}

fn start(dir: tempfile::TempDir, timeout_ms: u64, extra: &[&str]) -> Harness {
    let (tx, events) = mpsc::unbounded_channel();
    let mut args = vec![dir.path().join("raw_plugin.py").into_os_string()];
    args.extend(extra.iter().map(Into::into));
    let spec = PluginSpec {
        id: PluginId::new("raw").unwrap(),
        launch: Launch { program: PathBuf::from("python3"), args },
        init: json!({"protocols": [1], "plugin_id": "raw"}),
        call_timeout: Duration::from_millis(timeout_ms),
        sandbox: "none (test)".into(),
    };
    let link = ProcessLink::start(&tokio::runtime::Handle::current(), spec, Arc::new(move |e| drop(tx.send(e))));
    Harness { link, events, failed: Vec::new(), dir }
}

impl Harness {
    async fn next(&mut self) -> RemoteEvent {
        let event =
            tokio::time::timeout(Duration::from_secs(60), self.events.recv()).await.expect("an event in time").unwrap();
        if let RemoteEvent::Failed { reason } = &event {
            self.failed.push(reason.clone());
        }
        event
    }

    async fn ready(&mut self) -> (String, bool) {
        loop {
            if let RemoteEvent::Ready { info, reloaded, .. } = self.next().await {
                return (info.version, reloaded);
            }
        }
    }

    /// The answer to `call`, skipping other events.
    async fn reply(&mut self, call: u64) -> Result<Value, zepix_plugin::RpcError> {
        loop {
            if let RemoteEvent::Reply { call: c, result } = self.next().await
                && c == call
            {
                return result;
            }
        }
    }

    fn signal(&self, call: u64, act: &str) {
        let signal = json!({"id": format!("s{call}"), "act": act, "seconds": "0.02"});
        self.link.call(call, "process_entry_signal", json!({ "signal": signal }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_calls_are_answered_in_order() {
    let mut h = start(plugin_dir(), 5_000, &[]);
    for call in 1..=200 {
        h.signal(call, "answer");
    }
    for call in 1..=200 {
        let result = h.reply(call).await.unwrap();
        assert_eq!(result["reason"], "v1");
    }
    assert!(h.failed.is_empty(), "{:?}", h.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_the_plugin_reach_the_kernel_and_answers_go_back() {
    let mut h = start(plugin_dir(), 5_000, &[]);
    h.signal(1, "call");
    let token = loop {
        if let RemoteEvent::Request { token, method, params } = h.next().await {
            assert_eq!(method, "orders.place");
            assert_eq!(params["symbol"], "XAUUSD");
            break token;
        }
    };
    h.link.respond(token, Err(zepix_plugin::RpcError::new(code::CAPABILITY_DENIED, "no orders")));
    let result = h.reply(1).await.unwrap();
    assert!(result["reason"].as_str().unwrap().contains("-32001"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_deadline_fails_and_the_process_restarts() {
    let mut h = start(plugin_dir(), 300, &[]);
    h.ready().await;
    h.signal(1, "hang");
    h.signal(2, "answer");
    let first = h.reply(1).await.unwrap_err();
    assert_eq!(first.code, code::TIMEOUT);
    assert!(first.message.contains("timed out after 300 ms"), "{first:?}");
    let second = h.reply(2).await.unwrap_err();
    assert_eq!(second.code, code::UNAVAILABLE, "calls in flight behind it fail cleanly: {second:?}");
    // One failure is reported, then a new process takes calls.
    let (version, reloaded) = h.ready().await;
    assert_eq!((version.as_str(), reloaded), ("1", false));
    h.signal(3, "answer");
    assert_eq!(h.reply(3).await.unwrap()["reason"], "v1");
    assert_eq!(h.failed.len(), 1, "{:?}", h.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_and_an_oversized_line_each_count_one_failure() {
    let mut h = start(plugin_dir(), 5_000, &[]);
    h.ready().await;
    h.signal(1, "crash");
    assert_eq!(h.reply(1).await.unwrap_err().code, code::UNAVAILABLE);
    h.ready().await;
    h.signal(2, "big");
    assert_eq!(h.reply(2).await.unwrap_err().code, code::UNAVAILABLE);
    while h.failed.len() < 2 {
        h.next().await;
    }
    assert!(h.failed[0].contains("exited"), "{:?}", h.failed);
    assert!(h.failed[1].contains("longer than 1048576 bytes"), "{:?}", h.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_protocol_is_refused_with_both_versions_named() {
    let mut h = start(plugin_dir(), 5_000, &["2"]);
    while h.failed.is_empty() {
        h.next().await;
    }
    let reason = &h.failed[0];
    assert!(reason.contains("chose protocol 2, this engine speaks 1"), "{reason}");
    h.link.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_versions_without_losing_or_repeating_a_call() {
    let mut h = start(plugin_dir(), 5_000, &[]);
    h.ready().await;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut answers = std::collections::BTreeMap::new();
    let mut call = 0;
    for round in 0..3 {
        std::fs::write(h.dir.path().join("version.txt"), format!("{}", round + 2)).unwrap();
        for _ in 0..50 {
            call += 1;
            h.signal(call, "sleep");
        }
        let tx = done_tx.clone();
        h.link.reload(Box::new(move |r| drop(tx.send(r))));
        for _ in 0..50 {
            call += 1;
            h.signal(call, "answer");
        }
        while answers.len() < call as usize {
            if let RemoteEvent::Reply { call: c, result } = h.next().await {
                assert!(answers.insert(c, result.unwrap()["reason"].clone()).is_none(), "call {c} answered twice");
            }
        }
        let info = done_rx.recv().await.unwrap().unwrap();
        assert_eq!(info.version, format!("{}", round + 2));
    }
    assert!(h.failed.is_empty(), "{:?}", h.failed);
    let versions: Vec<&str> = answers.values().map(|v| v.as_str().unwrap()).collect();
    assert!(versions.iter().filter(|v| **v == "v1").count() >= 50, "{versions:?}");
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "versions never go back: {versions:?}");
    call += 1;
    h.signal(call, "answer");
    assert_eq!(h.reply(call).await.unwrap()["reason"], "v4", "the last reload is the version running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_fails_to_initialize_keeps_the_old_version() {
    let mut h = start(plugin_dir(), 5_000, &[]);
    h.ready().await;
    std::fs::write(h.dir.path().join("version.txt"), "broken").unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    h.link.reload(Box::new(move |r| drop(tx.send(r))));
    let error = rx.recv().await.unwrap().unwrap_err();
    assert!(error.contains("initialize failed: cannot initialize"), "{error}");
    h.signal(1, "answer");
    assert_eq!(h.reply(1).await.unwrap()["reason"], "v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_stops_reading_never_blocks_the_sender() {
    let mut h = start(plugin_dir(), 5_000, &[]);
    h.ready().await;
    // The plugin sleeps in its first call while far more than a pipe's worth of calls is sent.
    let sleeper = json!({"id": "s0", "act": "sleep", "seconds": "3"});
    h.link.call(0, "process_entry_signal", json!({ "signal": sleeper }));
    let padding = "x".repeat(2_000);
    let link = h.link;
    let sent = tokio::task::spawn_blocking(move || {
        for call in 1..=500 {
            let signal = json!({"id": format!("s{call}"), "act": "answer", "padding": padding});
            link.call(call, "process_entry_signal", json!({ "signal": signal }));
        }
        link
    });
    let link = tokio::time::timeout(Duration::from_secs(30), sent).await.expect("sending never blocks").unwrap();
    let mut h = Harness { link, events: h.events, failed: h.failed, dir: h.dir };
    assert!(h.events.is_empty(), "every call was sent while the plugin still slept: the sender never waited for it");
    for call in 0..=500 {
        assert!(h.reply(call).await.is_ok(), "call {call} answered once the plugin read again");
    }
}
