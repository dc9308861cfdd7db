//! A strategy plugin live: klines from a local fake Binance stream server (the real wire format)
//! reach `bollinger` in a running engine, whose signals go through the inbox to
//! `signal_executor` and open and close a paper position.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use zepix::app::{self, Options};
use zepix::config::Config;
use zepix_model::{EventKind, LiveClock};

const T0: i64 = 1_704_067_200_000;
const MINUTE: i64 = 60_000;

/// A closed one-minute BTCUSDT kline as Binance's combined stream sends it.
fn kline(n: i64, close: &str) -> Message {
    let open_ms = T0 + n * MINUTE;
    Message::text(format!(
        r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":{e},"s":"BTCUSDT","k":{{"t":{open_ms},"T":{e},"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"{close}","c":"{close}","h":"{close}","l":"{close}","v":"3.25","n":100,"x":true,"q":"136500.0","V":"1.5","Q":"63000.0","B":"0"}}}}}}"#,
        e = open_ms + MINUTE - 1,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollinger_trades_live_bars_from_the_binance_stream() {
    let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[engine]
data_dir = "{data}"
[plugin_system]
plugin_dir = "{plugins}"
[plugins.bollinger.settings]
period = 3
k = 1.0
[market_data]
binance_url = "{url}"
[[market_data.feeds]]
source = "binance"
symbol = "BTCUSDT"
timeframe = "1m"
"#,
        data = tmp.path().join("data").display(),
        plugins = tmp.path().join("plugins").display(),
    );
    let config = Config::parse(&text, |_| None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = app::start(&config, Arc::new(LiveClock), listener, Options::default()).await.unwrap();
    let mut events = app.handle.subscribe();

    let (tcp, _) = tokio::time::timeout(Duration::from_secs(30), server.accept()).await.unwrap().unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    // Period 3, k 1: the fourth close, 90, is below the lower band; the sixth, 100, above the middle.
    for (n, close) in ["100", "100", "100", "90", "92", "100"].iter().enumerate() {
        ws.send(kline(n as i64, close)).await.unwrap();
    }
    let mut seen = Vec::new();
    while !seen.iter().any(|(k, _)| *k == EventKind::PositionClosed) {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv()).await.expect("trade events").unwrap();
        seen.push((event.kind, event.message.clone()));
    }
    let placed: Vec<&String> = seen.iter().filter(|(k, _)| *k == EventKind::OrderPlaced).map(|(_, m)| m).collect();
    assert_eq!(placed.len(), 1, "{seen:?}");
    assert!(placed[0].contains("buy 1 BTCUSDT at 90"), "{seen:?}");
    let closed: Vec<&String> = seen.iter().filter(|(k, _)| *k == EventKind::PositionClosed).map(|(_, m)| m).collect();
    assert!(closed[0].contains("at 100") && closed[0].contains(": 10"), "{seen:?}");

    app.handle.drain().await.unwrap();
    let signals = app.handle.store().recent_signals(10).unwrap();
    let from_plugin: Vec<_> = signals.iter().filter(|s| s.source == "plugin:bollinger").collect();
    assert_eq!(from_plugin.len(), 2, "entry and exit went through the inbox: {signals:?}");
    assert!(from_plugin.iter().all(|s| s.signal.id.as_str().starts_with("bollinger:BTCUSDT:1m:")));
    app.stop().await.unwrap();
}
