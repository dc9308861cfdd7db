//! `[market_data]`: the live bar feeds `zepix run` starts (Binance streams, a random walk), their
//! bars handed to the kernel, and the signals strategy plugins emit put into the inbox.

use std::sync::mpsc::Sender;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zepix_data::{BinanceConfig, BinanceSource, MarketEvent, RandomWalkSource, Stream};
use zepix_engine::{Command, EngineHandle};
use zepix_model::{Feed, PluginId, Signal, SignalSource, Symbol, Timeframe};

/// Where a feed's bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Binance's public kline stream.
    Binance,
    /// A seeded random walk, one bar per `every_ms` (demos without a network).
    RandomWalk,
}

impl SourceKind {
    /// The name used in `zepix.toml`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::RandomWalk => "random_walk",
        }
    }
}

/// One `[[market_data.feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// `binance` or `random_walk`.
    pub source: SourceKind,
    /// The symbol (Binance: as Binance spells it, e.g. `BTCUSDT`).
    pub symbol: Symbol,
    /// The bar length.
    pub timeframe: Timeframe,
    /// Random walk: the seed.
    #[serde(default)]
    pub seed: u64,
    /// Random walk: real milliseconds between bars.
    #[serde(default = "default_every_ms")]
    pub every_ms: u64,
}

const fn default_every_ms() -> u64 {
    1_000
}

/// `[market_data]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketDataConfig {
    /// The Binance stream server (a local fake in tests).
    pub binance_url: String,
    /// The feeds.
    pub feeds: Vec<FeedConfig>,
}

impl Default for MarketDataConfig {
    fn default() -> Self {
        Self { binance_url: zepix_data::binance::DEFAULT_BASE_URL.to_owned(), feeds: Vec::new() }
    }
}

impl MarketDataConfig {
    /// What cannot run: a Binance feed on a timeframe Binance has no klines for, a random walk
    /// faster than one bar per 10 ms, the same feed twice.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, f) in self.feeds.iter().enumerate() {
            let feed = Feed::new(f.symbol.clone(), f.timeframe);
            if !seen.insert(feed.clone()) {
                problems.push(format!("feeds[{i}]: {feed} is configured twice"));
            }
            match f.source {
                SourceKind::Binance => {
                    if let Err(e) = Stream::Kline(feed).name() {
                        problems.push(format!("feeds[{i}] timeframe: {e}"));
                    }
                }
                SourceKind::RandomWalk if f.every_ms < 10 => {
                    problems.push(format!("feeds[{i}] every_ms: {} is too fast; expected at least 10", f.every_ms));
                }
                SourceKind::RandomWalk => {}
            }
        }
        problems
    }
}

/// The running feeds; dropped or stopped, they end.
#[derive(Debug, Default)]
pub struct Feeds {
    tasks: Vec<JoinHandle<()>>,
}

impl Feeds {
    /// Stops every source and the forwarder.
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Starts the configured sources; their closed bars go to the kernel as [`Command::Bar`], gaps
/// and connection changes to the log.
#[must_use]
pub fn start(config: &MarketDataConfig, kernel: &Sender<Command>) -> Feeds {
    if config.feeds.is_empty() {
        return Feeds::default();
    }
    let (tx, mut rx) = mpsc::channel::<MarketEvent>(4_096);
    let mut tasks = Vec::new();
    let klines: Vec<Stream> = config
        .feeds
        .iter()
        .filter(|f| f.source == SourceKind::Binance)
        .map(|f| Stream::Kline(Feed::new(f.symbol.clone(), f.timeframe)))
        .collect();
    if !klines.is_empty() {
        let binance = BinanceConfig { base_url: config.binance_url.clone(), ..BinanceConfig::new(klines) };
        match BinanceSource::new(binance) {
            Ok(source) => tasks.push(source.spawn(tx.clone())),
            Err(e) => tracing::error!("Binance feeds not started: {e}"),
        }
    }
    for f in config.feeds.iter().filter(|f| f.source == SourceKind::RandomWalk) {
        let feed = Feed::new(f.symbol.clone(), f.timeframe);
        let source = RandomWalkSource::new(feed, f.seed, chrono::Utc::now(), Duration::from_millis(f.every_ms));
        tasks.push(source.spawn(tx.clone()));
    }
    drop(tx);
    let kernel = kernel.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event {
                MarketEvent::Bar(feed, bar) => {
                    if kernel.send(Command::Bar(feed, bar)).is_err() {
                        return;
                    }
                }
                MarketEvent::Gap { feed, from, to } => {
                    tracing::warn!(%feed, %from, %to, "market data gap: bars are missing");
                }
                MarketEvent::Connected => tracing::info!("market data connected"),
                MarketEvent::Disconnected { reason } => tracing::warn!("market data disconnected: {reason}"),
                MarketEvent::Tick(..) => {}
            }
        }
    }));
    Feeds { tasks }
}

/// The kernel's sink for emitted signals and the task that makes them durable through the
/// inbox, in order, as alerts from their plugin. Start the task once the handle exists.
#[must_use]
pub fn emit_sink() -> (zepix_engine::EmitSink, mpsc::UnboundedReceiver<(PluginId, Signal)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink: zepix_engine::EmitSink = Box::new(move |signals| {
        for s in signals {
            // The receiver lives until the engine stops; after that nothing is left to do.
            let _ = tx.send(s);
        }
    });
    (sink, rx)
}

/// Submits emitted signals to the inbox one by one, in order.
#[must_use]
pub fn submit_emitted(handle: EngineHandle, mut rx: mpsc::UnboundedReceiver<(PluginId, Signal)>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some((plugin, signal)) = rx.recv().await {
            let id = signal.id.clone();
            if let Err(e) = handle.submit(signal, SignalSource::Plugin(plugin.clone())).await {
                tracing::warn!(%plugin, signal = %id, "an emitted signal was not accepted: {e}");
            }
        }
    })
}
