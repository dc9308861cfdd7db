//! Fakes for tests: an in-memory store and inbox, a simple venue that fills at the given price,
//! a scripted plugin, and a whole engine started on them.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use zepix_model::{
    Account, Bar, Clock, CloseReason, Event, Fill, Money, Order, PluginId, Position, PositionId, Price, Side, Signal,
    SignalId, SignalSource, Symbol, SymbolTable, TestClock, Timeframe, Trade,
};
use zepix_plugin::{
    Capability, Decision, Manifest, OrderIntent, Plugin, PluginContext, PluginResult, Role, Runtime, Settings,
};

use crate::config::KernelConfig;
use crate::kernel::Kernel;
use crate::metrics::EngineMetrics;
use crate::ports::{
    Appended, DecisionRow, Execution, Inbox, InboxError, InboxRecord, OrderTicket, PluginDb, ShadowRows, SignalRecord,
    Store, StoreError, StoreOp, StoreSnapshot, Venue, VenueError,
};
use crate::registry::{Counters, PluginMeta, PluginSlot, PluginSource, Registry};
use crate::risk::{RiskApproved, RiskGate, TradingState};
use crate::runtime::{Command, EngineHandle, spawn_kernel};
use crate::services::Services;
use crate::{PluginMode, metrics::ServiceMetrics};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A store that keeps every op in memory.
#[derive(Debug, Default)]
pub struct MemStore {
    ops: Mutex<Vec<StoreOp>>,
    committed_seq: AtomicU64,
}

impl MemStore {
    /// Every op submitted so far.
    #[must_use]
    pub fn ops(&self) -> Vec<StoreOp> {
        lock(&self.ops).clone()
    }

    /// The recorded signals, in order.
    #[must_use]
    pub fn signals(&self) -> Vec<SignalRecord> {
        lock(&self.ops)
            .iter()
            .filter_map(|op| match op {
                StoreOp::Signal { seq, source, received_at, processed_at, signal, outcome } => Some(SignalRecord {
                    seq: *seq,
                    signal: (**signal).clone(),
                    source: source.to_string(),
                    received_at: *received_at,
                    processed_at: *processed_at,
                    outcome: (**outcome).clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The recorded events, in order.
    #[must_use]
    pub fn event_log(&self) -> Vec<Event> {
        lock(&self.ops)
            .iter()
            .filter_map(|op| if let StoreOp::Event(e) = op { Some((**e).clone()) } else { None })
            .collect()
    }
}

impl Store for MemStore {
    fn submit(&self, ops: Vec<StoreOp>) {
        for op in &ops {
            if let StoreOp::Signal { seq, .. } = op {
                self.committed_seq.fetch_max(*seq, Ordering::Relaxed);
            }
        }
        lock(&self.ops).extend(ops);
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Relaxed)
    }

    fn snapshot(&self, _day_start: DateTime<Utc>) -> Result<StoreSnapshot, StoreError> {
        let mut snap = StoreSnapshot::default();
        let mut open = BTreeMap::new();
        for op in lock(&self.ops).iter() {
            match op {
                StoreOp::Signal { seq, signal, .. } => {
                    snap.max_seq = snap.max_seq.max(*seq);
                    snap.processed.insert(signal.id.clone());
                }
                StoreOp::Order(o) => snap.max_order_id = snap.max_order_id.max(o.id.0),
                StoreOp::Position(p) => {
                    snap.max_position_id = snap.max_position_id.max(p.id.0);
                    open.insert(p.id, (**p).clone());
                }
                StoreOp::Closed(t) => {
                    open.remove(&t.position.id);
                    snap.realized += t.pnl;
                }
                StoreOp::PluginEnabled { plugin, enabled, .. } => {
                    snap.plugin_enabled.insert(plugin.clone(), *enabled);
                }
                StoreOp::TradingState(s) => snap.trading_state = Some(*s),
                StoreOp::Safety(counters) => snap.safety = Some((**counters).clone()),
                StoreOp::Chain(record) => {
                    snap.max_chain_id = snap.max_chain_id.max(record.key().1);
                    snap.chains.retain(|r| r.key() != record.key());
                    if record.is_live() {
                        snap.chains.push((**record).clone());
                    }
                }
                StoreOp::SymbolLock { symbol, lock } => {
                    snap.symbol_locks.retain(|l| &l.symbol != symbol);
                    snap.symbol_locks.extend(lock.clone());
                }
                StoreOp::PluginMode { plugin, mode, .. } => {
                    snap.plugin_modes.insert(plugin.clone(), *mode);
                }
                StoreOp::ShadowPosition(p) => {
                    let book = snap.shadow_books.entry(p.plugin.clone()).or_default();
                    book.max_position_id = book.max_position_id.max(p.id.0);
                    book.positions.retain(|o| o.id != p.id);
                    book.positions.push((**p).clone());
                }
                StoreOp::ShadowClosed(t) => {
                    let book = snap.shadow_books.entry(t.position.plugin.clone()).or_default();
                    book.positions.retain(|o| o.id != t.position.id);
                    book.realized += t.pnl;
                }
                StoreOp::Price { symbol, price, .. } => {
                    snap.prices.insert(symbol.clone(), *price);
                }
                _ => {}
            }
        }
        snap.positions = open.into_values().collect();
        Ok(snap)
    }

    fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, StoreError> {
        Ok(self.signals().into_iter().find(|r| &r.signal.id == id))
    }

    fn recent_signals(&self, limit: usize) -> Result<Vec<SignalRecord>, StoreError> {
        Ok(self.signals().into_iter().rev().take(limit).collect())
    }

    fn orders(&self, limit: usize) -> Result<Vec<Order>, StoreError> {
        let ops = lock(&self.ops);
        Ok(ops
            .iter()
            .rev()
            .filter_map(|op| if let StoreOp::Order(o) = op { Some((**o).clone()) } else { None })
            .take(limit)
            .collect())
    }

    fn trades(&self, limit: usize) -> Result<Vec<Trade>, StoreError> {
        let ops = lock(&self.ops);
        Ok(ops
            .iter()
            .rev()
            .filter_map(|op| if let StoreOp::Closed(t) = op { Some((**t).clone()) } else { None })
            .take(limit)
            .collect())
    }

    fn events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        Ok(self.event_log().into_iter().rev().take(limit).collect())
    }

    fn shadow_rows(&self) -> Result<ShadowRows, StoreError> {
        let snap = self.snapshot(Utc::now())?;
        let mut rows = ShadowRows { live_open: snap.positions, ..ShadowRows::default() };
        rows.shadow_open = snap.shadow_books.into_values().flat_map(|b| b.positions).collect();
        for op in lock(&self.ops).iter() {
            match op {
                StoreOp::Closed(t) => rows.live_trades.push((**t).clone()),
                StoreOp::ShadowClosed(t) => rows.shadow_trades.push((**t).clone()),
                StoreOp::ShadowDecision { signal_id, at, outcome } => rows.shadow_decisions.push(DecisionRow {
                    signal_id: signal_id.clone(),
                    at: *at,
                    outcome: (**outcome).clone(),
                }),
                _ => {}
            }
        }
        let shadowed: HashSet<&SignalId> = rows.shadow_decisions.iter().map(|d| &d.signal_id).collect();
        // A routed plugin that is itself in shadow decided on its virtual book, not live.
        let by_shadow = |r: &SignalRecord| {
            rows.shadow_decisions.iter().any(|d| d.signal_id == r.signal.id && d.outcome.plugin == r.outcome.plugin)
        };
        rows.live_decisions = self
            .signals()
            .into_iter()
            .filter(|r| shadowed.contains(&r.signal.id) && r.outcome.plugin.is_some() && !by_shadow(r))
            .map(|r| DecisionRow { signal_id: r.signal.id, at: r.processed_at, outcome: r.outcome })
            .collect();
        Ok(rows)
    }

    fn plugin_db(&self, plugin: &PluginId) -> Result<Box<dyn PluginDb>, StoreError> {
        Err(StoreError::Db(format!("the memory store has no database for {plugin}")))
    }
}

type Sink = Box<dyn FnMut(Vec<InboxRecord>) + Send>;

/// An inbox in memory: idempotent, hands records to its sink at once.
pub struct MemInbox {
    state: Mutex<(HashSet<SignalId>, u64, Option<Sink>)>,
}

impl std::fmt::Debug for MemInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemInbox").finish_non_exhaustive()
    }
}

impl MemInbox {
    /// An inbox delivering to `sink`.
    #[must_use]
    pub fn new(sink: Sink) -> Self {
        Self { state: Mutex::new((HashSet::new(), 0, Some(sink))) }
    }
}

impl Inbox for MemInbox {
    fn append(
        &self,
        source: SignalSource,
        received_at: DateTime<Utc>,
        signal: Signal,
    ) -> tokio::sync::oneshot::Receiver<Result<Appended, InboxError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut state = lock(&self.state);
        let (seen, seq, sink) = &mut *state;
        if seen.insert(signal.id.clone()) {
            *seq += 1;
            let n = *seq;
            if let Some(sink) = sink.as_mut() {
                sink(vec![InboxRecord { seq: n, source, received_at, signal }]);
            }
            let _ = tx.send(Ok(Appended::Accepted(n)));
        } else {
            let _ = tx.send(Ok(Appended::Duplicate));
        }
        rx
    }

    fn processed_up_to(&self, _seq: u64) {}
}

/// A venue that fills exactly at the reference price and closes at the mark; SL/TP fill at
/// their level. P&L from the symbol table.
#[derive(Debug)]
pub struct SimpleVenue {
    symbols: SymbolTable,
    balance: Money,
    realized: Money,
    prices: BTreeMap<Symbol, Price>,
    positions: BTreeMap<PositionId, Position>,
    next_id: u64,
}

impl SimpleVenue {
    /// A venue with `balance` and the default symbol table.
    #[must_use]
    pub fn new(balance: i64) -> Self {
        Self {
            symbols: SymbolTable::default(),
            balance: Money::from_decimal(balance.into()),
            realized: Money::ZERO,
            prices: BTreeMap::new(),
            positions: BTreeMap::new(),
            next_id: 1,
        }
    }

    fn close_at(&mut self, id: PositionId, price: Price, reason: CloseReason, at: DateTime<Utc>) -> Option<Trade> {
        let position = self.positions.remove(&id)?;
        let spec = self.symbols.get(&position.symbol)?;
        let pnl = spec.pnl(position.side, position.lots, position.entry_price, price);
        let pips = ((price.value() - position.entry_price.value()) * position.side.sign() / spec.pip_size).round_dp(1);
        self.realized += pnl;
        Some(Trade { position, exit_price: price, closed_at: at, pnl, pips, reason })
    }
}

impl Venue for SimpleVenue {
    fn name(&self) -> &str {
        "simple"
    }

    fn execute(&mut self, order: RiskApproved<OrderTicket>, at: DateTime<Utc>) -> Result<Execution, VenueError> {
        let t = order.into_inner();
        let r = &t.request;
        let price = r
            .price
            .or_else(|| self.prices.get(&r.symbol).copied())
            .ok_or_else(|| VenueError::NoPrice(r.symbol.clone()))?;
        let id = PositionId(self.next_id);
        self.next_id += 1;
        let position = Position {
            id,
            plugin: t.plugin.clone(),
            order_id: t.id,
            signal_id: t.signal_id.clone(),
            symbol: r.symbol.clone(),
            side: r.side,
            lots: r.lots,
            entry_price: price,
            sl: r.sl,
            tp: r.tp,
            opened_at: at,
        };
        self.positions.insert(id, position.clone());
        let fill =
            Fill { order_id: t.id, position_id: id, symbol: r.symbol.clone(), side: r.side, lots: r.lots, price, at };
        Ok(Execution { fill, position })
    }

    /// Simplified: the low, then the high, then the close, each as a mark.
    fn mark_bar(&mut self, symbol: &Symbol, bar: &Bar, at: DateTime<Utc>) -> Vec<Trade> {
        let mut trades = self.mark(symbol, bar.low, at);
        trades.extend(self.mark(symbol, bar.high, at));
        self.prices.insert(symbol.clone(), bar.close);
        trades
    }

    fn mark(&mut self, symbol: &Symbol, price: Price, at: DateTime<Utc>) -> Vec<Trade> {
        self.prices.insert(symbol.clone(), price);
        let hits: Vec<(PositionId, Price, CloseReason)> = self
            .positions
            .values()
            .filter(|p| &p.symbol == symbol)
            .filter_map(|p| {
                let below = |l: Option<Price>| l.is_some_and(|l| price <= l);
                let above = |l: Option<Price>| l.is_some_and(|l| price >= l);
                let (sl_hit, tp_hit) = match p.side {
                    Side::Buy => (below(p.sl), above(p.tp)),
                    Side::Sell => (above(p.sl), below(p.tp)),
                };
                if sl_hit {
                    p.sl.map(|l| (p.id, l, CloseReason::StopLoss))
                } else if tp_hit {
                    p.tp.map(|l| (p.id, l, CloseReason::TakeProfit))
                } else {
                    None
                }
            })
            .collect();
        hits.into_iter().filter_map(|(id, level, reason)| self.close_at(id, level, reason, at)).collect()
    }

    fn close(&mut self, id: PositionId, reason: CloseReason, at: DateTime<Utc>) -> Result<Trade, VenueError> {
        let symbol = self.positions.get(&id).map(|p| p.symbol.clone()).ok_or(VenueError::UnknownPosition(id))?;
        let price = self.prices.get(&symbol).copied().ok_or_else(|| VenueError::NoPrice(symbol.clone()))?;
        self.close_at(id, price, reason, at).ok_or(VenueError::UnknownSymbol(symbol))
    }

    fn modify(&mut self, id: PositionId, sl: Option<Price>, tp: Option<Price>) -> Result<Position, VenueError> {
        let p = self.positions.get_mut(&id).ok_or(VenueError::UnknownPosition(id))?;
        p.sl = sl;
        p.tp = tp;
        Ok(p.clone())
    }

    fn last_price(&self, symbol: &Symbol) -> Option<Price> {
        self.prices.get(symbol).copied()
    }

    fn positions(&self) -> Vec<Position> {
        self.positions.values().cloned().collect()
    }

    fn open_positions(&self) -> Box<dyn Iterator<Item = &Position> + '_> {
        Box::new(self.positions.values())
    }

    fn has_open_positions(&self) -> bool {
        !self.positions.is_empty()
    }

    fn account(&self) -> Account {
        let unrealized: Money = self
            .positions
            .values()
            .filter_map(|p| {
                let price = self.prices.get(&p.symbol)?;
                Some(self.symbols.get(&p.symbol)?.pnl(p.side, p.lots, p.entry_price, *price))
            })
            .sum();
        let balance = self.balance + self.realized;
        Account { balance, equity: balance + unrealized, realized: self.realized, unrealized }
    }

    fn restore(
        &mut self,
        positions: Vec<Position>,
        realized: Money,
        prices: BTreeMap<Symbol, Price>,
        max_position_id: u64,
    ) {
        self.positions = positions.into_iter().map(|p| (p.id, p)).collect();
        self.realized = realized;
        self.prices = prices;
        self.next_id = max_position_id + 1;
    }
}

type EntryFn = Box<dyn FnMut(&Signal, &mut dyn PluginContext) -> PluginResult<Decision> + Send>;

/// A plugin whose entry handling is a closure; exits and reversals use the trait defaults.
pub struct ScriptedPlugin(EntryFn);

impl ScriptedPlugin {
    /// A plugin running `entry` for every entry signal.
    #[must_use]
    pub fn new(entry: impl FnMut(&Signal, &mut dyn PluginContext) -> PluginResult<Decision> + Send + 'static) -> Self {
        Self(Box::new(entry))
    }

    /// A plugin that trades every entry as given.
    #[must_use]
    pub fn executor() -> Self {
        Self::new(|signal, ctx| {
            let intent = OrderIntent::from_signal(signal)
                .ok_or_else(|| zepix_plugin::PluginError::Failed("entry without symbol or side".into()))?;
            let placed = ctx.place_order(intent)?;
            Ok(Decision::executed(vec![placed.order.id], Vec::new()))
        })
    }
}

impl Plugin for ScriptedPlugin {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        (self.0)(signal, ctx)
    }
}

/// A manifest for a test plugin owning `strategy` on `timeframes`, with every service capability.
#[must_use]
pub fn manifest(id: &str, strategy: &str, timeframes: &[Timeframe]) -> Manifest {
    Manifest {
        id: PluginId::new(id).unwrap_or_else(|e| panic!("test plugin id: {e}")),
        name: id.to_owned(),
        version: "1.0.0".into(),
        author: String::new(),
        description: String::new(),
        runtime: Runtime::Builtin,
        entry: None,
        command: None,
        protocol: 1,
        roles: vec![Role::Logic],
        strategy: Some(strategy.to_owned()),
        timeframes: timeframes.to_vec(),
        symbols: Vec::new(),
        capabilities: vec![
            Capability::Orders,
            Capability::Positions,
            Capability::Risk,
            Capability::MarketData,
            Capability::Trend,
            Capability::Notify,
        ],
        priority: 100,
        limits: zepix_plugin::Limits::default(),
        settings_schema: BTreeMap::new(),
    }
}

/// A registry slot holding a built plugin, ready to start.
#[must_use]
pub fn slot(manifest: Manifest, plugin: Box<dyn Plugin>) -> PluginSlot {
    PluginSlot {
        meta: PluginMeta {
            symbols: manifest.symbols.clone(),
            manifest,
            settings: Settings::default(),
            source: PluginSource::Builtin,
            mode: PluginMode::Live,
            enabled_in_config: true,
        },
        state: crate::lifecycle::PluginState::Loaded,
        plugin: Some(plugin),
        remote: None,
        metrics: ServiceMetrics::default(),
        counters: Counters::default(),
        last_error: None,
    }
}

/// A started kernel over a [`SimpleVenue`] with 10 000 and a [`MemStore`], counting into
/// `metrics`.
#[must_use]
pub fn kernel(
    clock: Arc<dyn Clock>,
    slots: Vec<PluginSlot>,
    config: &KernelConfig,
    metrics: Arc<EngineMetrics>,
) -> (Kernel, Arc<MemStore>) {
    let store = Arc::new(MemStore::default());
    (restarted(clock, slots, config, metrics, store.clone()), store)
}

/// A started kernel restored from what `store` recorded (open positions, realized P&L, prices,
/// chains), as after a restart.
#[must_use]
pub fn restarted(
    clock: Arc<dyn Clock>,
    slots: Vec<PluginSlot>,
    config: &KernelConfig,
    metrics: Arc<EngineMetrics>,
    store: Arc<MemStore>,
) -> Kernel {
    let snap = store.snapshot(clock.now()).unwrap_or_else(|e| panic!("memory snapshot: {e}"));
    let mut registry = Registry::default();
    for s in slots {
        registry.push(s);
    }
    let mut venue = SimpleVenue::new(10_000);
    venue.restore(snap.positions, snap.realized, snap.prices, snap.max_position_id);
    let mut risk = RiskGate::new(config.risk.clone(), TradingState::Active);
    if let Some(counters) = snap.safety {
        risk.restore_safety(counters);
    }
    let mut services =
        Services::new(clock, Box::new(venue), risk, SymbolTable::default(), store, snap.max_order_id, Money::ZERO)
            .with_books(Box::new(|| Box::new(SimpleVenue::new(10_000))));
    services.restore_chains(snap.chains, snap.max_chain_id);
    let mut kernel = Kernel::new(config, registry, services, metrics).unwrap_or_else(|e| panic!("test kernel: {e}"));
    kernel.start(&snap.plugin_enabled);
    kernel
}

/// A kernel driven by alerts, one at a time, as a trading session: what each alert did, the
/// store's record, and a clock that moves `step` before each alert.
pub struct Session {
    /// The kernel.
    pub kernel: Kernel,
    /// Its store.
    pub store: Arc<MemStore>,
    /// Its clock, starting at 2026-03-02 10:00 UTC.
    pub clock: TestClock,
    /// How far the clock moves before each alert.
    pub step: chrono::Duration,
    seq: u64,
}

impl Session {
    /// A started kernel with these plugins.
    #[must_use]
    pub fn new(slots: Vec<PluginSlot>, config: &KernelConfig) -> Self {
        let clock = TestClock::new(DateTime::from_timestamp(1_772_445_600, 0).unwrap_or_default());
        let (kernel, store) = kernel(Arc::new(clock.clone()), slots, config, Arc::default());
        Self { kernel, store, clock, step: chrono::Duration::zero(), seq: 0 }
    }

    /// Processes an alert (built-in plugins decide at once) and records what it did.
    ///
    /// # Panics
    /// When the alert does not parse or a plugin has not decided.
    pub fn send(&mut self, alert: Value) -> crate::Outcome {
        self.seq += 1;
        self.clock.advance(self.step);
        let signal = zepix_model::signal::parse_alert(alert.to_string().as_bytes(), self.clock.now())
            .unwrap_or_else(|e| panic!("test alert {alert}: {e}"))
            .signal;
        let record =
            InboxRecord { seq: self.seq, source: SignalSource::Webhook, received_at: self.clock.now(), signal };
        let outcome = self.kernel.process(record).unwrap_or_else(|| panic!("built-in plugins decide at once"));
        self.store.submit(self.kernel.take_ops());
        outcome
    }

    /// A market price for a symbol.
    pub fn price(&mut self, symbol: &str, price: &str) {
        self.send(serde_json::json!({"type": "market", "symbol": symbol, "price": price}));
    }

    /// A plugin's state.
    ///
    /// # Panics
    /// When there is no such plugin.
    #[must_use]
    pub fn state(&self, id: &str) -> crate::PluginState {
        let plugins = self.kernel.plugins();
        plugins.into_iter().find(|p| p.id.as_str() == id).unwrap_or_else(|| panic!("no plugin {id}")).state
    }

    /// The messages of the recorded events of a kind.
    #[must_use]
    pub fn events(&self, kind: zepix_model::EventKind) -> Vec<String> {
        self.store.event_log().into_iter().filter(|e| e.kind == kind).map(|e| e.message).collect()
    }
}

/// A running engine over fakes: the handle, its store, and the kernel thread.
pub struct TestEngine {
    /// The handle.
    pub handle: EngineHandle,
    /// The store it records into.
    pub store: Arc<MemStore>,
    /// The kernel thread.
    pub thread: JoinHandle<()>,
}

impl TestEngine {
    /// Starts an engine with these plugins.
    #[must_use]
    pub fn start(clock: Arc<dyn Clock>, slots: Vec<PluginSlot>) -> Self {
        let metrics = Arc::new(EngineMetrics::default());
        let (kernel, store) = kernel(clock.clone(), slots, &KernelConfig::default(), metrics.clone());
        let (tx, rx) = std::sync::mpsc::channel::<Command>();
        let sink_tx: Sender<Command> = tx.clone();
        let inbox = Arc::new(MemInbox::new(Box::new(move |records| {
            let _ = sink_tx.send(Command::Signals(records));
        })));
        let store_dyn: Arc<dyn Store> = store.clone();
        let events = crate::runtime::event_bus();
        let thread = spawn_kernel(kernel, store_dyn.clone(), events.clone(), rx, Box::new(|_| {}), Box::new(|_| {}));
        let handle = EngineHandle::new(tx, events, inbox, store_dyn, clock, metrics);
        Self { handle, store, thread }
    }
}

/// A JSON object from `json!` for tests.
#[must_use]
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
