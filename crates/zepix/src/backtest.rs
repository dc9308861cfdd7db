//! `zepix backtest`: a plugin on historical bars through the engine's own kernel, with a report,
//! and parameter sweeps run in parallel.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use zepix_backtest::{FillRule, Metrics, Replay, Replayed, RunInput, ScratchStore};
use zepix_data::BarStream;
use zepix_engine::risk::RiskGate;
use zepix_engine::{Command, EngineMetrics, Kernel, KernelConfig, Services};
use zepix_model::{Bar, Feed, Money, PluginId, Symbol, TestClock, Timeframe};
use zepix_plugin::Role;
use zepix_venue::PaperVenue;

use crate::app;
use crate::commands::{isolate_plugin, load_config};
use crate::config::Config;

/// What `zepix backtest` was asked for.
#[derive(Debug, Clone)]
pub struct BacktestArgs {
    /// The bars (CSV).
    pub data: PathBuf,
    /// Plugin id or folder.
    pub plugin: String,
    /// `key=value` settings for the plugin.
    pub set: Vec<String>,
    /// Only bars at or after this time.
    pub from: Option<String>,
    /// Only bars before this time.
    pub to: Option<String>,
    /// Fill rule.
    pub fill: FillRule,
    /// Report folder.
    pub report: Option<PathBuf>,
    /// The symbol the bars are of.
    pub symbol: String,
    /// The bars' timeframe (default: the spacing of the first two bars).
    pub timeframe: Option<Timeframe>,
    /// `NAME=SPEC` sweeps.
    pub sweep: Vec<String>,
    /// The metric a sweep's table is sorted by.
    pub sort: String,
    /// Recorded signals to replay against the bars (then the plugin may be a logic plugin).
    pub signals: Option<PathBuf>,
}

/// One backtest, ready to run: the engine's config isolated to the plugin.
struct Prepared {
    config: Config,
    plugin: PluginId,
    feed: Feed,
    /// Recorded signals, routed to the plugin under test.
    signals: Vec<zepix_model::Signal>,
    data_name: String,
    /// Holds the isolated engine's files until the run ends.
    _tmp: tempfile::TempDir,
}

/// `zepix backtest`.
///
/// # Errors
/// Bad arguments, a data file that cannot be read, or a plugin that cannot be built.
pub async fn backtest(config: Option<PathBuf>, args: BacktestArgs) -> Result<ExitCode> {
    let settings = parse_sets(&args.set)?;
    let sweeps: Vec<zepix_backtest::Sweep> = args
        .sweep
        .iter()
        .map(|s| zepix_backtest::parse_sweep(s).map_err(|e| anyhow::anyhow!("--sweep {s}: {e}")))
        .collect::<Result<_>>()?;
    if !zepix_backtest::METRIC_NAMES.contains(&args.sort.as_str()) {
        bail!("--sort {}: expected one of {}", args.sort, zepix_backtest::METRIC_NAMES.join(", "));
    }
    let (prepared, bars) = prepare(config, &args)?;
    eprintln!(
        "{} from {}, starting {}, fill at {}",
        prepared.feed,
        prepared.data_name,
        bars.head.first().map(|b| b.time.to_rfc3339()).unwrap_or_default(),
        args.fill.as_str()
    );
    let fill = args.fill;
    if sweeps.is_empty() {
        let report = args.report.clone();
        let (input, took) = tokio::task::spawn_blocking(move || run_streamed(&prepared, bars, &settings, fill))
            .await
            .context("the backtest thread")??;
        let metrics = Metrics::compute(&input);
        print_summary(&input, &metrics, took);
        if let Some(dir) = report {
            let files = zepix_backtest::write_report(&dir, &input)
                .with_context(|| format!("writing the report to {}", dir.display()))?;
            crate::say!("report: {} and {}", files.html.display(), files.json.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let combos = zepix_backtest::combinations(&sweeps).map_err(|e| anyhow::anyhow!("--sweep: {e}"))?;
    let started = Instant::now();
    let total = combos.len();
    let mut bars = bars;
    let all = tokio::task::spawn_blocking(move || bars.all()).await.context("reading the bars")??;
    eprintln!("read {} bars in {:.3} s; sweeping {total} combinations", all.len(), started.elapsed().as_secs_f64());
    let rows = tokio::task::spawn_blocking(move || sweep(&prepared, &all, &settings, &combos, fill))
        .await
        .context("the sweep threads")??;
    crate::say!("{}", zepix_backtest::format_table(&rows, &args.sort).map_err(|e| anyhow::anyhow!("{e}"))?);
    eprintln!("{total} runs in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// `key=value` pairs as settings: a value that reads as JSON (a number, `true`, a quoted string)
/// is that, anything else is a string.
fn parse_sets(sets: &[String]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for set in sets {
        let Some((key, value)) = set.split_once('=') else {
            bail!("--set {set}: expected KEY=VALUE, e.g. --set period=20");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("--set {set}: the key is empty; expected KEY=VALUE");
        }
        let value = serde_json::from_str(value.trim()).unwrap_or_else(|_| Value::String(value.trim().to_owned()));
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

fn parse_time(flag: &str, text: &str) -> Result<DateTime<Utc>> {
    zepix_data::parse_timestamp(text).with_context(|| {
        format!("{flag} {text}: expected an ISO-8601 time (2024-01-01T00:00:00Z) or epoch seconds or milliseconds")
    })
}

/// The `--from`/`--to` window: bars at or after `from` and before `to`.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl Window {
    /// Keeps the bars inside. The file is read to its end whatever the window: every row is
    /// checked and the cache written, as for a run without one.
    fn keep(self, bars: &mut Vec<Bar>) {
        bars.retain(|b| self.from.is_none_or(|f| b.time >= f) && self.to.is_none_or(|t| b.time < t));
    }
}

/// The bars of a backtest as they are read on a background thread: the first ones (enough to
/// tell the timeframe), then the rest chunk by chunk, each kept only inside the window.
struct Bars {
    head: Vec<Bar>,
    /// The rest, until the stream ends.
    rest: Option<BarStream>,
    window: Window,
    path: PathBuf,
    /// When reading began.
    started: Instant,
    /// Bars read so far, inside the window or not, the share of the file that made, and the
    /// last one's time.
    seen: usize,
    read: f64,
    last_seen: Option<DateTime<Utc>>,
    /// Whether they came from the cache.
    cached: bool,
}

impl Bars {
    /// The next chunk inside the window (possibly empty), or `None` at the end.
    fn next_chunk(&mut self) -> Result<Option<zepix_data::Chunk>> {
        let Some(rest) = self.rest.as_mut() else { return Ok(None) };
        let Some(chunk) = rest.next() else {
            self.rest = None;
            return Ok(None);
        };
        let mut chunk = chunk.with_context(|| format!("reading {}", self.path.display()))?;
        self.seen += chunk.bars.len();
        self.read = chunk.read;
        self.cached = chunk.cached;
        self.last_seen = chunk.bars.last().map(|b| b.time).or(self.last_seen);
        self.window.keep(&mut chunk.bars);
        Ok(Some(chunk))
    }

    /// About how many bars of the window are still to come: at the pace of the file so far,
    /// and with `--to`, no more than one a minute until then.
    fn estimate_rest(&self) -> usize {
        if self.rest.is_none() || self.read <= 0.0 {
            return 0;
        }
        let rest = (self.seen as f64 * (1.0 - self.read) / self.read) as usize;
        match (self.window.to, self.last_seen) {
            (Some(to), Some(last)) => rest.min(usize::try_from((to - last).num_minutes()).unwrap_or(0)),
            _ => rest,
        }
    }

    /// Every bar in memory (for sweeps, whose runs share them).
    fn all(&mut self) -> Result<Vec<Bar>> {
        let mut bars = std::mem::take(&mut self.head);
        while let Some(chunk) = self.next_chunk()? {
            bars.extend_from_slice(&chunk.bars);
        }
        Ok(bars)
    }
}

fn prepare(config: Option<PathBuf>, args: &BacktestArgs) -> Result<(Prepared, Bars)> {
    let mut config = load_config(config)?;
    let symbol = Symbol::new(&args.symbol).map_err(|e| anyhow::anyhow!("--symbol: {e}"))?;
    if config.symbol_table().get(&symbol).is_none() {
        bail!("--symbol {symbol}: not in the symbol table; add it under [symbols] in zepix.toml");
    }
    let from = args.from.as_deref().map(|t| parse_time("--from", t)).transpose()?;
    let to = args.to.as_deref().map(|t| parse_time("--to", t)).transpose()?;
    let started = Instant::now();
    let stream = BarStream::open(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let mut bars = Bars {
        head: Vec::new(),
        rest: Some(stream),
        window: Window { from, to },
        path: args.data.clone(),
        started,
        seen: 0,
        read: 0.0,
        last_seen: None,
        cached: false,
    };
    // Enough bars to tell the timeframe; the rest are read while the backtest runs.
    while bars.head.len() <= INFER_FROM {
        let Some(chunk) = bars.next_chunk()? else { break };
        bars.head.extend_from_slice(&chunk.bars);
    }
    if bars.head.is_empty() {
        bail!("no bars in {} between the --from and --to given", args.data.display());
    }
    let timeframe = match args.timeframe {
        Some(tf) => tf,
        None => infer_timeframe(&bars.head)?,
    };
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;
    let plugin = isolate_plugin(&mut config, &args.plugin, tmp.path())?;
    // The plugin under test is the only strategy: no other plugin turns these bars into signals.
    let (registry, _) = app::build_registry(&config, &[]);
    let slot = registry.get(&plugin).with_context(|| format!("plugin {plugin} is not available"))?;
    if !slot.meta.manifest.roles.contains(&Role::Strategy) && args.signals.is_none() {
        bail!(
            "{plugin} is not a strategy plugin (its manifest's roles have no `strategy`): it cannot trade on bars \
             alone; give it recorded alerts with --signals FILE"
        );
    }
    let mut signals = match &args.signals {
        Some(file) => crate::commands::read_test_signals(file)?,
        None => Vec::new(),
    };
    for s in &mut signals {
        s.plugin_hint = Some(plugin.clone());
        s.max_lag = None;
    }
    for other in registry.slots() {
        if other.meta.manifest.roles.contains(&Role::Strategy) && other.meta.id() != &plugin {
            config.plugins.entry(other.meta.id().clone()).or_default().enabled = false;
        }
    }
    let entry = config.plugins.entry(plugin.clone()).or_default();
    entry.enabled = true;
    let data_name =
        args.data.file_name().map_or_else(|| args.data.display().to_string(), |n| n.to_string_lossy().into());
    Ok((Prepared { config, plugin, feed: Feed::new(symbol, timeframe), signals, data_name, _tmp: tmp }, bars))
}

/// Bar spacings looked at to tell the timeframe.
const INFER_FROM: usize = 100;

/// The smallest spacing of the first bars: a gap (a weekend) is longer, never shorter.
fn infer_timeframe(bars: &[Bar]) -> Result<Timeframe> {
    let spacing =
        bars.windows(2).take(INFER_FROM).map(|w| (w[1].time - w[0].time).num_minutes()).filter(|m| *m > 0).min();
    let Some(minutes) = spacing else {
        bail!("cannot tell the bars' timeframe from fewer than two bars: give --timeframe");
    };
    u32::try_from(minutes)
        .ok()
        .and_then(|m| Timeframe::from_minutes(m).ok())
        .with_context(|| format!("bars are {minutes} minutes apart, which is no timeframe: give --timeframe"))
}

/// A run set up: the replay on its kernel, and the plugin's settings as run.
struct Started {
    replay: Replay,
    settings: BTreeMap<String, Value>,
    initial_balance: Money,
}

/// Builds the engine for one run with `settings` over the base settings, starting at `first`.
fn start(prepared: &Prepared, settings: &Map<String, Value>, fill: FillRule, first: DateTime<Utc>) -> Result<Started> {
    let mut config = prepared.config.clone();
    let entry = config.plugins.entry(prepared.plugin.clone()).or_default();
    for (k, v) in settings {
        entry.settings.insert(k.clone(), v.clone());
    }
    let clock = TestClock::new(first);
    let symbols = config.symbol_table();
    let venue = PaperVenue::new(config.venue.clone(), symbols.clone());
    let scratch = config.engine.data_dir.join(format!("run-{}", std::process::id()));
    let store = Arc::new(ScratchStore::new(scratch.clone()));
    let risk = RiskGate::new(config.risk.clone(), zepix_engine::TradingState::Active);
    let services = Services::new(Arc::new(clock.clone()), Box::new(venue), risk, symbols, store, 0, Money::ZERO);
    let (mut registry, problems) = app::build_registry(&config, &[]);
    let id = prepared.plugin.as_str();
    if let Some(p) = problems.iter().find(|p| p.origin.contains(id) || p.messages.iter().any(|m| m.contains(id))) {
        bail!("{}: {}", p.origin, p.messages.join("; "));
    }
    let (tx, rx) = std::sync::mpsc::channel::<Command>();
    let problems = crate::host::attach_process_plugins(&mut registry, &config.plugin_system, &scratch, None, &tx);
    if let Some(p) = problems.first() {
        bail!("{}: {}", p.origin, p.messages.join("; "));
    }
    let remote = registry.slots().iter().any(|s| s.remote.is_some()).then_some(rx);
    let run_settings: BTreeMap<String, Value> = registry
        .get(&prepared.plugin)
        .map(|s| s.meta.settings.as_map().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    // A backtest trades the plugin on the simulated venue whatever its live mode.
    let engine = zepix_engine::EngineConfig { mode: zepix_engine::Mode::Live, ..config.engine.clone() };
    let kernel_config = KernelConfig { engine, risk: config.risk.clone() };
    let mut kernel = Kernel::new(&kernel_config, registry, services, Arc::new(EngineMetrics::default()))
        .map_err(anyhow::Error::msg)?;
    kernel.start(&BTreeMap::new());
    if let Some(status) = kernel.plugins().into_iter().find(|s| s.id == prepared.plugin)
        && let Some(e) = &status.last_error
    {
        bail!("{} did not start: {}", prepared.plugin, e.message);
    }
    let mut replay = Replay::new(kernel, clock, prepared.feed.clone(), fill, remote)
        .with_signals(prepared.signals.clone())
        .map_err(anyhow::Error::msg)?;
    replay.ready().map_err(anyhow::Error::msg)?;
    Ok(Started { replay, settings: run_settings, initial_balance: Money::from_decimal(config.venue.balance) })
}

/// One run on bars already in memory (a sweep's).
fn run_one(prepared: &Prepared, bars: &[Bar], settings: &Map<String, Value>, fill: FillRule) -> Result<RunInput> {
    let first = bars.first().map(|b| b.time).unwrap_or_default();
    let mut started = start(prepared, settings, fill, first)?;
    started.replay.push(bars).map_err(anyhow::Error::msg)?;
    let replayed = started.replay.finish();
    conclude(prepared, started.settings, started.initial_balance, fill, replayed, bars.first().zip(bars.last()))
}

/// The single run: bars replayed as they are read, with a progress line. Returns the report's
/// input and the time from the start of reading to the end of the replay.
fn run_streamed(
    prepared: &Prepared,
    mut bars: Bars,
    settings: &Map<String, Value>,
    fill: FillRule,
) -> Result<(RunInput, std::time::Duration)> {
    let first = bars.head[0];
    let reading = bars.started;
    let Started { replay, settings, initial_balance } = start(prepared, settings, fill, first.time)?;
    let read = Arc::new(ReadShare::default());
    let shown = read.clone();
    let mut replay = replay.with_progress(move |done| {
        let rate = done as f64 / reading.elapsed().as_secs_f64().max(1e-9);
        eprint!("\r  {done} bars, {:.0}% of the data read, {rate:.0} bars/s   ", 100.0 * shown.get());
        let _ = std::io::stderr().flush();
    });
    let fed = feed(&mut replay, &mut bars, &read);
    if fed.is_err() {
        // The progress line ends before the error is told.
        eprintln!();
    }
    let last = fed?;
    read.set(1.0);
    let replayed = replay.finish();
    let took = reading.elapsed();
    eprintln!();
    let source = if bars.cached { "its cache" } else { "the CSV" };
    eprintln!(
        "{} bars ({} → {}) read from {source} while replaying",
        replayed.bars,
        first.time.to_rfc3339(),
        last.time.to_rfc3339()
    );
    eprintln!("{} signals went through the engine", replayed.signals);
    let input = conclude(prepared, settings, initial_balance, fill, replayed, Some((&first, &last)))?;
    Ok((input, took))
}

/// How much of the data file has been read, from 0 to 1, for the progress line.
#[derive(Debug, Default)]
struct ReadShare(std::sync::atomic::AtomicU64);

impl ReadShare {
    fn set(&self, share: f64) {
        self.0.store(share.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Pushes the bars into the replay as they are read, telling `read` how much of the file is
/// read; the last bar.
fn feed(replay: &mut Replay, bars: &mut Bars, read: &ReadShare) -> Result<Bar> {
    let first = bars.head[0];
    if replay.batched() {
        // Process plugins get their bars in batches that overlap with the replay: give it all.
        let all = bars.all()?;
        read.set(1.0);
        replay.push(&all).map_err(anyhow::Error::msg)?;
        return Ok(*all.last().unwrap_or(&first));
    }
    read.set(bars.read);
    replay.reserve(bars.head.len().saturating_add(bars.estimate_rest()));
    replay.push(&bars.head).map_err(anyhow::Error::msg)?;
    let mut last = *bars.head.last().unwrap_or(&first);
    let spare = bars.rest.as_ref().map(BarStream::recycler);
    while let Some(chunk) = bars.next_chunk()? {
        read.set(chunk.read);
        replay.push(&chunk.bars).map_err(anyhow::Error::msg)?;
        last = *chunk.bars.last().unwrap_or(&last);
        if let Some(spare) = &spare {
            spare.recycle(chunk.bars);
        }
    }
    Ok(last)
}

/// The report's input from a finished replay; an error when the plugin did not last the run.
fn conclude(
    prepared: &Prepared,
    settings: BTreeMap<String, Value>,
    initial_balance: Money,
    fill: FillRule,
    replayed: Replayed,
    span: Option<(&Bar, &Bar)>,
) -> Result<RunInput> {
    if let Some(status) = replayed.plugins.iter().find(|s| s.id == prepared.plugin) {
        if let Some(e) = &status.last_error {
            eprintln!("{} failed {} time(s); the last: {}", status.id, status.counters.failures, e.message);
        }
        if status.state != zepix_engine::PluginState::Running {
            bail!("{} ended the backtest {}: the results would not be its strategy's", status.id, status.state);
        }
    }
    let input = RunInput {
        plugin: prepared.plugin.to_string(),
        data: prepared.data_name.clone(),
        settings,
        fill: fill.as_str().to_owned(),
        initial_balance,
        bars: replayed.bars,
        first_bar: span.map(|(first, _)| first.time),
        last_bar: span.map(|(_, last)| last.time),
        bars_in_market: replayed.bars_in_market,
        trades: replayed.trades,
        equity: replayed.equity,
    };
    if !replayed.refused.is_empty() {
        let (id, why) = &replayed.refused[0];
        eprintln!("{} signals were refused; the first, {id}: {why}", replayed.refused.len());
    }
    Ok(input)
}

fn sweep(
    prepared: &Prepared,
    bars: &[Bar],
    base: &Map<String, Value>,
    combos: &[BTreeMap<String, Value>],
    fill: FillRule,
) -> Result<Vec<(BTreeMap<String, Value>, Metrics)>> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(combos.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, Metrics)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(combo) = combos.get(i) else { break };
                        let mut settings = base.clone();
                        settings.extend(combo.iter().map(|(k, v)| (k.clone(), v.clone())));
                        let input = run_one(prepared, bars, &settings, fill)
                            .with_context(|| format!("combination {}", describe(combo)))?;
                        eprintln!("  {} done", describe(combo));
                        done.push((i, Metrics::compute(&input)));
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a sweep thread panicked"))))
            .collect()
    });
    let mut rows = Vec::with_capacity(combos.len());
    for r in results {
        rows.extend(r?);
    }
    rows.sort_by_key(|(i, _)| *i);
    Ok(rows.into_iter().map(|(i, m)| (combos[i].clone(), m)).collect())
}

fn describe(combo: &BTreeMap<String, Value>) -> String {
    combo.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

fn print_summary(input: &RunInput, m: &Metrics, took: std::time::Duration) {
    let rate = input.bars as f64 / took.as_secs_f64().max(1e-9);
    let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let num = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    crate::say!("{} on {} ({} bars, fill at {}):", input.plugin, input.data, input.bars, input.fill);
    crate::say!("  trades         {} ({} won, {} lost)", m.trades, m.wins, m.losses);
    crate::say!("  net P&L        {}", m.net_pnl);
    crate::say!("  win rate       {}", pct(m.win_rate));
    crate::say!("  profit factor  {}", num(m.profit_factor));
    crate::say!("  max drawdown   {} ({:.2}%)", m.max_drawdown, m.max_drawdown_pct);
    crate::say!("  Sharpe         {}", num(m.sharpe));
    crate::say!("  exposure       {}", pct(m.exposure));
    crate::say!("  final equity   {}", m.final_equity);
    crate::say!("  speed          {rate:.0} bars/s ({:.3} s: reading, engine start and replay)", took.as_secs_f64());
}
