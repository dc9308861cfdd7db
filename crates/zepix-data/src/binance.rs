//! The Binance spot market streams: klines (`<symbol>@kline_<interval>`) and trades
//! (`<symbol>@trade`) over one combined WebSocket stream.
//!
//! Messages are read in the real wire format: the combined stream wraps each event as
//! `{"stream": …, "data": …}` (a bare event is accepted too), prices and quantities are strings,
//! and a kline becomes a bar only once it is final (`k.x` true). The source reconnects after
//! any failure with a backoff of 1, 2, 4… seconds up to a cap, treats a connection that is
//! silent for longer than `idle_timeout` as dead (the server pings every 20 s), answers pings,
//! and reports a [`MarketEvent::Gap`] when a kline's open time skips periods, including across a
//! reconnect. A message it cannot read is logged and skipped.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use zepix_model::{Bar, Feed, Price, Symbol, Tick, Timeframe};

use crate::error::DataError;
use crate::event::MarketEvent;

/// Binance's public market data endpoint.
pub const DEFAULT_BASE_URL: &str = "wss://stream.binance.com:9443";

/// The kline intervals Binance streams that are whole minutes up to a week.
const INTERVALS: [&str; 14] = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w"];

/// One stream to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Closed klines of a symbol at a timeframe, as bars.
    Kline(Feed),
    /// Every trade of a symbol, as ticks.
    Trade(Symbol),
}

impl Stream {
    /// The stream's name on Binance, such as `btcusdt@kline_1m`.
    ///
    /// # Errors
    /// When Binance has no kline interval for the timeframe.
    pub fn name(&self) -> Result<String, DataError> {
        match self {
            Self::Kline(feed) => {
                let interval = feed.timeframe.to_string();
                if !INTERVALS.contains(&interval.as_str()) {
                    return Err(DataError::Unsupported {
                        what: "Binance kline interval",
                        value: interval,
                        expected: "one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w",
                    });
                }
                Ok(format!("{}@kline_{interval}", feed.symbol.as_str().to_ascii_lowercase()))
            }
            Self::Trade(symbol) => Ok(format!("{}@trade", symbol.as_str().to_ascii_lowercase())),
        }
    }
}

/// Where to connect, what to subscribe to, and how to retry.
#[derive(Debug, Clone)]
pub struct BinanceConfig {
    /// The endpoint without a path (default [`DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// The streams.
    pub streams: Vec<Stream>,
    /// The first wait before reconnecting (default 1 s); it doubles after each failed attempt.
    pub initial_backoff: Duration,
    /// The longest wait before reconnecting (default 60 s).
    pub max_backoff: Duration,
    /// A connection silent this long is dropped and reconnected (default 60 s).
    pub idle_timeout: Duration,
}

impl BinanceConfig {
    /// The defaults for these streams.
    #[must_use]
    pub fn new(streams: Vec<Stream>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            streams,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
        }
    }

    /// The combined stream's URL: `<base>/stream?streams=a/b/c`.
    ///
    /// # Errors
    /// When there is no stream, or a stream has no Binance name.
    pub fn url(&self) -> Result<String, DataError> {
        if self.streams.is_empty() {
            return Err(DataError::Unsupported {
                what: "Binance streams",
                value: "none".into(),
                expected: "at least one kline or trade stream",
            });
        }
        let names = self.streams.iter().map(Stream::name).collect::<Result<Vec<_>, _>>()?;
        Ok(format!("{}/stream?streams={}", self.base_url.trim_end_matches('/'), names.join("/")))
    }
}

/// A running subscription: turns messages into [`MarketEvent`]s and keeps what gap detection
/// needs across reconnects.
#[derive(Debug)]
pub struct BinanceSource {
    config: BinanceConfig,
    url: String,
    klines: HashSet<Feed>,
    trades: HashSet<Symbol>,
    last_open: HashMap<Feed, DateTime<Utc>>,
}

/// `{"stream": "...", "data": {...}}`, or the event alone.
#[derive(Deserialize)]
#[serde(untagged)]
enum Envelope {
    Combined { data: Payload },
    Bare(Payload),
}

#[derive(Deserialize)]
#[serde(tag = "e")]
enum Payload {
    #[serde(rename = "kline")]
    Kline { s: String, k: Kline },
    #[serde(rename = "trade")]
    Trade {
        s: String,
        p: String,
        q: String,
        #[serde(rename = "T")]
        time: i64,
    },
}

#[derive(Deserialize)]
struct Kline {
    t: i64,
    i: String,
    o: String,
    h: String,
    l: String,
    c: String,
    v: String,
    x: bool,
}

impl BinanceSource {
    /// A source for these settings.
    ///
    /// # Errors
    /// When there is no stream or a timeframe has no Binance interval.
    pub fn new(config: BinanceConfig) -> Result<Self, DataError> {
        let url = config.url()?;
        let mut klines = HashSet::new();
        let mut trades = HashSet::new();
        for stream in &config.streams {
            match stream {
                Stream::Kline(feed) => klines.insert(feed.clone()),
                Stream::Trade(symbol) => trades.insert(symbol.clone()),
            };
        }
        Ok(Self { config, url, klines, trades, last_open: HashMap::new() })
    }

    /// The URL it connects to.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs [`BinanceSource::run`] on a task.
    pub fn spawn(self, events: mpsc::Sender<MarketEvent>) -> JoinHandle<()> {
        tokio::spawn(self.run(events))
    }

    /// Connects, streams events into `events`, and reconnects after every failure, until the
    /// receiver is dropped.
    pub async fn run(mut self, events: mpsc::Sender<MarketEvent>) {
        let mut backoff = self.config.initial_backoff;
        loop {
            let attempt = tokio::time::timeout(self.config.idle_timeout, tokio_tungstenite::connect_async(&self.url));
            match attempt.await {
                Ok(Ok((socket, _response))) => {
                    tracing::info!("connected to {}", self.url);
                    backoff = self.config.initial_backoff;
                    if events.send(MarketEvent::Connected).await.is_err() {
                        return;
                    }
                    let Some(reason) = self.stream(socket, &events).await else { return };
                    tracing::warn!("Binance stream disconnected: {reason}");
                    if events.send(MarketEvent::Disconnected { reason }).await.is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => tracing::warn!("cannot connect to {}: {e}; retrying in {backoff:?}", self.url),
                Err(_) => tracing::warn!("connecting to {} timed out; retrying in {backoff:?}", self.url),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = events.closed() => return,
            }
            backoff = next_backoff(backoff, self.config.max_backoff);
        }
    }

    /// Reads one connection until it fails (the reason) or the receiver is gone (`None`).
    async fn stream<S>(
        &mut self,
        mut socket: tokio_tungstenite::WebSocketStream<S>,
        events: &mpsc::Sender<MarketEvent>,
    ) -> Option<String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        loop {
            let message = tokio::select! {
                next = tokio::time::timeout(self.config.idle_timeout, socket.next()) => next,
                () = events.closed() => return None,
            };
            let message = match message {
                Err(_) => return Some(format!("nothing received for {:?}", self.config.idle_timeout)),
                Ok(None) => return Some("the connection ended".into()),
                Ok(Some(Err(e))) => return Some(e.to_string()),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    for event in self.handle_text(&text) {
                        events.send(event).await.ok()?;
                    }
                }
                Message::Ping(_) => {
                    // tungstenite queued the pong with the ping's payload; flushing sends it now
                    // rather than at the next read.
                    if let Err(e) = socket.flush().await {
                        return Some(e.to_string());
                    }
                }
                Message::Close(frame) => {
                    return Some(
                        frame.map_or_else(|| "closed by the server".into(), |f| format!("closed by the server: {f}")),
                    );
                }
                Message::Binary(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// The events one text message makes: none for a kline still open, a stream not subscribed
    /// or a message that cannot be read (logged); a bar, possibly after a gap; or a tick.
    pub fn handle_text(&mut self, text: &str) -> Vec<MarketEvent> {
        let payload = match serde_json::from_str::<Envelope>(text) {
            Ok(Envelope::Combined { data } | Envelope::Bare(data)) => data,
            Err(e) => {
                tracing::warn!("skipping an unreadable Binance message ({e}): {}", shorten(text));
                return Vec::new();
            }
        };
        let result = match payload {
            Payload::Kline { s, k } => self.kline(&s, k),
            Payload::Trade { s, p, q, time } => self.trade(&s, &p, &q, time),
        };
        result.unwrap_or_else(|problem| {
            tracing::warn!("skipping a Binance message: {problem}: {}", shorten(text));
            Vec::new()
        })
    }

    fn kline(&mut self, symbol: &str, k: Kline) -> Result<Vec<MarketEvent>, String> {
        if !k.x {
            return Ok(Vec::new());
        }
        let symbol = Symbol::new(symbol).map_err(|e| e.to_string())?;
        let timeframe = Timeframe::from_str(&k.i).map_err(|e| e.to_string())?;
        let feed = Feed::new(symbol, timeframe);
        if !self.klines.contains(&feed) {
            return Err(format!("not subscribed to {feed}"));
        }
        let time = DateTime::from_timestamp_millis(k.t).ok_or_else(|| format!("bad open time {}", k.t))?;
        let bar = Bar::new(time, price(&k.o)?, price(&k.h)?, price(&k.l)?, price(&k.c)?, decimal(&k.v)?)
            .map_err(|e| e.to_string())?;
        let mut events = Vec::with_capacity(2);
        let period = chrono::Duration::minutes(i64::from(timeframe.minutes()));
        if let Some(&last) = self.last_open.get(&feed) {
            if time <= last {
                // Binance repeats the current kline after a reconnect: nothing new.
                return Ok(events);
            }
            if time > last + period {
                events.push(MarketEvent::Gap { feed: feed.clone(), from: last + period, to: time });
            }
        }
        self.last_open.insert(feed.clone(), time);
        events.push(MarketEvent::Bar(feed, bar));
        Ok(events)
    }

    fn trade(&self, symbol: &str, p: &str, q: &str, time: i64) -> Result<Vec<MarketEvent>, String> {
        let symbol = Symbol::new(symbol).map_err(|e| e.to_string())?;
        if !self.trades.contains(&symbol) {
            return Err(format!("not subscribed to trades of {symbol}"));
        }
        let time = DateTime::from_timestamp_millis(time).ok_or_else(|| format!("bad trade time {time}"))?;
        let tick = Tick { time, price: price(p)?, quantity: decimal(q)? };
        Ok(vec![MarketEvent::Tick(symbol, tick)])
    }
}

/// The wait after `current` failed: double, up to `max`.
fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

fn price(text: &str) -> Result<Price, String> {
    Price::from_str(text).map_err(|e| e.to_string())
}

fn decimal(text: &str) -> Result<Decimal, String> {
    Decimal::from_str(text).map_err(|e| format!("bad quantity `{text}`: {e}"))
}

fn shorten(text: &str) -> &str {
    let end = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
    &text[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kline(open_ms: i64, closed: bool) -> String {
        format!(
            r#"{{"stream":"btcusdt@kline_1m","data":{{"e":"kline","E":{e},"s":"BTCUSDT","k":{{"t":{open_ms},"T":{close},"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"42000.10000000","c":"42010.50000000","h":"42020.00000000","l":"41990.00000000","v":"12.50000000","n":100,"x":{closed},"q":"525000.00","V":"6.2","Q":"260000.0","B":"0"}}}}}}"#,
            e = open_ms + 59_999,
            close = open_ms + 59_999,
        )
    }

    fn source() -> BinanceSource {
        let feed = Feed::new(Symbol::new("BTCUSDT").unwrap(), Timeframe::M1);
        BinanceSource::new(BinanceConfig::new(vec![
            Stream::Kline(feed),
            Stream::Trade(Symbol::new("BTCUSDT").unwrap()),
        ]))
        .unwrap()
    }

    const T0: i64 = 1_704_067_200_000;

    #[test]
    fn the_url_names_every_stream_in_lower_case() {
        assert_eq!(source().url(), "wss://stream.binance.com:9443/stream?streams=btcusdt@kline_1m/btcusdt@trade");
        let odd = Feed::new(Symbol::new("ETHUSDT").unwrap(), Timeframe::from_minutes(7).unwrap());
        let e = BinanceSource::new(BinanceConfig::new(vec![Stream::Kline(odd)])).unwrap_err();
        assert!(e.to_string().contains("Binance kline interval `7m`"), "{e}");
        assert!(BinanceSource::new(BinanceConfig::new(Vec::new())).is_err());
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let mut wait = BinanceConfig::new(Vec::new()).initial_backoff;
        let mut waits = Vec::new();
        for _ in 0..9 {
            waits.push(wait.as_secs());
            wait = next_backoff(wait, Duration::from_secs(60));
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn a_final_kline_becomes_a_bar_and_an_open_one_does_not() {
        let mut s = source();
        assert_eq!(s.handle_text(&kline(T0, false)), []);
        let events = s.handle_text(&kline(T0, true));
        let [MarketEvent::Bar(feed, bar)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(feed.to_string(), "BTCUSDT 1m");
        assert_eq!(bar.time, DateTime::from_timestamp_millis(T0).unwrap());
        assert_eq!(bar.open.to_string(), "42000.1");
        assert_eq!(bar.close.to_string(), "42010.5");
        assert_eq!(bar.volume, Decimal::new(125, 1));
        // The same kline again (a resend after a reconnect) is not a new bar.
        assert_eq!(s.handle_text(&kline(T0, true)), []);
    }

    #[test]
    fn a_skipped_kline_is_reported_as_a_gap_before_the_bar() {
        let mut s = source();
        s.handle_text(&kline(T0, true));
        let events = s.handle_text(&kline(T0 + 3 * 60_000, true));
        let [MarketEvent::Gap { from, to, .. }, MarketEvent::Bar(_, bar)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(*from, DateTime::from_timestamp_millis(T0 + 60_000).unwrap());
        assert_eq!(*to, bar.time);
        assert_eq!(s.handle_text(&kline(T0 + 4 * 60_000, true)).len(), 1);
    }

    #[test]
    fn a_trade_becomes_a_tick() {
        let mut s = source();
        let text = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1704067200123,"s":"BTCUSDT","t":12345,"p":"42000.01000000","q":"0.00150000","T":1704067200120,"m":true,"M":true}}"#;
        let events = s.handle_text(text);
        let [MarketEvent::Tick(symbol, tick)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(symbol.as_str(), "BTCUSDT");
        assert_eq!(tick.price.to_string(), "42000.01");
        assert_eq!(tick.quantity, Decimal::new(15, 4));
        assert_eq!(tick.time, DateTime::from_timestamp_millis(1_704_067_200_120).unwrap());
        // A bare event (a raw stream, not combined) reads the same.
        let bare = r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.5","q":"2","T":1704067200000,"m":false,"M":true}"#;
        assert_eq!(s.handle_text(bare).len(), 1);
    }

    #[test]
    fn bad_messages_are_skipped() {
        let mut s = source();
        for text in [
            "not json",
            "{}",
            r#"{"result":null,"id":1}"#,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"-1","q":"1","T":1}}"#,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"abc","q":"1","T":1}}"#,
            r#"{"stream":"ethusdt@trade","data":{"e":"trade","s":"ETHUSDT","p":"1","q":"1","T":1}}"#,
            r#"{"stream":"btcusdt@kline_1M","data":{"e":"kline","s":"BTCUSDT","k":{"t":0,"i":"1M","o":"1","h":"1","l":"1","c":"1","v":"1","x":true}}}"#,
            r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","s":"BTCUSDT","k":{"t":0,"i":"1m","o":"2","h":"1","l":"1","c":"1","v":"1","x":true}}}"#,
            r#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate","s":"BTCUSDT"}}"#,
        ] {
            assert_eq!(s.handle_text(text), [], "{text}");
        }
    }
}
