//! The Binance source against a local fake server speaking Binance's wire format: bars, trades,
//! pings, a dropped connection and the reconnect, a skipped kline reported as a gap.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::result_large_err, reason = "the handshake callback's signature is tungstenite's")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use zepix_data::{BinanceConfig, BinanceSource, MarketEvent, Stream};
use zepix_model::{Feed, Symbol, Timeframe};

const T0: i64 = 1_704_067_200_000;
const MINUTE: i64 = 60_000;

fn kline(open_ms: i64, closed: bool, close: &str) -> Message {
    Message::text(format!(
        r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":{e},"s":"BTCUSDT","k":{{"t":{open_ms},"T":{e},"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"42000.00000000","c":"{close}","h":"42100.00000000","l":"41900.00000000","v":"3.25000000","n":100,"x":{closed},"q":"136500.0","V":"1.5","Q":"63000.0","B":"0"}}}}}}"#,
        e = open_ms + MINUTE - 1,
    ))
}

fn trade(time_ms: i64, price: &str) -> Message {
    Message::text(format!(
        r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{time_ms},"s":"BTCUSDT","t":7,"p":"{price}","q":"0.01000000","T":{time_ms},"m":false,"M":true}}}}"#
    ))
}

async fn accept(
    listener: &TcpListener,
    paths: &Arc<Mutex<Vec<String>>>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let (tcp, _) = listener.accept().await.unwrap();
    let paths = Arc::clone(paths);
    tokio_tungstenite::accept_hdr_async(tcp, move |request: &Request, response: Response| {
        paths.lock().unwrap().push(request.uri().to_string());
        Ok(response)
    })
    .await
    .unwrap()
}

async fn next(rx: &mut mpsc::Receiver<MarketEvent>) -> MarketEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an event within 20 s")
        .expect("the source runs")
}

fn at(ms: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

#[tokio::test]
async fn bars_ticks_pings_reconnect_and_a_gap() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let server_paths = Arc::clone(&paths);
    let server = tokio::spawn(async move {
        let mut ws = accept(&listener, &server_paths).await;
        ws.send(kline(T0, false, "42050.00000000")).await.unwrap();
        ws.send(kline(T0, true, "42010.00000000")).await.unwrap();
        ws.send(Message::text("{not json")).await.unwrap();
        ws.send(trade(T0 + MINUTE + 5, "42011.50000000")).await.unwrap();
        ws.send(Message::Ping(b"heartbeat".to_vec().into())).await.unwrap();
        let Message::Pong(pong) = ws.next().await.unwrap().unwrap() else { panic!("expected a pong") };
        assert_eq!(&pong[..], b"heartbeat");
        ws.send(kline(T0 + MINUTE, true, "42020.00000000")).await.unwrap();
        // Drop the connection without a closing handshake, as a network failure would.
        drop(ws);

        let mut ws = accept(&listener, &server_paths).await;
        // Binance resends the last kline after a reconnect; then the 00:02 kline never comes.
        ws.send(kline(T0 + MINUTE, true, "42020.00000000")).await.unwrap();
        ws.send(kline(T0 + 3 * MINUTE, true, "42030.00000000")).await.unwrap();
        // Stay connected until the client goes away.
        while let Some(Ok(_)) = ws.next().await {}
    });

    let feed = Feed::new(Symbol::new("BTCUSDT").unwrap(), Timeframe::M1);
    let mut config =
        BinanceConfig::new(vec![Stream::Kline(feed.clone()), Stream::Trade(Symbol::new("BTCUSDT").unwrap())]);
    config.base_url = format!("ws://{addr}");
    config.initial_backoff = Duration::from_millis(10);
    let (tx, mut rx) = mpsc::channel(64);
    let client = BinanceSource::new(config).unwrap().spawn(tx);

    assert_eq!(next(&mut rx).await, MarketEvent::Connected);
    let MarketEvent::Bar(got, bar) = next(&mut rx).await else { panic!("expected the first bar") };
    assert_eq!((got, bar.time, bar.close.to_string()), (feed.clone(), at(T0), "42010".to_owned()));
    assert_eq!(bar.volume.to_string(), "3.25000000");
    let MarketEvent::Tick(symbol, tick) = next(&mut rx).await else { panic!("expected the trade") };
    assert_eq!(
        (symbol.as_str(), tick.price.to_string(), tick.time),
        ("BTCUSDT", "42011.5".to_owned(), at(T0 + MINUTE + 5))
    );
    let MarketEvent::Bar(_, bar) = next(&mut rx).await else { panic!("expected the second bar") };
    assert_eq!(bar.time, at(T0 + MINUTE));
    let MarketEvent::Disconnected { reason } = next(&mut rx).await else { panic!("expected a disconnect") };
    assert!(!reason.is_empty());
    assert_eq!(next(&mut rx).await, MarketEvent::Connected);
    assert_eq!(
        next(&mut rx).await,
        MarketEvent::Gap { feed: feed.clone(), from: at(T0 + 2 * MINUTE), to: at(T0 + 3 * MINUTE) }
    );
    let MarketEvent::Bar(_, bar) = next(&mut rx).await else { panic!("expected the bar after the gap") };
    assert_eq!((bar.time, bar.close.to_string()), (at(T0 + 3 * MINUTE), "42030".to_owned()));

    drop(rx);
    client.await.unwrap();
    server.await.unwrap();
    let want = "/stream?streams=btcusdt@kline_1m/btcusdt@trade";
    assert_eq!(*paths.lock().unwrap(), [want, want]);
}

#[tokio::test]
async fn a_silent_connection_is_dropped_and_redialed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let server = tokio::spawn(async move {
        // Accept and say nothing; the client gives up on this connection and dials again.
        let mut silent = accept(&listener, &paths).await;
        let mut ws = accept(&listener, &paths).await;
        ws.send(kline(T0, true, "42000.00000000")).await.unwrap();
        while let Some(Ok(_)) = ws.next().await {}
        while let Some(Ok(_)) = silent.next().await {}
    });
    let feed = Feed::new(Symbol::new("BTCUSDT").unwrap(), Timeframe::M1);
    let mut config = BinanceConfig::new(vec![Stream::Kline(feed)]);
    config.base_url = format!("ws://{addr}/");
    config.initial_backoff = Duration::from_millis(10);
    config.idle_timeout = Duration::from_millis(300);
    let (tx, mut rx) = mpsc::channel(64);
    let client = BinanceSource::new(config).unwrap().spawn(tx);
    assert_eq!(next(&mut rx).await, MarketEvent::Connected);
    let MarketEvent::Disconnected { reason } = next(&mut rx).await else { panic!("expected a disconnect") };
    assert_eq!(reason, "nothing received for 300ms");
    assert_eq!(next(&mut rx).await, MarketEvent::Connected);
    assert!(matches!(next(&mut rx).await, MarketEvent::Bar(..)));
    drop(rx);
    client.await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn the_source_keeps_retrying_a_server_that_is_down_and_stops_with_its_receiver() {
    // A port with nothing listening: every attempt fails and dropping the receiver ends the task
    // during its backoff instead of leaving it dialing forever.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let feed = Feed::new(Symbol::new("BTCUSDT").unwrap(), Timeframe::M1);
    let mut config = BinanceConfig::new(vec![Stream::Kline(feed)]);
    config.base_url = format!("ws://{addr}");
    config.initial_backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(20);
    let (tx, rx) = mpsc::channel(4);
    let client = BinanceSource::new(config).unwrap().spawn(tx);
    drop(rx);
    tokio::time::timeout(Duration::from_secs(20), client).await.expect("the task ends").unwrap();
}
