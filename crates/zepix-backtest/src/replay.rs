//! The replay: historical bars through the engine's own kernel, on a simulated clock, exactly as
//! live bars would come. Strategy plugins see each closed bar, their signals go through the
//! router, the logic plugin, the risk gate and the paper venue; nothing is written to the
//! engine's database. The only differences from live are the clock and the store.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc::Receiver;

use chrono::{DateTime, Utc};
use zepix_engine::ports::ShadowRows;
use zepix_engine::{
    Command, InboxRecord, Kernel, OutcomeStatus, PluginDb, SignalRecord, Store, StoreError, StoreOp, StoreSnapshot,
};
use zepix_model::{Bar, Clock, Event, Feed, Order, PluginId, Signal, SignalId, SignalSource, TestClock, Trade};

use crate::report::EquityPoint;

/// Which price a signal emitted on a bar fills at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FillRule {
    /// The close of the bar the signal was emitted on.
    #[default]
    Close,
    /// The open of the next bar.
    NextOpen,
}

impl FromStr for FillRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "close" => Ok(Self::Close),
            "next-open" => Ok(Self::NextOpen),
            _ => Err(format!("fill rule `{s}`: expected `close` (the signal bar's close) or `next-open`")),
        }
    }
}

impl FillRule {
    /// The name used on the command line and in reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::NextOpen => "next-open",
        }
    }
}

/// What a replay produced, for the report.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    /// Bars replayed.
    pub bars: u64,
    /// Bars that ended with a position open.
    pub bars_in_market: u64,
    /// Closed trades, in close order.
    pub trades: Vec<Trade>,
    /// The equity curve, as [`crate::RunInput::equity`] describes it.
    pub equity: Vec<EquityPoint>,
    /// Signals processed: emitted by the strategy, or recorded ones replayed.
    pub signals: u64,
    /// Orders the risk gate or the venue refused, with the reason.
    pub refused: Vec<(SignalId, String)>,
    /// Every plugin's status at the end: state, counters, last error.
    pub plugins: Vec<zepix_engine::PluginStatus>,
}

/// Drives a kernel through bars of one feed: [`Replay::push`] the bars (all at once or a chunk
/// at a time), then [`Replay::finish`].
pub struct Replay {
    kernel: Kernel,
    clock: TestClock,
    feed: Feed,
    fill: FillRule,
    /// Process plugins' events (their answers to `on_bar`), when any runs.
    remote: Option<Receiver<Command>>,
    seq: u64,
    /// Recorded signals to replay, oldest first, each at its own time.
    recorded: std::collections::VecDeque<Signal>,
    /// Signals waiting for the next bar's open (`next-open` fills).
    held: Vec<(PluginId, Signal)>,
    out: Replayed,
    /// The last bar's equity when the curve did not take it (unchanged, same day).
    tail: Option<EquityPoint>,
    /// Bars the caller expects in all ([`Replay::reserve`]), 0 when unknown.
    expected: u64,
    progress: Option<Box<dyn FnMut(u64) + Send>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").field("feed", &self.feed).field("fill", &self.fill).finish_non_exhaustive()
    }
}

/// Bars sent to process plugins in one message.
const BATCH: usize = 512;

/// Store ops are taken from the kernel this often (in bars), progress told as often, and both
/// at the end.
const OPS_EVERY: u64 = 4_096;

impl Replay {
    /// A replay of `feed` through `kernel`, whose services run on `clock`. `remote` receives the
    /// events of process plugins attached to the kernel's registry.
    #[must_use]
    pub fn new(
        kernel: Kernel,
        clock: TestClock,
        feed: Feed,
        fill: FillRule,
        remote: Option<Receiver<Command>>,
    ) -> Self {
        Self {
            kernel,
            clock,
            feed,
            fill,
            remote,
            seq: 0,
            recorded: std::collections::VecDeque::new(),
            held: Vec::new(),
            out: Replayed::default(),
            tail: None,
            expected: 0,
            progress: None,
        }
    }

    /// Recorded signals to replay against the bars: each is processed at its `timestamp`, after
    /// the bar it falls in has moved the venue (those before the first bar, at the first bar).
    ///
    /// # Errors
    /// A signal without a timestamp: it could not be placed among the bars.
    pub fn with_signals(mut self, mut signals: Vec<Signal>) -> Result<Self, String> {
        if let Some(s) = signals.iter().find(|s| s.timestamp.is_none()) {
            return Err(format!("signal {} has no timestamp: it cannot be placed among the bars", s.id));
        }
        signals.sort_by_key(|s| s.timestamp);
        self.recorded = signals.into();
        Ok(self)
    }

    /// `progress` hears the number of bars done every few thousand bars and at the end.
    #[must_use]
    pub fn with_progress(mut self, progress: impl FnMut(u64) + Send + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Makes room for about `bars` more bars, when the caller knows how many will come (the
    /// equity curve then never moves while it grows).
    pub fn reserve(&mut self, bars: usize) {
        self.out.equity.reserve(bars);
        self.expected = self.out.bars + bars as u64;
    }

    /// Whether process plugins take part. Their bars go out in batches ahead of the venue, and
    /// a batch cannot reach past the bars pushed so far: pushing all the bars at once keeps the
    /// plugin and the engine busy at the same time throughout.
    #[must_use]
    pub const fn batched(&self) -> bool {
        self.remote.is_some()
    }

    /// Replays `bars` and stops the plugins: [`Replay::push`] then [`Replay::finish`].
    ///
    /// # Errors
    /// As [`Replay::push`].
    pub fn run(mut self, bars: &[Bar]) -> Result<Replayed, String> {
        self.push(bars)?;
        Ok(self.finish())
    }

    /// Replays `bars` (in time order, after those pushed before).
    ///
    /// # Errors
    /// When a process plugin's host stops while a bar waits for its answer.
    pub fn push(&mut self, bars: &[Bar]) -> Result<(), String> {
        let step = self.feed.timeframe.duration();
        let batched = self.batched();
        self.ready()?;
        for (i, bar) in bars.iter().enumerate() {
            if batched && i % BATCH == 0 {
                // Process plugins get the bars ahead in batches, one round trip per batch, the
                // next batch on its way while this one is replayed (so the plugin and the engine
                // work at the same time); the venue still moves bar by bar and each bar's
                // signals are taken at that bar.
                if i == 0 {
                    self.kernel.send_bars(&self.feed, &bars[..BATCH.min(bars.len())]);
                }
                let next = (i + BATCH).min(bars.len());
                let ahead = next < bars.len();
                if ahead {
                    self.kernel.send_bars(&self.feed, &bars[next..(next + BATCH).min(bars.len())]);
                }
                self.wait_for_batches(usize::from(ahead))?;
            }
            if !self.held.is_empty() {
                self.clock.set(bar.time);
                for (plugin, mut signal) in std::mem::take(&mut self.held) {
                    signal.price = Some(bar.open);
                    self.process(SignalSource::Plugin(plugin), signal);
                }
            }
            let closed_at = bar.time + step;
            self.clock.set(closed_at);
            if batched {
                self.kernel.on_bar_local(&self.feed, bar);
            } else {
                self.kernel.on_bar(&self.feed, bar);
            }
            let marked_signals = self.out.signals;
            for (plugin, signal) in self.kernel.take_emitted_through(bar.time) {
                self.out.signals += 1;
                match self.fill {
                    FillRule::Close => self.process(SignalSource::Plugin(plugin), signal),
                    FillRule::NextOpen => self.held.push((plugin, signal)),
                }
            }
            let mut replayed_any = false;
            while self.recorded.front().is_some_and(|s| s.timestamp.is_some_and(|t| t < closed_at)) {
                if let Some(signal) = self.recorded.pop_front() {
                    self.clock.set(signal.timestamp.unwrap_or(closed_at).max(bar.time));
                    self.out.signals += 1;
                    self.process(SignalSource::Webhook, signal);
                    replayed_any = true;
                }
            }
            if replayed_any {
                self.clock.set(closed_at);
            }
            let services = self.kernel.services();
            if services.venue().has_open_positions() {
                self.out.bars_in_market += 1;
            }
            // The bar's mark already valued the book unless a signal changed it since.
            let equity = match services.marked_account() {
                Some(account) if self.out.signals == marked_signals => account.equity,
                _ => services.venue().account().equity,
            };
            self.keep_equity(EquityPoint { time: closed_at, equity });
            self.out.bars += 1;
            if self.out.bars.is_multiple_of(OPS_EVERY) {
                self.collect();
                let done = self.out.bars;
                if let Some(progress) = self.progress.as_mut() {
                    progress(done);
                }
            }
        }
        Ok(())
    }

    /// Stops the plugins; what the replay produced.
    #[must_use]
    pub fn finish(mut self) -> Replayed {
        self.collect();
        self.out.equity.extend(self.tail.take());
        self.out.plugins = self.kernel.plugins();
        self.kernel.stop();
        let done = self.out.bars;
        if let Some(progress) = self.progress.as_mut() {
            progress(done);
        }
        self.out
    }

    /// One signal through the router and its plugin, as if it came from the inbox.
    fn process(&mut self, source: SignalSource, signal: Signal) {
        self.seq += 1;
        let id = signal.id.clone();
        let record = InboxRecord { seq: self.seq, source, received_at: self.clock.now(), signal };
        if let Some(outcome) = self.kernel.process(record)
            && outcome.status == OutcomeStatus::Rejected
        {
            self.out.refused.push((id, outcome.reason.unwrap_or_default()));
        }
    }

    /// Waits until every process plugin has started and answered its handshake.
    ///
    /// # Errors
    /// When a plugin host stops first.
    pub fn ready(&mut self) -> Result<(), String> {
        while !self.kernel.remotes_ready() {
            self.next_remote_event()?;
        }
        Ok(())
    }

    /// Waits until at most `ahead` bar batches are still unanswered (answers come in order, so
    /// every earlier batch is in) and no signal waits for a process plugin.
    fn wait_for_batches(&mut self, ahead: usize) -> Result<(), String> {
        while self.kernel.bars_pending() > ahead || self.kernel.signals_pending() > 0 {
            self.next_remote_event()?;
        }
        Ok(())
    }

    /// Applies the next event from the process plugins' hosts.
    fn next_remote_event(&mut self) -> Result<(), String> {
        let Some(remote) = &self.remote else { return Ok(()) };
        match remote.recv() {
            Ok(Command::Remote(plugin, event)) => self.kernel.on_remote(&plugin, event),
            Ok(_) => {}
            Err(_) => return Err("the plugin host stopped during the backtest".into()),
        }
        Ok(())
    }

    /// A bar's equity onto the curve when it changed or a new UTC day began, after the last
    /// bar of the flat stretch before it; else held as that last bar (the tail). Between points
    /// the equity is the earlier one's, so drawdowns and daily closes read the same as from a
    /// point per bar, in a fraction of the memory on a strategy that is mostly flat.
    fn keep_equity(&mut self, point: EquityPoint) {
        let changed = self
            .out
            .equity
            .last()
            .is_none_or(|last| last.equity != point.equity || last.time.date_naive() != point.time.date_naive());
        if changed {
            // The flat stretch's end too, so a line drawn through the points stays flat.
            self.out.equity.extend(self.tail.take());
            self.out.equity.push(point);
        } else {
            self.tail = Some(point);
        }
    }

    /// Room for the trades the rest of the run will likely close, at the pace so far, when the
    /// number of bars to come is known (a vector doubling a dozen times copies and touches far
    /// more memory); else the usual doubling.
    fn grow_trades(&mut self) {
        let len = self.out.trades.len();
        let done = self.out.bars.max(1);
        if len > 0 && self.expected > done {
            // The pace so far over the whole run, and an eighth more.
            let pace = usize::try_from(len as u128 * u128::from(self.expected) / u128::from(done)).unwrap_or(len);
            self.out.trades.reserve_exact(pace.saturating_sub(len) + len / 8 + 16);
        } else {
            self.out.trades.reserve(len.max(16));
        }
    }

    /// Keeps the closed trades of the store ops; the rest of what live would store is dropped.
    fn collect(&mut self) {
        for op in self.kernel.take_ops() {
            if let StoreOp::Closed(trade) = op {
                if self.out.trades.len() == self.out.trades.capacity() {
                    self.grow_trades();
                }
                self.out.trades.push(*trade);
            }
        }
    }
}

/// The store a backtest runs on: plugins' own databases in a scratch folder, nothing else kept
/// (the replay takes the kernel's ops itself).
#[derive(Debug)]
pub struct ScratchStore {
    dir: PathBuf,
}

impl ScratchStore {
    /// Plugin databases go under `dir/plugins/<id>/plugin.db`.
    #[must_use]
    pub const fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

impl Store for ScratchStore {
    fn submit(&self, _ops: Vec<StoreOp>) {}

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn committed_seq(&self) -> u64 {
        0
    }

    fn snapshot(&self, _day_start: DateTime<Utc>) -> Result<StoreSnapshot, StoreError> {
        Ok(StoreSnapshot::default())
    }

    fn signal(&self, _id: &SignalId) -> Result<Option<SignalRecord>, StoreError> {
        Ok(None)
    }

    fn recent_signals(&self, _limit: usize) -> Result<Vec<SignalRecord>, StoreError> {
        Ok(Vec::new())
    }

    fn orders(&self, _limit: usize) -> Result<Vec<Order>, StoreError> {
        Ok(Vec::new())
    }

    fn trades(&self, _limit: usize) -> Result<Vec<Trade>, StoreError> {
        Ok(Vec::new())
    }

    fn events(&self, _limit: usize) -> Result<Vec<Event>, StoreError> {
        Ok(Vec::new())
    }

    fn shadow_rows(&self) -> Result<ShadowRows, StoreError> {
        Ok(ShadowRows::default())
    }

    fn plugin_db(&self, plugin: &PluginId) -> Result<Box<dyn PluginDb>, StoreError> {
        Ok(Box::new(zepix_store::SqlitePluginDb::open(&self.dir, plugin)?))
    }
}
