//! The engine's ports: the venue that executes, the store that records, the inbox that makes
//! signals durable. Each has one embedded implementation (paper venue, SQLite, an append log) in
//! its own crate; tests swap in fakes.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use zepix_model::{
    Account, Bar, CloseReason, Event, Fill, Money, Order, OrderId, OrderRequest, PluginId, Position, PositionId, Price,
    Signal, SignalId, SignalSource, Symbol, Timeframe, Trade, Trend,
};

use crate::chains::ChainRecord;
use crate::config::PluginMode;
use crate::outcome::Outcome;
use crate::risk::{RiskApproved, SymbolLock, TradingState};

// ---------------------------------------------------------------------------------------------
// Venue

/// An order the engine has approved and numbered, ready for a venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTicket {
    /// Engine-assigned order id.
    pub id: OrderId,
    /// Owner.
    pub plugin: PluginId,
    /// The signal it came from.
    pub signal_id: Option<SignalId>,
    /// What to execute; SL/TP are prices (pips already converted).
    pub request: OrderRequest,
}

/// What a venue did with an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The fill.
    pub fill: Fill,
    /// The position it opened.
    pub position: Position,
}

/// Why a venue refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// No price known for the symbol and none given.
    #[error("no price for {0}")]
    NoPrice(Symbol),
    /// No such open position.
    #[error("no open position {0}")]
    UnknownPosition(PositionId),
    /// The symbol is not in the venue's symbol table.
    #[error("unknown symbol {0}")]
    UnknownSymbol(Symbol),
    /// The stop loss or take profit is on the wrong side of the fill.
    #[error("{0}")]
    InvalidLevels(String),
}

/// A place that executes orders. Only risk-approved orders reach it.
pub trait Venue: Send {
    /// Short name (`paper`).
    fn name(&self) -> &str;
    /// Executes a market order at the ticket's price (or the last price), with spread and slippage.
    ///
    /// # Errors
    /// No price, unknown symbol, or levels on the wrong side of the fill.
    fn execute(&mut self, order: RiskApproved<OrderTicket>, at: DateTime<Utc>) -> Result<Execution, VenueError>;
    /// Records a market price (mid). Returns the positions whose SL or TP it triggered, closed.
    fn mark(&mut self, symbol: &Symbol, price: Price, at: DateTime<Utc>) -> Vec<Trade>;
    /// Records a closed bar of mid prices: SL and TP are checked against its whole range, and its
    /// close becomes the last price. Returns the positions it closed.
    fn mark_bar(&mut self, symbol: &Symbol, bar: &Bar, at: DateTime<Utc>) -> Vec<Trade>;
    /// Closes a position at the current price.
    ///
    /// # Errors
    /// Unknown position, or no price.
    fn close(&mut self, id: PositionId, reason: CloseReason, at: DateTime<Utc>) -> Result<Trade, VenueError>;
    /// Changes a position's SL and TP (`None` removes).
    ///
    /// # Errors
    /// Unknown position, or levels on the wrong side of the current price.
    fn modify(&mut self, id: PositionId, sl: Option<Price>, tp: Option<Price>) -> Result<Position, VenueError>;
    /// The last mid price of a symbol.
    fn last_price(&self, symbol: &Symbol) -> Option<Price>;
    /// Every open position, by id.
    fn positions(&self) -> Vec<Position>;
    /// Every open position, by id, borrowed (for filtering without copying the book).
    fn open_positions(&self) -> Box<dyn Iterator<Item = &Position> + '_>;
    /// Whether any position is open (asked on every bar: without building an iterator).
    fn has_open_positions(&self) -> bool;
    /// Balance, equity and P&L.
    fn account(&self) -> Account;
    /// The spread it quotes on a symbol, in pips, when it knows it.
    fn spread_pips(&self, _symbol: &Symbol) -> Option<rust_decimal::Decimal> {
        None
    }

    /// Restores state after a restart: open positions, realized P&L so far, last prices, and the
    /// highest position id ever used (closed positions included), so ids are never reused.
    fn restore(
        &mut self,
        positions: Vec<Position>,
        realized: Money,
        prices: BTreeMap<Symbol, Price>,
        max_position_id: u64,
    );
}

// ---------------------------------------------------------------------------------------------
// Inbox

/// A signal as kept by the inbox: durable before it is acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxRecord {
    /// Position in the inbox, increasing.
    pub seq: u64,
    /// Where it came from.
    pub source: SignalSource,
    /// When the engine received it.
    pub received_at: DateTime<Utc>,
    /// The signal.
    pub signal: Signal,
}

/// What the inbox did with a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored durably with this sequence number.
    Accepted(u64),
    /// A signal with this id was accepted before; nothing was stored.
    Duplicate,
}

/// Inbox failures.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The write or sync failed; the signal was not accepted.
    #[error("inbox write failed: {0}")]
    Io(#[from] std::io::Error),
    /// The log is damaged somewhere other than its torn tail.
    #[error("inbox log {file} is corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        file: String,
        /// Where.
        offset: u64,
        /// What was found.
        reason: String,
    },
    /// The inbox has stopped.
    #[error("inbox is closed")]
    Closed,
}

/// A durable, idempotent queue of signals. Appends are group-committed: the returned future
/// resolves once the record is on disk. Durable records are handed to the sink in sequence order.
pub trait Inbox: Send + Sync {
    /// Appends a signal unless its id was seen before.
    fn append(
        &self,
        source: SignalSource,
        received_at: DateTime<Utc>,
        signal: Signal,
    ) -> tokio::sync::oneshot::Receiver<Result<Appended, InboxError>>;
    /// Tells the inbox that every record up to `seq` is recorded in the store, so its log space
    /// can be reclaimed.
    fn processed_up_to(&self, seq: u64);
}

// ---------------------------------------------------------------------------------------------
// Store

/// One write to the store. Ops are committed in the order submitted, in batches; a crash loses
/// at most a suffix, never a middle.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// A processed signal and its outcome (insert; the id is unique).
    Signal {
        /// The inbox record.
        seq: u64,
        /// Where it came from.
        source: SignalSource,
        /// When it was received.
        received_at: DateTime<Utc>,
        /// When processing finished.
        processed_at: DateTime<Utc>,
        /// The signal.
        signal: Box<Signal>,
        /// What happened.
        outcome: Box<Outcome>,
    },
    /// An order (placed or rejected).
    Order(Box<Order>),
    /// A fill.
    Fill(Box<Fill>),
    /// A position opened or changed (upsert by id).
    Position(Box<Position>),
    /// A position closed: delete it from open positions, insert the trade, and upsert the trade
    /// into the owning plugin's `plugin.db`.
    Closed(Box<Trade>),
    /// An open position recorded in the owning plugin's `plugin.db` `trades` table (status OPEN).
    PluginTradeOpened(Box<Position>),
    /// An event-log entry.
    Event(Box<Event>),
    /// A plugin was enabled or disabled (kept across restarts).
    PluginEnabled {
        /// Which.
        plugin: PluginId,
        /// Now enabled?
        enabled: bool,
        /// When (the engine's clock).
        at: DateTime<Utc>,
    },
    /// The trend of a symbol and timeframe changed (upsert).
    Trend {
        /// Symbol.
        symbol: Symbol,
        /// Timeframe.
        timeframe: Timeframe,
        /// New trend.
        trend: Trend,
        /// When.
        at: DateTime<Utc>,
    },
    /// Last price of a symbol (upsert).
    Price {
        /// Symbol.
        symbol: Symbol,
        /// Mid price.
        price: Price,
        /// When.
        at: DateTime<Utc>,
    },
    /// The trading state changed (kept across restarts).
    TradingState(TradingState),
    /// A plugin's mode changed (kept across restarts; wins over the configuration).
    PluginMode {
        /// Which.
        plugin: PluginId,
        /// Its mode now.
        mode: PluginMode,
        /// When (the engine's clock).
        at: DateTime<Utc>,
    },
    /// A dual order, a profit chain or a re-entry chain started or changed (upsert by kind and id).
    Chain(Box<ChainRecord>),
    /// The daily reset: the plugin's `performance` row of the day that ended exists, zero when
    /// it traded nothing.
    DayClosed {
        /// Which.
        plugin: PluginId,
        /// The day that ended (UTC date of its last instant, as trades' rows are dated).
        date: chrono::NaiveDate,
    },
    /// The safety service's counters changed.
    Safety(Box<crate::risk::SafetyCounters>),
    /// A symbol's cooldown lock was set (`Some`) or lifted (`None`).
    SymbolLock {
        /// The symbol.
        symbol: Symbol,
        /// The lock now in force, if any.
        lock: Option<SymbolLock>,
    },
    /// A position on a shadow plugin's virtual book opened or changed (upsert by plugin and id).
    ShadowPosition(Box<Position>),
    /// A virtual position closed: removed from the open ones, kept as a shadow trade.
    ShadowClosed(Box<Trade>),
    /// What a shadow plugin decided about a signal.
    ShadowDecision {
        /// The signal.
        signal_id: SignalId,
        /// When.
        at: DateTime<Utc>,
        /// The decision, with the plugin.
        outcome: Box<Outcome>,
    },
}

/// A stored signal with its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalRecord {
    /// Inbox sequence number.
    pub seq: u64,
    /// The signal, canonical.
    pub signal: Signal,
    /// Where it came from.
    pub source: String,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// When processed.
    pub processed_at: DateTime<Utc>,
    /// What happened.
    pub outcome: Outcome,
}

/// What the engine needs back after a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreSnapshot {
    /// Open positions.
    pub positions: Vec<Position>,
    /// Realized P&L of every closed trade.
    pub realized: Money,
    /// Realized P&L of trades closed at or after the `day_start` asked for.
    pub realized_today: Money,
    /// Highest order id used (0 when none).
    pub max_order_id: u64,
    /// Highest position id used (0 when none).
    pub max_position_id: u64,
    /// Highest inbox sequence number recorded (0 when none).
    pub max_seq: u64,
    /// Ids of every recorded signal.
    pub processed: HashSet<SignalId>,
    /// Plugins an operator enabled or disabled.
    pub plugin_enabled: BTreeMap<PluginId, bool>,
    /// Last trading state set, if any.
    pub trading_state: Option<TradingState>,
    /// Last prices.
    pub prices: BTreeMap<Symbol, Price>,
    /// Trends.
    pub trends: Vec<(Symbol, Timeframe, Trend)>,
    /// Plugins whose mode an operator changed.
    pub plugin_modes: BTreeMap<PluginId, PluginMode>,
    /// Each shadow plugin's virtual book.
    pub shadow_books: BTreeMap<PluginId, BookState>,
    /// Symbol locks (some may have expired since).
    pub symbol_locks: Vec<SymbolLock>,
    /// Dual orders and profit chains still at work.
    pub chains: Vec<ChainRecord>,
    /// Highest chain or dual order id used.
    pub max_chain_id: u64,
    /// The safety service's counters, when stored.
    pub safety: Option<crate::risk::SafetyCounters>,
}

/// A virtual book as stored: what [`Venue::restore`] needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookState {
    /// Open positions.
    pub positions: Vec<Position>,
    /// Realized P&L of its closed trades.
    pub realized: Money,
    /// Highest position id it used.
    pub max_position_id: u64,
}

/// A decision as stored: a live signal's outcome or a shadow plugin's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// The signal.
    pub signal_id: SignalId,
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// What was decided, and by which plugin.
    pub outcome: Outcome,
}

/// What the shadow report is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShadowRows {
    /// Closed trades of the live book.
    pub live_trades: Vec<Trade>,
    /// Open positions of the live book.
    pub live_open: Vec<Position>,
    /// Closed trades of the virtual books.
    pub shadow_trades: Vec<Trade>,
    /// Open positions of the virtual books.
    pub shadow_open: Vec<Position>,
    /// Shadow plugins' decisions.
    pub shadow_decisions: Vec<DecisionRow>,
    /// Live outcomes of the signals shadow plugins also decided.
    pub live_decisions: Vec<DecisionRow>,
}

/// Store failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("store: {0}")]
    Db(String),
    /// The store has stopped.
    #[error("store is closed")]
    Closed,
}

/// A plugin's own SQLite database.
pub trait PluginDb: Send {
    /// Runs a statement; returns rows changed.
    ///
    /// # Errors
    /// The SQL failed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize, StoreError>;
    /// Runs a query; rows as JSON objects.
    ///
    /// # Errors
    /// The SQL failed.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Map<String, Value>>, StoreError>;
}

/// Where everything is recorded.
pub trait Store: Send + Sync {
    /// Queues ops; they are committed in order, in batches, by a writer in the background. May
    /// wait while the writer is far behind, so a long burst cannot grow the queue without bound.
    fn submit(&self, ops: Vec<StoreOp>);
    /// Blocks until everything submitted so far is committed.
    ///
    /// # Errors
    /// The writer failed or stopped.
    fn flush(&self) -> Result<(), StoreError>;
    /// Highest inbox sequence number whose `Signal` op is committed and synced to disk: the inbox
    /// may forget signals up to it.
    fn committed_seq(&self) -> u64;
    /// Loads what a restarting engine needs; `day_start` bounds `realized_today`.
    ///
    /// # Errors
    /// The database failed.
    fn snapshot(&self, day_start: DateTime<Utc>) -> Result<StoreSnapshot, StoreError>;
    /// One signal and its outcome.
    ///
    /// # Errors
    /// The database failed.
    fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, StoreError>;
    /// The most recent signals, newest first.
    ///
    /// # Errors
    /// The database failed.
    fn recent_signals(&self, limit: usize) -> Result<Vec<SignalRecord>, StoreError>;
    /// The most recent orders, newest first.
    ///
    /// # Errors
    /// The database failed.
    fn orders(&self, limit: usize) -> Result<Vec<Order>, StoreError>;
    /// The most recent closed trades, newest first.
    ///
    /// # Errors
    /// The database failed.
    fn trades(&self, limit: usize) -> Result<Vec<Trade>, StoreError>;
    /// The most recent events, newest first.
    ///
    /// # Errors
    /// The database failed.
    fn events(&self, limit: usize) -> Result<Vec<Event>, StoreError>;
    /// What the shadow report needs: both books' trades and positions, the shadow decisions and
    /// the live outcomes of the same signals.
    ///
    /// # Errors
    /// The database failed.
    fn shadow_rows(&self) -> Result<ShadowRows, StoreError>;
    /// Opens (creating if needed) a plugin's own database, `plugins/<id>/plugin.db`.
    ///
    /// # Errors
    /// The file cannot be opened or migrated.
    fn plugin_db(&self, plugin: &PluginId) -> Result<Box<dyn PluginDb>, StoreError>;
}
