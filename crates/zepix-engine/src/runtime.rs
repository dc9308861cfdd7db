//! The kernel's thread and the handle everything else uses to talk to it.
//!
//! Inputs reach the kernel through one channel in order: durable signals from the inbox and
//! commands from the CLI, the REST API and Telegram. Store ops are submitted after each run of
//! queued inputs, so a burst of signals becomes one batch.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, oneshot};
use zepix_model::{
    Bar, Clock, Event, Feed, PluginId, PositionId, Signal, SignalId, SignalSource, Symbol, Timeframe, Trade, Trend,
};
use zepix_plugin::{InitInfo, RemoteEvent};

use crate::config::PluginMode;
use crate::error::EngineError;
use crate::kernel::{EngineStatus, Kernel};
use crate::metrics::{EngineMetrics, Intake};
use crate::ports::{Appended, Inbox, InboxRecord, Store, StoreError, StoreOp};
use crate::registry::PluginStatus;
use crate::risk::{SymbolLock, TradingState};

type Reply<T> = oneshot::Sender<T>;

/// An input to the kernel.
#[derive(Debug)]
pub enum Command {
    /// Durable signals to process, in inbox order (one group commit's worth).
    Signals(Vec<InboxRecord>),
    /// A closed bar from a market data source.
    Bar(Feed, Bar),
    /// Every plugin's status.
    Plugins(Reply<Vec<PluginStatus>>),
    /// Enable or disable a plugin.
    SetEnabled(PluginId, bool, Reply<Result<PluginStatus, EngineError>>),
    /// Switch a plugin between live and shadow (`HYBRID`).
    SetMode(PluginId, PluginMode, Reply<Result<PluginStatus, EngineError>>),
    /// The engine's status.
    Status(Reply<Box<EngineStatus>>),
    /// Set the trading state.
    SetTradingState(TradingState, Reply<()>),
    /// Lift a symbol's cooldown lock (operator).
    Unlock(Symbol, Reply<Result<SymbolLock, EngineError>>),
    /// Close a position (operator).
    ClosePosition(PositionId, Reply<Result<Trade, EngineError>>),
    /// Something happened on a process plugin's link.
    Remote(PluginId, RemoteEvent),
    /// Reload a process plugin; the answer comes once the new version runs (or failed to).
    Reload(PluginId, Reply<Result<InitInfo, EngineError>>),
    /// Answer once everything queued before is processed and committed.
    Drain(Reply<Result<(), StoreError>>),
    /// Stop the plugins, commit everything, end the thread.
    Shutdown(Reply<Result<(), StoreError>>),
    /// Record an operator's event in the event log, in order with everything else.
    RecordEvent(Box<Event>),
    /// Set the trend of a symbol and timeframe (operator).
    SetTrend(Symbol, Timeframe, Trend, Reply<()>),
}

/// Every event the kernel records, as it is submitted to the store, for live subscribers (the
/// Telegram notifier, the event stream). A subscriber that falls behind loses the oldest events
/// and is told how many.
pub type EventBus = broadcast::Sender<Event>;

/// Events a slow subscriber may fall behind by before it loses the oldest.
const EVENT_BACKLOG: usize = 4_096;

/// A new event bus with no subscribers.
#[must_use]
pub fn event_bus() -> EventBus {
    broadcast::channel(EVENT_BACKLOG).0
}

/// Publishes the batch's events, then hands the batch to the store.
fn submit(store: &dyn Store, events: &EventBus, ops: Vec<StoreOp>) {
    if events.receiver_count() > 0 {
        for op in &ops {
            if let StoreOp::Event(event) = op {
                // No subscriber left is not an error: the store still records the event.
                let _ = events.send((**event).clone());
            }
        }
    }
    store.submit(ops);
}

/// How often the kernel does time-driven work when idle.
const TICK: Duration = Duration::from_millis(500);
/// Submit store ops at least this often during a long burst.
const MAX_OPS_PER_SUBMIT: usize = 8_192;

/// Where the signals strategy plugins emit go: into the inbox, like any alert.
pub type EmitSink = Box<dyn FnMut(Vec<(PluginId, Signal)>) + Send>;

/// Runs the kernel on its own thread until `Shutdown` or until every sender is gone.
/// `on_tick` runs when idle (e.g. telling the inbox what the store has committed); `emit` takes
/// the signals strategy plugins emitted.
#[must_use]
pub fn spawn_kernel(
    mut kernel: Kernel,
    store: Arc<dyn Store>,
    events: EventBus,
    commands: Receiver<Command>,
    mut on_tick: Box<dyn FnMut(&Kernel) + Send>,
    mut emit: EmitSink,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("zepix-kernel".into())
        .spawn(move || {
            let mut drains = Vec::new();
            loop {
                let first = match commands.recv_timeout(TICK) {
                    Ok(cmd) => cmd,
                    Err(RecvTimeoutError::Timeout) => {
                        kernel.tick();
                        submit(store.as_ref(), &events, kernel.take_ops());
                        on_tick(&kernel);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let mut next = Some(first);
                while let Some(cmd) = next.take() {
                    if !handle(&mut kernel, store.as_ref(), &events, cmd, &mut drains) {
                        submit(store.as_ref(), &events, kernel.take_ops());
                        return;
                    }
                    let emitted = kernel.take_emitted();
                    if !emitted.is_empty() {
                        emit(emitted);
                    }
                    next = commands.try_recv().ok();
                    // A burst of inputs becomes one batch of store ops.
                    if next.is_none() || kernel.pending_ops() >= MAX_OPS_PER_SUBMIT {
                        submit(store.as_ref(), &events, kernel.take_ops());
                    }
                }
                if !drains.is_empty() && kernel.signals_pending() == 0 {
                    let flushed = store.flush();
                    for reply in drains.drain(..) {
                        let _ = reply.send(flushed.clone());
                    }
                }
            }
            kernel.stop();
            submit(store.as_ref(), &events, kernel.take_ops());
            if let Err(e) = store.flush() {
                tracing::error!("final store flush failed: {e}");
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the kernel thread: {e}"))
}

/// Handles one command; false means stop. A drain waits in `drains` while signals wait for
/// process plugins.
fn handle(
    kernel: &mut Kernel,
    store: &dyn Store,
    events: &EventBus,
    cmd: Command,
    drains: &mut Vec<Reply<Result<(), StoreError>>>,
) -> bool {
    match cmd {
        Command::Signals(records) => {
            for record in records {
                kernel.process(record);
            }
        }
        Command::Bar(feed, bar) => kernel.on_bar(&feed, &bar),
        Command::Plugins(reply) => {
            let _ = reply.send(kernel.plugins());
        }
        Command::Unlock(symbol, reply) => {
            let _ = reply.send(kernel.unlock(&symbol));
        }
        Command::SetMode(id, mode, reply) => {
            let _ = reply.send(kernel.set_mode(&id, mode));
        }
        Command::SetEnabled(id, enabled, reply) => {
            let _ = reply.send(kernel.set_enabled(&id, enabled));
        }
        Command::Status(reply) => {
            let _ = reply.send(Box::new(kernel.status()));
        }
        Command::SetTradingState(state, reply) => {
            kernel.set_trading_state(state);
            let _ = reply.send(());
        }
        Command::ClosePosition(id, reply) => {
            let _ = reply.send(kernel.close_position(id));
        }
        Command::Remote(plugin, event) => kernel.on_remote(&plugin, event),
        Command::Reload(id, reply) => {
            let (tx, rx) = std::sync::mpsc::channel();
            match kernel.reload(&id, Box::new(move |r| drop(tx.send(r)))) {
                // The answer comes from the host's thread; waiting for it here would stall the kernel.
                Ok(()) => {
                    std::thread::spawn(move || {
                        let result = rx.recv().unwrap_or_else(|_| Err("the plugin host stopped".into()));
                        let _ = reply.send(result.map_err(|e| EngineError::Refused(format!("reload failed: {e}"))));
                    });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        Command::Drain(reply) => {
            if kernel.signals_pending() == 0 {
                submit(store, events, kernel.take_ops());
                let _ = reply.send(store.flush());
            } else {
                drains.push(reply);
            }
        }
        Command::Shutdown(reply) => {
            kernel.stop();
            submit(store, events, kernel.take_ops());
            let _ = reply.send(store.flush());
            return false;
        }
        Command::RecordEvent(event) => kernel.record_event(*event),
        Command::SetTrend(symbol, timeframe, trend, reply) => {
            kernel.set_trend(symbol, timeframe, trend);
            let _ = reply.send(());
        }
    }
    true
}

/// What the inbox did with a submitted signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Stored durably; it will be processed.
    Accepted(SignalId),
    /// Seen before; nothing was stored.
    Duplicate(SignalId),
}

/// Why a signal was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Older than its `max_lag`.
    #[error("signal is {age} s old, max_lag is {max_lag} s")]
    Stale {
        /// Age in seconds.
        age: i64,
        /// Its `max_lag`.
        max_lag: u64,
    },
    /// The inbox could not store it.
    #[error(transparent)]
    Inbox(#[from] crate::ports::InboxError),
}

/// A cheap, cloneable handle to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    commands: Sender<Command>,
    events: EventBus,
    inbox: Arc<dyn Inbox>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<EngineMetrics>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// A handle over the kernel's channel and event bus, the inbox, the store, the clock and the
    /// metrics.
    #[must_use]
    pub fn new(
        commands: Sender<Command>,
        events: EventBus,
        inbox: Arc<dyn Inbox>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Arc<EngineMetrics>,
    ) -> Self {
        Self { commands, events, inbox, store, clock, metrics }
    }

    /// Every event recorded from now on, as it happens.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The engine's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store, for queries.
    #[must_use]
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Counters and histograms.
    #[must_use]
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// Makes a signal durable (or answers that it is a duplicate). Processing follows.
    ///
    /// # Errors
    /// A stale signal, or an inbox failure (nothing was stored).
    pub async fn submit(&self, signal: Signal, source: SignalSource) -> Result<Submitted, SubmitError> {
        let received_at = self.clock.now();
        if let Some(age) = signal.stale_by(received_at) {
            self.metrics.count_intake(Intake::Invalid);
            return Err(SubmitError::Stale { age, max_lag: signal.max_lag.unwrap_or_default() });
        }
        let id = signal.id.clone();
        let started = std::time::Instant::now();
        let appended =
            self.inbox.append(source, received_at, signal).await.map_err(|_| crate::ports::InboxError::Closed)??;
        self.metrics.ack_latency.observe(started.elapsed());
        Ok(match appended {
            Appended::Accepted(_) => {
                self.metrics.count_intake(Intake::Accepted);
                Submitted::Accepted(id)
            }
            Appended::Duplicate => {
                self.metrics.count_intake(Intake::Duplicate);
                Submitted::Duplicate(id)
            }
        })
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Every plugin's status.
    ///
    /// # Errors
    /// The engine has stopped.
    pub async fn plugins(&self) -> Result<Vec<PluginStatus>, EngineError> {
        self.ask(Command::Plugins).await
    }

    /// Enables or disables a plugin.
    ///
    /// # Errors
    /// Unknown plugin, refused transition, or the engine has stopped.
    pub async fn set_enabled(&self, id: PluginId, enabled: bool) -> Result<PluginStatus, EngineError> {
        self.ask(|r| Command::SetEnabled(id, enabled, r)).await?
    }

    /// Switches a plugin between live and shadow; the choice is stored.
    ///
    /// # Errors
    /// Unknown plugin, an engine not in `HYBRID`, or the engine has stopped.
    pub async fn set_mode(&self, id: PluginId, mode: PluginMode) -> Result<PluginStatus, EngineError> {
        self.ask(|r| Command::SetMode(id, mode, r)).await?
    }

    /// Lifts a symbol's cooldown lock.
    ///
    /// # Errors
    /// The symbol is not locked, or the engine has stopped.
    pub async fn unlock(&self, symbol: Symbol) -> Result<SymbolLock, EngineError> {
        self.ask(|r| Command::Unlock(symbol, r)).await?
    }

    /// The shadow report, from everything committed so far.
    ///
    /// # Errors
    /// The store failed or the engine has stopped.
    pub async fn shadow_report(&self) -> Result<crate::shadow::ShadowReport, EngineError> {
        self.drain().await?;
        let rows = self.store().shadow_rows().map_err(EngineError::Store)?;
        Ok(crate::shadow::report(&rows))
    }

    /// The engine's status.
    ///
    /// # Errors
    /// The engine has stopped.
    pub async fn status(&self) -> Result<EngineStatus, EngineError> {
        self.ask(Command::Status).await.map(|b| *b)
    }

    /// Sets the trading state.
    ///
    /// # Errors
    /// The engine has stopped.
    pub async fn set_trading_state(&self, state: TradingState) -> Result<(), EngineError> {
        self.ask(|r| Command::SetTradingState(state, r)).await
    }

    /// Closes a position (operator).
    ///
    /// # Errors
    /// Unknown position, no price, or the engine has stopped.
    pub async fn close_position(&self, id: PositionId) -> Result<Trade, EngineError> {
        self.ask(|r| Command::ClosePosition(id, r)).await?
    }

    /// Reloads a process plugin without stopping the engine; answers once the new version runs.
    ///
    /// # Errors
    /// Unknown or built-in plugin, a new version that failed to start (the old one keeps
    /// running), or the engine has stopped.
    pub async fn reload(&self, id: PluginId) -> Result<InitInfo, EngineError> {
        self.ask(|r| Command::Reload(id, r)).await?
    }

    /// Waits until every signal accepted so far is processed and committed.
    ///
    /// # Errors
    /// The store failed, or the engine has stopped.
    pub async fn drain(&self) -> Result<(), EngineError> {
        Ok(self.ask(Command::Drain).await??)
    }

    /// Stops the plugins and commits everything; the kernel thread ends.
    ///
    /// # Errors
    /// The final commit failed, or the engine had already stopped.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        Ok(self.ask(Command::Shutdown).await??)
    }

    /// Records an operator's event (a command, allowed or refused) in the event log. It does not
    /// wait for the kernel.
    ///
    /// # Errors
    /// The engine has stopped.
    pub fn record_event(&self, event: Event) -> Result<(), EngineError> {
        self.commands.send(Command::RecordEvent(Box::new(event))).map_err(|_| EngineError::Stopped)
    }

    /// Sets the trend of a symbol and timeframe (operator); stored and recorded as an event.
    ///
    /// # Errors
    /// The engine has stopped.
    pub async fn set_trend(&self, symbol: Symbol, timeframe: Timeframe, trend: Trend) -> Result<(), EngineError> {
        self.ask(|r| Command::SetTrend(symbol, timeframe, trend, r)).await
    }
}
