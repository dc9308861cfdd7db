//! Wiring: the one place that knows every crate. Opens the store, restores the venue and the
//! kernel from it, recovers the inbox, starts the kernel thread and the HTTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use zepix_engine::registry::{Registry, RegistryProblem, discover};
use zepix_engine::risk::RiskGate;
use zepix_engine::runtime::Command;
use zepix_engine::{EngineHandle, EngineMetrics, Inbox, Kernel, KernelConfig, Services, Store, Venue, spawn_kernel};
use zepix_model::Clock;
use zepix_store::{LogInbox, SqliteStore};
use zepix_venue::PaperVenue;

use crate::config::Config;

/// How to start.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Accept and store alerts without processing them (they are processed at the next start
    /// without this flag).
    pub hold: bool,
    /// Built-in plugins added after the standard table (for embedding zepix with your own).
    pub extra_plugins: Vec<zepix_plugin::BuiltinPlugin>,
    /// The `zepix` binary, which launches process plugins in their sandbox; `None` means this
    /// program (tests, whose program is the test harness, name it).
    pub zepix_binary: Option<PathBuf>,
}

/// Where the webhook secret came from.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The secret.
    pub value: String,
    /// For humans: `zepix.toml`, `ZEPIX_WEBHOOK_SECRET`, or the generated file.
    pub source: String,
}

/// A running engine.
pub struct App {
    /// Talk to the kernel.
    pub handle: EngineHandle,
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// The webhook secret and its source.
    pub secret: Secret,
    /// Plugins that could not be loaded (they never stop the others).
    pub problems: Vec<RegistryProblem>,
    /// Signals recovered from the inbox at start.
    pub recovered: usize,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop_server: oneshot::Sender<()>,
    kernel: std::thread::JoinHandle<()>,
    /// Reloads process plugins whose files change (`[plugin_system] watch`); dropped at stop.
    watcher: Option<notify::RecommendedWatcher>,
    /// The Telegram bots, when a token is set.
    telegram: Option<zepix_telegram::Bots>,
    /// The live bar feeds of `[market_data]`.
    feeds: crate::market::Feeds,
    /// Puts the signals strategy plugins emit into the inbox.
    emitter: tokio::task::JoinHandle<()>,
}

/// Finds the webhook secret: the config, then `ZEPIX_WEBHOOK_SECRET`, then
/// `<data_dir>/webhook_secret` (generated on first start, readable only by its owner).
///
/// # Errors
/// When the secret file cannot be read or created.
pub fn resolve_secret(config: &Config, data_dir: &Path) -> Result<Secret> {
    if let Some(value) = &config.server.secret {
        let file = config.file.as_ref().map_or_else(|| "zepix.toml".to_owned(), |f| f.display().to_string());
        return Ok(Secret { value: value.clone(), source: format!("[server] secret in {file}") });
    }
    if let Some(value) = std::env::var("ZEPIX_WEBHOOK_SECRET").ok().filter(|v| !v.is_empty()) {
        return Ok(Secret { value, source: "the ZEPIX_WEBHOOK_SECRET environment variable".into() });
    }
    let file = data_dir.join("webhook_secret");
    if let Ok(value) = std::fs::read_to_string(&file) {
        return Ok(Secret { value: value.trim().to_owned(), source: format!("{} (generated)", file.display()) });
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("cannot generate a secret: {e}"))?;
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    write_private(&file, &value).with_context(|| format!("writing {}", file.display()))?;
    Ok(Secret { value, source: format!("{} (generated now)", file.display()) })
}

#[cfg(unix)]
fn write_private(file: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file)?;
    f.write_all(value.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(file: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(file, value)
}

/// The plugin registry from the built-in table (plus `extra`) and the plugin folder.
#[must_use]
pub fn build_registry(config: &Config, extra: &[zepix_plugin::BuiltinPlugin]) -> (Registry, Vec<RegistryProblem>) {
    let (found, mut problems) = if config.plugin_system.enabled && config.plugin_system.auto_discover {
        discover(&config.plugin_system.plugin_dir)
    } else {
        (Vec::new(), Vec::new())
    };
    let builtins: Vec<zepix_plugin::BuiltinPlugin> = if config.plugin_system.enabled {
        zepix_plugins::builtins().iter().chain(extra).copied().collect()
    } else {
        Vec::new()
    };
    let (registry, more) = Registry::build(&builtins, found, &config.plugins);
    problems.extend(more);
    (registry, problems)
}

/// The data directory the config names.
#[must_use]
pub fn data_dir(config: &Config) -> PathBuf {
    config.engine.data_dir.clone()
}

/// Starts the engine and its HTTP server on `listener`.
///
/// # Errors
/// Storage that cannot be opened, a corrupt inbox, or a venue config that cannot run.
pub async fn start(
    config: &Config,
    clock: Arc<dyn Clock>,
    listener: tokio::net::TcpListener,
    options: Options,
) -> Result<App> {
    let data_dir = data_dir(config);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let secret = resolve_secret(config, &data_dir)?;

    let store =
        Arc::new(SqliteStore::open(&data_dir).with_context(|| format!("opening {}/zepix.db", data_dir.display()))?);
    let kernel_config = KernelConfig { engine: config.engine.clone(), risk: config.risk.clone() };
    let schedule = zepix_engine::daily::DailySchedule::new(config.engine.daily_reset, &config.engine.timezone)
        .map_err(anyhow::Error::msg)?;
    let snapshot = store.snapshot(schedule.last(clock.now())).context("reading the engine's state")?;

    let symbols = config.symbol_table();
    let mut venue = PaperVenue::new(config.venue.clone(), symbols.clone());
    venue.restore(snapshot.positions.clone(), snapshot.realized, snapshot.prices.clone(), snapshot.max_position_id);
    let unrealized = venue.account().unrealized;

    let mut risk = RiskGate::new(config.risk.clone(), snapshot.trading_state.unwrap_or(config.engine.initial_state));
    risk.update_daily_pnl(snapshot.realized_today, unrealized);
    risk.restore_locks(snapshot.symbol_locks.iter().cloned());
    if let Some(counters) = &snapshot.safety {
        risk.restore_safety(counters.clone().as_of(schedule.last(clock.now())));
    }
    let store_dyn: Arc<dyn Store> = store.clone();
    // Shadow plugins trade on virtual books: the paper simulator with the venue's costs, marked
    // with the same prices as the venue.
    let (paper, book_symbols) = (config.venue.clone(), symbols.clone());
    let mut services = Services::new(
        clock.clone(),
        Box::new(venue),
        risk,
        symbols,
        store_dyn.clone(),
        snapshot.max_order_id,
        snapshot.realized_today,
    )
    .with_books(Box::new(move || Box::new(PaperVenue::new(paper.clone(), book_symbols.clone()))));
    services.restore_chains(snapshot.chains.clone(), snapshot.max_chain_id);
    for (plugin, book) in &snapshot.shadow_books {
        services.restore_book(plugin.clone(), book.clone()).map_err(anyhow::Error::msg)?;
    }
    for (symbol, timeframe, trend) in &snapshot.trends {
        services.trends_mut().set(symbol.clone(), *timeframe, *trend, None);
    }

    let (mut registry, mut problems) = build_registry(config, &options.extra_plugins);
    for p in &problems {
        for m in &p.messages {
            tracing::warn!(origin = %p.origin, "plugin not loaded: {m}");
        }
    }
    let (tx, rx) = std::sync::mpsc::channel::<Command>();
    problems.extend(crate::host::attach_process_plugins(
        &mut registry,
        &config.plugin_system,
        &data_dir,
        options.zepix_binary.as_deref(),
        &tx,
    ));
    let watched: Vec<(zepix_model::PluginId, PathBuf)> = registry
        .slots()
        .iter()
        .filter(|s| s.remote.is_some())
        .filter_map(|s| match &s.meta.source {
            zepix_engine::registry::PluginSource::Dir(dir) => Some((s.meta.id().clone(), dir.clone())),
            zepix_engine::registry::PluginSource::Builtin => None,
        })
        .collect();
    let metrics = Arc::new(EngineMetrics::default());
    let mut kernel = Kernel::new(&kernel_config, registry, services, metrics.clone()).map_err(anyhow::Error::msg)?;
    kernel.restore_modes(&snapshot.plugin_modes).map_err(anyhow::Error::msg)?;
    kernel.start(&snapshot.plugin_enabled);

    let sink_tx = tx.clone();
    let hold = options.hold;
    let (inbox, pending) = LogInbox::open(
        &data_dir,
        &snapshot.processed,
        snapshot.max_seq,
        Box::new(move |records| {
            if hold {
                return;
            }
            // The receiver lives as long as the kernel thread; after shutdown nothing is left to do.
            let _ = sink_tx.send(Command::Signals(records));
        }),
    )
    .context("opening the inbox")?;
    let recovered = pending.len();
    if recovered > 0 && !hold {
        tracing::info!("processing {recovered} signals accepted before the last stop but not yet processed");
        let _ = tx.send(Command::Signals(pending));
    }
    let inbox = Arc::new(inbox);
    let tick_inbox = inbox.clone();
    let tick_store = store.clone();
    let events = zepix_engine::event_bus();
    let (emit, emitted) = crate::market::emit_sink();
    let kernel_thread = spawn_kernel(
        kernel,
        store_dyn.clone(),
        events.clone(),
        rx,
        Box::new(move |kernel: &Kernel| {
            // Signals still waiting for a process plugin keep their place in the inbox.
            let floor = kernel.lowest_pending_seq().map_or(u64::MAX, |s| s - 1);
            tick_inbox.processed_up_to(tick_store.committed_seq().min(floor));
        }),
        emit,
    );
    let feeds = crate::market::start(&config.market_data, &tx);
    let inbox_dyn: Arc<dyn Inbox> = inbox;
    let handle = EngineHandle::new(tx, events, inbox_dyn, store_dyn, clock, metrics);
    let watcher = if config.plugin_system.watch && !watched.is_empty() {
        Some(crate::watch::watch(handle.clone(), watched).context("starting the plugin file watcher")?)
    } else {
        None
    };

    let emitter = crate::market::submit_emitted(handle.clone(), emitted);
    let telegram = crate::telegram::start(config, &handle)?;

    let addr = listener.local_addr().context("reading the bound address")?;
    let mut server_config = config.server.clone();
    server_config.secret = Some(secret.value.clone());
    let state = zepix_server::AppState::new(handle.clone(), server_config);
    let (stop_server, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(zepix_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(App {
        handle,
        addr,
        secret,
        problems,
        recovered,
        server,
        stop_server,
        kernel: kernel_thread,
        watcher,
        telegram,
        feeds,
        emitter,
    })
}

impl App {
    /// Stops taking requests, lets work in flight finish, stops the plugins and commits
    /// everything.
    ///
    /// # Errors
    /// The server or the final commit failed.
    pub async fn stop(self) -> Result<()> {
        drop(self.watcher);
        self.feeds.stop();
        let _ = self.stop_server.send(());
        self.server.await.context("server task")?.context("server")?;
        if let Some(bots) = self.telegram {
            bots.stop().await;
        }
        self.handle.shutdown().await.context("stopping the engine")?;
        tokio::task::spawn_blocking(move || self.kernel.join())
            .await
            .context("joining the kernel")?
            .map_err(|_| anyhow::anyhow!("the kernel thread panicked"))?;
        self.emitter.abort();
        Ok(())
    }
}
