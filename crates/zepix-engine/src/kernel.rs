//! The kernel: the one sequencer that owns plugins, orders, positions and risk state. It takes one
//! input at a time and is synchronous and deterministic; time comes from the injected clock.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use zepix_model::{
    Account, Bar, CloseReason, EventKind, Feed, Money, PluginId, Position, PositionId, Signal, SignalId, SignalType,
    Symbol, Trade,
};
use zepix_plugin::remote::code;
use zepix_plugin::{
    CallId, Decision, HookDecision, Plugin, PluginError, PluginResult, RemoteEvent, RequestToken, RiskCode, RpcError,
    Service, ServiceError, ServiceErrorCode,
};

use crate::config::{KernelConfig, Mode, PluginMode};
use crate::context::Ctx;
use crate::daily::DailySchedule;
use crate::error::EngineError;
use crate::lifecycle::{LifecycleEvent, PluginState};
use crate::metrics::EngineMetrics;
use crate::outcome::{Outcome, OutcomeStatus};
use crate::ports::{InboxRecord, StoreOp};
use crate::registry::{LastError, PluginStatus, Registry};
use crate::risk::{SymbolLock, TradingState};
use crate::router::{Route, route};
use crate::services::{ServiceHealth, Services};
use crate::trend::TrendEntry;

/// Consecutive failures after which a plugin is disabled.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 5;

/// The engine as a whole, for `zepix status` and `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStatus {
    /// Active, paused or halted.
    pub trading_state: TradingState,
    /// The daily loss limit has locked new positions.
    pub daily_loss_locked: bool,
    /// Execution mode.
    pub mode: Mode,
    /// The venue's name.
    pub venue: String,
    /// Balance, equity, P&L.
    pub account: Account,
    /// Realized P&L since the last daily reset.
    pub realized_today: Money,
    /// Open positions.
    pub positions: Vec<Position>,
    /// Next daily reset.
    pub next_daily_reset: DateTime<Utc>,
    /// Plugins: id and state.
    pub plugins: Vec<(PluginId, PluginState)>,
    /// Services and their health.
    pub services: Vec<(Service, ServiceHealth)>,
    /// Trends known.
    pub trends: Vec<TrendEntry>,
    /// Symbols in their cooldown after a stop loss.
    pub locks: Vec<SymbolLock>,
    /// Profit chains at work.
    pub chains: Vec<zepix_plugin::chain::ProfitChain>,
    /// Re-entry chains at work.
    pub reentries: Vec<zepix_plugin::chain::ReentryChain>,
    /// What the safety service has counted.
    pub safety: crate::risk::SafetyCounters,
    /// Reverse shields guarding positions.
    pub shields: Vec<zepix_plugin::chain::Shield>,
}

enum CallError {
    Denied(PluginError),
    Failed(String),
}

/// A signal on its way through the hook chain and to its plugin.
struct Flow {
    record: InboxRecord,
    /// The signal as the hooks have left it.
    signal: Signal,
    /// The last hook run: (priority, slot); the chain resumes after it.
    after: Option<(i32, usize)>,
}

/// A call to a process plugin waiting for its answer.
enum Pending {
    /// `on_signal_received`: the signal waits at this gate.
    Gate { flow: Flow, index: usize },
    /// A routed signal.
    Signal { flow: Flow, index: usize },
    /// A notification hook (`on_sl_hit`…): only failures matter.
    Hook { index: usize },
    /// A bar sent to a strategy plugin: its answer carries the signals it emits.
    Bar { index: usize, feed: Feed, bar: Bar },
    /// A batch of bars sent to a strategy plugin (backtests).
    Bars { index: usize, feed: Feed, bars: Vec<Bar> },
    /// A signal broadcast to a shadow plugin: its decision is recorded, the signal's outcome
    /// is its routed plugin's.
    Shadow { signal_id: SignalId, index: usize },
}

/// The kernel.
pub struct Kernel {
    registry: Registry,
    services: Services,
    metrics: Arc<EngineMetrics>,
    schedule: DailySchedule,
    next_reset: DateTime<Utc>,
    mode: Mode,
    pending: HashMap<CallId, Pending>,
    next_call: CallId,
    /// Signals strategy plugins emitted, stamped, waiting to be taken.
    emitted: Vec<bars::Emitted>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("plugins", &self.registry)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Kernel {
    /// A kernel over a registry and services.
    ///
    /// # Errors
    /// When the daily reset's time zone is unknown.
    pub fn new(
        config: &KernelConfig,
        registry: Registry,
        services: Services,
        metrics: Arc<EngineMetrics>,
    ) -> Result<Self, String> {
        let schedule = DailySchedule::new(config.engine.daily_reset, &config.engine.timezone)?;
        let next_reset = schedule.next(services.now());
        let mut kernel = Self {
            registry,
            services,
            metrics,
            schedule,
            next_reset,
            mode: config.engine.mode,
            pending: HashMap::new(),
            next_call: 0,
            emitted: Vec::new(),
        };
        kernel.restore_modes(&BTreeMap::new())?;
        Ok(kernel)
    }

    /// Applies the execution mode to every plugin: `LIVE` and `SHADOW` set every plugin's mode;
    /// in `HYBRID` a plugin's mode is what an operator chose last (`stored`), else its config.
    ///
    /// # Errors
    /// When a plugin is to run in shadow and the services have no virtual books.
    pub fn restore_modes(&mut self, stored: &BTreeMap<PluginId, PluginMode>) -> Result<(), String> {
        for i in 0..self.registry.slots().len() {
            let meta = &self.registry.slots()[i].meta;
            let mode = match self.mode {
                Mode::Live => PluginMode::Live,
                Mode::Shadow => PluginMode::Shadow,
                Mode::Hybrid => stored.get(meta.id()).copied().unwrap_or(meta.mode),
            };
            let id = meta.id().clone();
            self.services.set_shadow(&id, mode == PluginMode::Shadow)?;
            self.registry.slots_mut()[i].meta.mode = mode;
        }
        Ok(())
    }

    /// Starts every built plugin (`on_start`), then applies enablement: what an operator chose
    /// last (stored) wins over the config.
    pub fn start(&mut self, stored_enabled: &BTreeMap<PluginId, bool>) {
        for i in 0..self.registry.slots().len() {
            let slot = &self.registry.slots()[i];
            if slot.state != PluginState::Loaded {
                continue;
            }
            let wanted = stored_enabled.get(slot.meta.id()).copied().unwrap_or(slot.meta.enabled_in_config);
            self.transition(i, LifecycleEvent::Load, "built").ok();
            let started = if self.registry.slots()[i].remote.is_some() {
                // A process plugin is initialized by its host; signals wait for it there.
                Ok(())
            } else {
                self.invoke(i, None, |p, ctx| p.on_start(ctx))
            };
            match started {
                Ok(()) => {
                    self.transition(i, LifecycleEvent::Initialize, "on_start done").ok();
                    self.transition(i, LifecycleEvent::Run, "started").ok();
                    if !wanted {
                        self.transition(i, LifecycleEvent::Disable, "disabled by configuration or operator").ok();
                    }
                }
                Err(CallError::Failed(message) | CallError::Denied(PluginError::Failed(message))) => {
                    self.transition(i, LifecycleEvent::Fail, &format!("on_start failed: {message}")).ok();
                }
                Err(CallError::Denied(e)) => {
                    self.transition(i, LifecycleEvent::Fail, &format!("on_start failed: {e}")).ok();
                }
            }
        }
        let msg = format!(
            "engine started: {} plugins running, trading {}",
            self.registry.slots().iter().filter(|s| s.state == PluginState::Running).count(),
            self.services.risk().state()
        );
        self.services.event(EventKind::Engine, None, msg, json!({}));
    }

    /// Stops every plugin (`on_stop`).
    pub fn stop(&mut self) {
        for i in 0..self.registry.slots().len() {
            if let Some(remote) = &self.registry.slots()[i].remote {
                remote.link.stop();
            }
            if matches!(self.registry.slots()[i].state, PluginState::Running | PluginState::Disabled) {
                if self.registry.slots()[i].remote.is_some() {
                    // Its host sends `shutdown`, which runs the plugin's `on_stop`.
                } else if let Err(CallError::Failed(m)) = self.invoke(i, None, |p, ctx| p.on_stop(ctx)) {
                    tracing::warn!(plugin = %self.registry.slots()[i].meta.id(), "on_stop failed: {m}");
                }
                self.transition(i, LifecycleEvent::Stop, "engine stopping").ok();
            }
        }
        self.services.event(EventKind::Engine, None, "engine stopped".into(), json!({}));
    }

    /// Store ops produced since the last call.
    pub fn take_ops(&mut self) -> Vec<StoreOp> {
        self.services.take_ops()
    }

    /// How many store ops wait to be taken.
    #[must_use]
    pub fn pending_ops(&self) -> usize {
        self.services.pending_ops()
    }

    /// The services (for wiring and tests).
    #[must_use]
    pub const fn services(&self) -> &Services {
        &self.services
    }

    /// Processes one signal from the inbox and records it with its outcome. `None` when the
    /// signal waits for a process plugin: its outcome is recorded when the answer comes.
    pub fn process(&mut self, record: InboxRecord) -> Option<Outcome> {
        self.tick();
        if let Some(outcome) = self.prepare(&record.signal) {
            self.finish(record, outcome.clone());
            return Some(outcome);
        }
        let signal = record.signal.clone();
        self.advance(Flow { record, signal, after: None })
    }

    fn finish(&mut self, record: InboxRecord, outcome: Outcome) {
        let processed_at = self.services.now();
        self.metrics.count_outcome(outcome.status);
        if let Ok(took) = (processed_at - record.received_at).to_std() {
            self.metrics.process_latency.observe(took);
        }
        self.services.record(StoreOp::Signal {
            seq: record.seq,
            source: record.source,
            received_at: record.received_at,
            processed_at,
            signal: Box::new(record.signal),
            outcome: Box::new(outcome),
        });
    }

    /// Signals waiting for a process plugin.
    #[must_use]
    pub fn signals_pending(&self) -> usize {
        self.pending.values().filter(|p| matches!(p, Pending::Gate { .. } | Pending::Signal { .. })).count()
    }

    /// The lowest inbox sequence number still waiting for a process plugin: the inbox keeps
    /// everything from it on.
    #[must_use]
    pub fn lowest_pending_seq(&self) -> Option<u64> {
        self.pending
            .values()
            .filter_map(|p| match p {
                Pending::Gate { flow, .. } | Pending::Signal { flow, .. } => Some(flow.record.seq),
                Pending::Hook { .. } | Pending::Bar { .. } | Pending::Bars { .. } | Pending::Shadow { .. } => None,
            })
            .min()
    }

    /// Time-driven work: the daily reset.
    pub fn tick(&mut self) {
        let now = self.services.now();
        if now < self.next_reset {
            return;
        }
        let ended = (self.next_reset - chrono::Duration::seconds(1)).date_naive();
        self.next_reset = self.schedule.next(now);
        let realized = self.services.realized_today();
        self.services.daily_reset();
        for slot in self.registry.slots() {
            self.services.record(StoreOp::DayClosed { plugin: slot.meta.id().clone(), date: ended });
        }
        for i in 0..self.registry.slots().len() {
            if self.registry.slots()[i].state == PluginState::Running {
                self.call_hook(i, None, |p, ctx| p.on_daily_reset(ctx));
                self.notify_remote(i, "on_daily_reset", json!({}));
            }
        }
        let message = format!("daily reset: realized {realized} today; next reset {}", self.next_reset);
        self.services.event(EventKind::DailyReset, None, message, json!({"realized": realized}));
    }

    /// What every signal goes through before the hooks: staleness, prices, trend and market
    /// updates. `Some` when that already decides it.
    fn prepare(&mut self, signal: &Signal) -> Option<Outcome> {
        let now = self.services.now();
        if let Some(age) = signal.stale_by(now) {
            let lag = signal.max_lag.unwrap_or_default();
            return Some(Outcome::new(
                OutcomeStatus::Rejected,
                "stale",
                format!("signal is {age} s old, max_lag is {lag} s"),
            ));
        }
        if let (Some(symbol), Some(price)) = (&signal.symbol, signal.price) {
            let closed = self.services.mark(symbol, price);
            self.dispatch_closes(closed);
        }
        match signal.kind {
            SignalType::Market => {
                let price = signal.price.map(|p| p.to_string()).unwrap_or_default();
                let symbol = signal.symbol.as_ref().map(ToString::to_string).unwrap_or_default();
                Some(Outcome::applied(format!("{symbol} price {price}")))
            }
            SignalType::Trend => Some(self.apply_trend(signal)),
            _ => None,
        }
    }

    /// Runs the hook chain from where the flow stands, routes and dispatches. Stops (`None`) where
    /// a process plugin has to answer first.
    fn advance(&mut self, mut flow: Flow) -> Option<Outcome> {
        while let Some(i) = self.next_hook(flow.after) {
            flow.after = Some((self.registry.slots()[i].meta.manifest.priority, i));
            if let Some(remote) = &self.registry.slots()[i].remote {
                if remote.has_hook("on_signal_received") {
                    let params = json!({"signal": flow.signal});
                    self.send(i, "on_signal_received", params, |index| Pending::Gate { flow, index });
                    return None;
                }
                continue;
            }
            let seen = &flow.signal;
            let decision = self.invoke(i, Some(&seen.id), |p, ctx| p.on_signal_received(seen, ctx));
            if let Ok(decision) = decision
                && let Some(outcome) = self.apply_hook(i, decision, &mut flow.signal)
            {
                self.finish(flow.record, outcome.clone());
                return Some(outcome);
            }
        }
        let index = match route(&flow.signal, &self.registry) {
            Route::To(i) => i,
            Route::Unrouted { code, reason } => {
                let outcome = Outcome::new(OutcomeStatus::Unrouted, code, reason);
                self.finish(flow.record, outcome.clone());
                return Some(outcome);
            }
        };
        self.broadcast(index, &flow.signal);
        self.registry.slots_mut()[index].counters.signals += 1;
        if let Some(remote) = self.registry.slots_mut()[index].remote.as_mut() {
            remote.signals_in_flight.insert(flow.signal.id.clone());
            let method = signal_method(&flow.signal.kind);
            let params = json!({"signal": flow.signal});
            self.send(index, method, params, |index| Pending::Signal { flow, index });
            return None;
        }
        let result = self.run_signal(index, &flow.signal);
        let outcome = self.outcome_of(index, &flow.signal.id, result);
        self.finish(flow.record, outcome.clone());
        Some(outcome)
    }

    /// Calls a built-in plugin's handler for the signal's type.
    fn run_signal(&mut self, index: usize, signal: &Signal) -> Result<Decision, CallError> {
        let kind = signal.kind.clone();
        self.invoke_as(index, Some(&signal.id), true, |p, ctx| match kind {
            SignalType::Entry => p.process_entry_signal(signal, ctx),
            SignalType::Exit => p.process_exit_signal(signal, ctx),
            SignalType::Reversal => p.process_reversal_signal(signal, ctx),
            _ => p.process_signal(signal, ctx),
        })
    }

    /// Delivers a routed signal to every other running shadow plugin that can trade (DESIGN
    /// §4.5): each decides on its virtual book and its decision is recorded beside the routed
    /// plugin's. A shadow plugin that lists timeframes only sees signals of those.
    fn broadcast(&mut self, routed: usize, signal: &Signal) {
        let targets: Vec<usize> = self
            .registry
            .slots()
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                *i != routed
                    && s.state == PluginState::Running
                    && s.meta.mode == PluginMode::Shadow
                    && s.meta.allows(zepix_plugin::Capability::Orders)
                    && (s.meta.manifest.timeframes.is_empty()
                        || signal.timeframe.is_some_and(|tf| s.meta.manifest.timeframes.contains(&tf)))
            })
            .map(|(i, _)| i)
            .collect();
        for index in targets {
            self.registry.slots_mut()[index].counters.signals += 1;
            if let Some(remote) = self.registry.slots_mut()[index].remote.as_mut() {
                remote.signals_in_flight.insert(signal.id.clone());
                let params = json!({"signal": signal});
                let signal_id = signal.id.clone();
                self.send(index, signal_method(&signal.kind), params, |index| Pending::Shadow { signal_id, index });
                continue;
            }
            let result = self.run_signal(index, signal);
            self.outcome_of(index, &signal.id, result);
        }
    }

    /// The next running plugin in hook order (priority, then registry order) after `after`.
    fn next_hook(&self, after: Option<(i32, usize)>) -> Option<usize> {
        self.registry
            .slots()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == PluginState::Running)
            .map(|(i, s)| (s.meta.manifest.priority, i))
            .filter(|key| after.is_none_or(|a| *key > a))
            .min()
            .map(|(_, i)| i)
    }

    /// Applies a hook's decision to the signal; `Some` is the outcome of a rejected signal.
    fn apply_hook(&mut self, i: usize, decision: HookDecision, signal: &mut Signal) -> Option<Outcome> {
        let id = self.registry.slots()[i].meta.id().clone();
        match decision {
            HookDecision::Pass => None,
            HookDecision::Modify(changed) if changed.id == signal.id => {
                *signal = *changed;
                None
            }
            HookDecision::Modify(_) => {
                self.record_failure(i, "on_signal_received changed the signal id; the change was ignored".into());
                None
            }
            HookDecision::Reject(reason) => {
                Some(Outcome::new(OutcomeStatus::Rejected, "hook_rejected", reason).with_plugin(id))
            }
        }
    }

    /// The outcome of a plugin's handling of a signal, counted in its counters; a shadow
    /// plugin's is also recorded as its decision.
    fn outcome_of(&mut self, index: usize, signal_id: &SignalId, result: Result<Decision, CallError>) -> Outcome {
        let outcome = self.count_outcome(index, result);
        if self.registry.slots()[index].meta.mode == PluginMode::Shadow {
            let at = self.services.now();
            let record = Box::new(outcome.clone());
            self.services.record(StoreOp::ShadowDecision { signal_id: signal_id.clone(), at, outcome: record });
        }
        outcome
    }

    fn count_outcome(&mut self, index: usize, result: Result<Decision, CallError>) -> Outcome {
        let id = self.registry.slots()[index].meta.id().clone();
        let counters = &mut self.registry.slots_mut()[index].counters;
        match result {
            Ok(decision) => {
                let outcome = Outcome::from_decision(id, decision);
                match outcome.status {
                    OutcomeStatus::Executed => counters.executed += 1,
                    OutcomeStatus::Rejected => counters.rejected += 1,
                    _ => counters.ignored += 1,
                }
                outcome
            }
            Err(CallError::Denied(e)) => {
                counters.rejected += 1;
                let code = match &e {
                    PluginError::Service(s) => s.risk_code().map_or("rejected", |c| c.as_str()),
                    PluginError::Failed(_) => "rejected",
                };
                Outcome::new(OutcomeStatus::Rejected, code, e.to_string()).with_plugin(id)
            }
            Err(CallError::Failed(message)) => {
                Outcome::new(OutcomeStatus::Failed, "plugin_failed", message).with_plugin(id)
            }
        }
    }

    /// Sends a call to a process plugin and remembers what waits for it.
    fn send(&mut self, index: usize, method: &str, params: Value, pending: impl FnOnce(usize) -> Pending) {
        self.next_call += 1;
        let call = self.next_call;
        self.pending.insert(call, pending(index));
        if let Some(remote) = &self.registry.slots()[index].remote {
            remote.link.call(call, method, params);
        }
    }

    /// Something happened on a process plugin's link.
    pub fn on_remote(&mut self, plugin: &PluginId, event: RemoteEvent) {
        let Some(index) = self.registry.index_of(plugin) else { return };
        match event {
            RemoteEvent::Reply { call, result } => self.on_reply(call, result),
            RemoteEvent::Request { token, method, params } => self.serve_remote(index, token, &method, params),
            RemoteEvent::Ready { info, generation, reloaded } => {
                let version = info.version.clone();
                let has_start = info.has_hook("on_start");
                if let Some(remote) = self.registry.slots_mut()[index].remote.as_mut() {
                    remote.info = Some(info);
                }
                if reloaded {
                    let msg = format!("{plugin} reloaded: version {version} is running (process {generation})");
                    self.services.event(EventKind::PluginState, Some(plugin), msg.clone(), json!({"reloaded": true}));
                    self.services.notify(plugin, zepix_plugin::NotifyLevel::Info, &msg);
                }
                if has_start {
                    self.send(index, "on_start", json!({}), |index| Pending::Hook { index });
                }
            }
            RemoteEvent::Failed { reason } => self.record_failure(index, reason),
        }
    }

    fn on_reply(&mut self, call: CallId, result: Result<Value, RpcError>) {
        let Some(pending) = self.pending.remove(&call) else { return };
        match pending {
            Pending::Hook { index } => {
                if let Err(e) = result {
                    self.remote_error(index, &e);
                }
            }
            Pending::Bar { index, feed, bar } => self.on_bar_reply(index, &feed, &bar, result),
            Pending::Bars { index, feed, bars } => self.on_bars_reply(index, &feed, &bars, result),
            Pending::Gate { mut flow, index } => {
                let decision = match result {
                    Ok(v) => zepix_plugin::serve::hook_decision(v).map_err(|m| {
                        self.record_failure(index, format!("on_signal_received: {m}"));
                    }),
                    Err(e) => {
                        self.remote_error(index, &e);
                        Err(())
                    }
                };
                if let Ok(decision) = decision
                    && let Some(outcome) = self.apply_hook(index, decision, &mut flow.signal)
                {
                    self.finish(flow.record, outcome);
                    return;
                }
                self.advance(flow);
            }
            Pending::Signal { flow, index } => {
                let outcome = self.on_decision(index, &flow.signal.id, result);
                self.finish(flow.record, outcome);
            }
            Pending::Shadow { signal_id, index } => {
                self.on_decision(index, &signal_id, result);
            }
        }
    }

    /// A process plugin's answer to a signal: what it asks for is carried out, and the outcome
    /// counted (and recorded for a shadow plugin).
    fn on_decision(&mut self, index: usize, signal_id: &SignalId, result: Result<Value, RpcError>) -> Outcome {
        if let Some(remote) = self.registry.slots_mut()[index].remote.as_mut() {
            remote.signals_in_flight.remove(signal_id);
        }
        let result = match result.map(zepix_plugin::serve::decision) {
            Ok(Ok(wire)) => {
                self.registry.slots_mut()[index].counters.consecutive_failures = 0;
                self.carry_out(index, signal_id, wire)
            }
            Ok(Err(message)) => {
                self.record_failure(index, message.clone());
                Err(CallError::Failed(message))
            }
            Err(e) => Err(self.remote_error(index, &e)),
        };
        self.outcome_of(index, signal_id, result)
    }

    /// Carries out what a process plugin's decision asks for, as if it had called `orders.place`
    /// and `orders.close_all` while handling the signal: closes first, then orders; their ids join
    /// the decision. A refusal ends the list: what was done stays done, and the refusal is the
    /// signal's outcome. A decision that asked for closes and placed and closed nothing is ignored.
    fn carry_out(
        &mut self,
        index: usize,
        signal_id: &SignalId,
        wire: zepix_plugin::serve::WireDecision,
    ) -> Result<Decision, CallError> {
        let mut decision = wire.decision;
        let asked_to_close = !wire.close.is_empty();
        let close = wire.close.into_iter().map(|p| ("orders.close_all", p));
        let place = wire.place.into_iter().map(|p| ("orders.place", p));
        for (method, mut params) in close.chain(place) {
            if let Some(obj) = params.as_object_mut()
                && method == "orders.place"
            {
                obj.insert("signal_id".into(), Value::String(signal_id.to_string()));
            }
            let slot = &mut self.registry.slots_mut()[index];
            let mut ctx = Ctx::new(&slot.meta, &mut slot.metrics, &mut self.services, Some(signal_id));
            match zepix_plugin::serve::serve(&mut ctx, method, params) {
                Ok(done) if method == "orders.place" => {
                    if let Some(id) = done.pointer("/order/id").and_then(|v| serde_json::from_value(v.clone()).ok()) {
                        decision.orders.push(id);
                    }
                    decision.kind = zepix_plugin::DecisionKind::Executed;
                }
                Ok(done) => {
                    let trades = done.as_array().map(Vec::as_slice).unwrap_or_default();
                    let ids = trades
                        .iter()
                        .filter_map(|t| serde_json::from_value::<PositionId>(t.pointer("/position/id")?.clone()).ok());
                    decision.closed.extend(ids);
                }
                Err(e) => return Err(self.remote_error(index, &e)),
            }
        }
        if asked_to_close
            && decision.kind == zepix_plugin::DecisionKind::Executed
            && decision.orders.is_empty()
            && decision.closed.is_empty()
        {
            return Ok(Decision::ignored("no open position to close"));
        }
        Ok(decision)
    }

    /// An error answer from a process plugin. The plugin's own failures count; a refusal by the
    /// risk gate does not; a timeout or crash was already counted when its host reported it.
    fn remote_error(&mut self, index: usize, e: &RpcError) -> CallError {
        if let Some(risk) = e.risk_code() {
            let code = serde_json::from_value::<RiskCode>(Value::from(risk));
            if let Ok(code) = code {
                return CallError::Denied(PluginError::Service(ServiceError {
                    service: Service::Orders,
                    code: ServiceErrorCode::RiskRejected(code),
                    message: e.message.clone(),
                }));
            }
        }
        if !matches!(e.code, code::TIMEOUT | code::UNAVAILABLE) {
            self.record_failure(index, e.message.clone());
        }
        CallError::Failed(e.message.clone())
    }

    fn serve_remote(&mut self, index: usize, token: RequestToken, method: &str, params: Value) {
        let slot = &mut self.registry.slots_mut()[index];
        let Some(remote) = slot.remote.as_ref() else { return };
        let signal_id = zepix_plugin::serve::signal_of(&params)
            .and_then(|s| remote.signals_in_flight.iter().find(|id| id.as_str() == s))
            .cloned();
        let mut ctx = Ctx::new(&slot.meta, &mut slot.metrics, &mut self.services, signal_id.as_ref());
        let result = zepix_plugin::serve::serve(&mut ctx, method, params);
        remote.link.respond(token, result);
    }

    /// Reloads a process plugin: its new code starts beside the old and takes over once
    /// initialized; `done` hears the outcome.
    ///
    /// # Errors
    /// Unknown plugin, or a plugin that is not a process plugin.
    pub fn reload(
        &mut self,
        id: &PluginId,
        done: Box<dyn FnOnce(Result<zepix_plugin::InitInfo, String>) + Send>,
    ) -> Result<(), EngineError> {
        let index = self.registry.index_of(id).ok_or_else(|| EngineError::UnknownPlugin(id.clone()))?;
        let slot = &self.registry.slots()[index];
        let Some(remote) = &slot.remote else {
            return Err(EngineError::Refused(format!(
                "{id} is a built-in plugin: it changes with a new engine build, not a reload"
            )));
        };
        remote.link.reload(done);
        let msg = format!("{id}: reload requested");
        self.services.event(EventKind::PluginState, Some(id), msg, json!({"reload": "requested"}));
        Ok(())
    }

    fn apply_trend(&mut self, signal: &Signal) -> Outcome {
        let (Some(symbol), Some(timeframe)) = (signal.symbol.clone(), signal.timeframe) else {
            return Outcome::new(OutcomeStatus::Rejected, "invalid", "a trend signal needs a symbol and a timeframe");
        };
        let trend = signal.side.into();
        let at = self.services.now();
        self.services.trends_mut().set(symbol.clone(), timeframe, trend, Some(at));
        self.services.record(StoreOp::Trend { symbol: symbol.clone(), timeframe, trend, at });
        Outcome::applied(format!("{symbol} {timeframe} trend {trend}"))
    }

    /// Calls the `on_sl_hit` / `on_tp_hit` hooks of the plugins whose positions `trades` closed,
    /// then runs the chain steps they started; positions a step closes (the rest of a stopped
    /// level) get their hooks in turn.
    fn dispatch_closes(&mut self, mut trades: Vec<Trade>) {
        trades.extend(self.services.take_step_closes());
        // Ends: each further round needs positions a step closed, and closes use positions up.
        loop {
            for trade in &trades {
                let Some(i) = self.registry.index_of(&trade.position.plugin) else { continue };
                if self.registry.slots()[i].state != PluginState::Running {
                    continue;
                }
                let method = match trade.reason {
                    CloseReason::StopLoss => {
                        self.call_hook(i, None, |p, ctx| p.on_sl_hit(trade, ctx));
                        "on_sl_hit"
                    }
                    CloseReason::TakeProfit => {
                        self.call_hook(i, None, |p, ctx| p.on_tp_hit(trade, ctx));
                        "on_tp_hit"
                    }
                    _ => continue,
                };
                self.notify_remote(i, method, json!({"trade": trade}));
            }
            self.run_chain_steps();
            trades = self.services.take_step_closes();
            if trades.is_empty() {
                return;
            }
        }
    }

    /// Opens the next level of every profit chain whose level reached its target, and re-enters
    /// every re-entry chain whose trigger was reached: a chain belongs to the engine once started,
    /// so it goes on whatever its plugin's state.
    fn run_chain_steps(&mut self) {
        for id in self.services.take_pending_levels() {
            let Some(plugin) = self.services.chain(id).map(|c| c.plugin.clone()) else { continue };
            let Some(i) = self.registry.index_of(&plugin) else {
                self.services.end_chain(id, format!("its plugin {plugin} is not loaded"));
                continue;
            };
            let meta = &self.registry.slots()[i].meta;
            self.services.open_level(meta, id);
        }
        for id in self.services.take_pending_hedges() {
            let Some(plugin) = self.services.shield(id).map(|s| s.plugin.clone()) else { continue };
            if let Some(i) = self.registry.index_of(&plugin) {
                let meta = &self.registry.slots()[i].meta;
                self.services.hedge(meta, id);
            }
        }
        for id in self.services.take_pending_reentries() {
            let Some(plugin) = self.services.reentry(id).map(|c| c.plugin.clone()) else { continue };
            if let Some(i) = self.registry.index_of(&plugin) {
                let meta = &self.registry.slots()[i].meta;
                self.services.reenter(meta, id);
            }
        }
    }

    /// Calls a built-in plugin's hook. Failures are already counted by `invoke`; a hook's result
    /// carries nothing else. Process plugins get the same hook through [`Self::notify_remote`].
    fn call_hook(
        &mut self,
        index: usize,
        signal_id: Option<&SignalId>,
        f: impl FnOnce(&mut dyn Plugin, &mut Ctx<'_>) -> PluginResult<()>,
    ) {
        if self.registry.slots()[index].plugin.is_some() {
            let _ = self.invoke(index, signal_id, f);
        }
    }

    /// Sends a hook to a process plugin that implements it, without waiting for it.
    fn notify_remote(&mut self, index: usize, method: &str, params: Value) {
        if self.registry.slots()[index].remote.as_ref().is_some_and(|r| r.has_hook(method)) {
            self.send(index, method, params, |index| Pending::Hook { index });
        }
    }

    /// Calls a plugin with its context, catching errors and panics. Failures are counted; the
    /// fifth in a row disables the plugin. Only a successful signal call ends a streak: a hook
    /// that passes says nothing about whether the plugin's trading logic works.
    fn invoke<T>(
        &mut self,
        index: usize,
        signal_id: Option<&SignalId>,
        f: impl FnOnce(&mut dyn Plugin, &mut Ctx<'_>) -> PluginResult<T>,
    ) -> Result<T, CallError> {
        self.invoke_as(index, signal_id, false, f)
    }

    fn invoke_as<T>(
        &mut self,
        index: usize,
        signal_id: Option<&SignalId>,
        ends_streak: bool,
        f: impl FnOnce(&mut dyn Plugin, &mut Ctx<'_>) -> PluginResult<T>,
    ) -> Result<T, CallError> {
        let slot = &mut self.registry.slots_mut()[index];
        let Some(plugin) = slot.plugin.as_mut() else {
            return Err(CallError::Failed(format!("plugin {} is not loaded", slot.meta.id())));
        };
        let mut ctx = Ctx::new(&slot.meta, &mut slot.metrics, &mut self.services, signal_id);
        let result = catch_unwind(AssertUnwindSafe(|| f(plugin.as_mut(), &mut ctx)));
        match result {
            Ok(Ok(value)) => {
                if ends_streak {
                    self.registry.slots_mut()[index].counters.consecutive_failures = 0;
                }
                Ok(value)
            }
            Ok(Err(e)) if !e.is_failure() => Err(CallError::Denied(e)),
            Ok(Err(e)) => {
                let message = e.to_string();
                self.record_failure(index, message.clone());
                Err(CallError::Failed(message))
            }
            Err(panic) => {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                let message = format!("panicked: {text}");
                self.record_failure(index, message.clone());
                Err(CallError::Failed(message))
            }
        }
    }

    fn record_failure(&mut self, index: usize, message: String) {
        let now = self.services.now();
        let slot = &mut self.registry.slots_mut()[index];
        slot.counters.failures += 1;
        slot.counters.consecutive_failures += 1;
        slot.last_error = Some(LastError { at: now, message: message.clone() });
        let id = slot.meta.id().clone();
        let streak = slot.counters.consecutive_failures;
        self.services.event(
            EventKind::PluginError,
            Some(&id),
            format!("{id} failed ({streak} in a row): {message}"),
            json!({"consecutive": streak}),
        );
        if streak >= MAX_CONSECUTIVE_FAILURES && self.registry.slots()[index].state == PluginState::Running {
            let reason = format!("{streak} consecutive failures, last: {message}");
            if self.transition(index, LifecycleEvent::Fail, &reason).is_ok() {
                if let Some(remote) = &self.registry.slots()[index].remote {
                    remote.link.stop();
                }
                self.services.notify(&id, zepix_plugin::NotifyLevel::Error, &format!("plugin {id} disabled: {reason}"));
            }
        }
    }

    fn transition(&mut self, index: usize, event: LifecycleEvent, why: &str) -> Result<PluginState, EngineError> {
        let slot = &mut self.registry.slots_mut()[index];
        let from = slot.state;
        let id = slot.meta.id().clone();
        let to = from.on(event).map_err(|source| EngineError::Transition { plugin: id.clone(), source })?;
        slot.state = to;
        self.services.event(
            EventKind::PluginState,
            Some(&id),
            format!("{id}: {from} → {to} ({why})"),
            json!({"from": from, "to": to, "event": event}),
        );
        Ok(to)
    }

    /// Enables or disables a plugin at runtime; the choice is stored and survives restarts.
    ///
    /// # Errors
    /// Unknown plugin, a plugin this engine cannot run, or a transition the lifecycle refuses.
    pub fn set_enabled(&mut self, id: &PluginId, enabled: bool) -> Result<PluginStatus, EngineError> {
        let index = self.registry.index_of(id).ok_or_else(|| EngineError::UnknownPlugin(id.clone()))?;
        let slot = &self.registry.slots()[index];
        if slot.plugin.is_none() && slot.remote.is_none() {
            let why = slot.last_error.as_ref().map_or_else(|| "not built".to_owned(), |e| e.message.clone());
            return Err(EngineError::NotRunnable(id.clone(), why));
        }
        let (event, why) = if enabled {
            (LifecycleEvent::Enable, "enabled by operator")
        } else {
            (LifecycleEvent::Disable, "disabled by operator")
        };
        let was_failed = slot.state == PluginState::Failed;
        self.transition(index, event, why)?;
        if enabled {
            self.registry.slots_mut()[index].counters.consecutive_failures = 0;
        }
        if let Some(remote) = &self.registry.slots()[index].remote {
            if was_failed {
                // Its process was stopped when it failed: start it again.
                let plugin = id.clone();
                remote.link.reload(Box::new(move |r| {
                    if let Err(e) = r {
                        tracing::warn!(%plugin, "restart after enable failed: {e}");
                    }
                }));
            }
            let hook = if enabled { "on_plugin_enabled" } else { "on_plugin_disabled" };
            self.notify_remote(index, hook, json!({}));
        }
        let at = self.services.now();
        self.services.record(StoreOp::PluginEnabled { plugin: id.clone(), enabled, at });
        Ok(self.registry.slots()[index].status())
    }

    /// Switches a plugin between live and shadow at runtime (`HYBRID` only); the choice is
    /// stored and survives restarts. Promoting a shadow plugin sends its next orders to the
    /// venue; its virtual positions stay on its book until they close.
    ///
    /// # Errors
    /// Unknown plugin, or an engine not running `HYBRID`.
    pub fn set_mode(&mut self, id: &PluginId, mode: PluginMode) -> Result<PluginStatus, EngineError> {
        let index = self.registry.index_of(id).ok_or_else(|| EngineError::UnknownPlugin(id.clone()))?;
        if self.mode != Mode::Hybrid {
            let all = if self.mode == Mode::Live { "live" } else { "in shadow" };
            return Err(EngineError::Refused(format!(
                "the engine runs {}: every plugin trades {all}; set [engine] mode = \"HYBRID\" to choose per plugin",
                mode_name(self.mode)
            )));
        }
        let from = self.registry.slots()[index].meta.mode;
        if from != mode {
            self.services.set_shadow(id, mode == PluginMode::Shadow).map_err(EngineError::Refused)?;
            self.registry.slots_mut()[index].meta.mode = mode;
            let at = self.services.now();
            self.services.record(StoreOp::PluginMode { plugin: id.clone(), mode, at });
            let (from, to) = (plugin_mode_name(from), plugin_mode_name(mode));
            let message = if mode == PluginMode::Live {
                format!("{id} promoted: {from} → {to}; its next orders go to the venue")
            } else {
                format!("{id} moved to shadow: {from} → {to}; its next orders go to its virtual book")
            };
            self.services.event(EventKind::PluginState, Some(id), message.clone(), json!({"mode": mode}));
            self.services.notify(id, zepix_plugin::NotifyLevel::Info, &message);
        }
        Ok(self.registry.slots()[index].status())
    }

    /// Sets the trading state (stored).
    pub fn set_trading_state(&mut self, state: TradingState) {
        let from = self.services.risk().state();
        self.services.risk_mut().set_state(state);
        self.services.record(StoreOp::TradingState(state));
        self.services.event(
            EventKind::TradingState,
            None,
            format!("trading {from} → {state}"),
            json!({"state": state}),
        );
    }

    /// Lifts a symbol's cooldown lock on an operator's order.
    ///
    /// # Errors
    /// When the symbol is not locked.
    pub fn unlock(&mut self, symbol: &Symbol) -> Result<SymbolLock, EngineError> {
        self.services.unlock(symbol).ok_or_else(|| EngineError::Refused(format!("{symbol} is not locked")))
    }

    /// Closes a position on an operator's order (allowed in every trading state).
    ///
    /// # Errors
    /// Unknown position, or no price to close at.
    pub fn close_position(&mut self, id: PositionId) -> Result<Trade, EngineError> {
        let trade = self.services.close_position(None, id, CloseReason::Manual).map_err(|e| match e.code {
            zepix_plugin::ServiceErrorCode::NotFound => EngineError::UnknownPosition(id),
            _ => EngineError::Refused(e.message),
        })?;
        Ok(trade)
    }

    /// Every plugin's status.
    #[must_use]
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.registry.slots().iter().map(super::registry::PluginSlot::status).collect()
    }

    /// The engine's status.
    #[must_use]
    pub fn status(&self) -> EngineStatus {
        let venue = self.services.venue();
        EngineStatus {
            trading_state: self.services.risk().state(),
            daily_loss_locked: self.services.risk().loss_locked(),
            mode: self.mode,
            venue: venue.name().to_owned(),
            account: venue.account(),
            realized_today: self.services.realized_today(),
            positions: venue.positions(),
            next_daily_reset: self.next_reset,
            plugins: self.registry.slots().iter().map(|s| (s.meta.id().clone(), s.state)).collect(),
            services: self.services.health(),
            trends: self.services.trends().entries(),
            locks: self.services.risk().locks(self.services.now()),
            chains: self.services.chains(),
            reentries: self.services.reentries(),
            safety: self.services.risk().safety().clone(),
            shields: self.services.shields(),
        }
    }
}

/// The handler a process plugin gets for a signal of this type.
const fn signal_method(kind: &SignalType) -> &'static str {
    match kind {
        SignalType::Entry => "process_entry_signal",
        SignalType::Exit => "process_exit_signal",
        SignalType::Reversal => "process_reversal_signal",
        _ => "process_signal",
    }
}

const fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "LIVE",
        Mode::Shadow => "SHADOW",
        Mode::Hybrid => "HYBRID",
    }
}

const fn plugin_mode_name(mode: PluginMode) -> &'static str {
    match mode {
        PluginMode::Live => "live",
        PluginMode::Shadow => "shadow",
    }
}

mod bars;
mod operator;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod remote_tests;

#[cfg(test)]
mod shadow_tests;

#[cfg(test)]
mod chain_tests;

#[cfg(test)]
mod reentry_tests;

#[cfg(test)]
mod loss_limit_props;
