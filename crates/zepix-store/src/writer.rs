//! The store's single writer thread: takes queued ops in batches and commits each batch in one
//! transaction on `zepix.db` (and one on each plugin database it touches).
//!
//! When a batch fails, it is rolled back and applied again op by op, each in a savepoint, so one
//! bad op (a bug upstream, such as a repeated signal id) costs only itself: it is logged and
//! reported by the next `flush`, and every other op of the batch is kept, in order. The plugins'
//! copies of trades are written by the copier (`copier.rs`) once the engine db has committed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SendError, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, Statement, params, params_from_iter};
use zepix_engine::{StoreError, StoreOp};
use zepix_model::{PluginId, Position};

use crate::codec::{nullable, position_columns, time_text, to_i64};
use crate::copier::CopyMsg;

/// Ops one transaction takes at most; more wait for the next.
pub(crate) const MAX_BATCH_OPS: usize = 16_384;

/// How often committed work is made durable (a WAL checkpoint, which syncs the log). Commits in
/// between survive a crash of the process; the inbox keeps every signal until it is durable here,
/// so a power loss replays the rest.
const SYNC_EVERY: Duration = Duration::from_millis(200);

/// How long a batch may gather ops before it is committed.
const GATHER: Duration = Duration::from_millis(25);

/// Ops the writer's queue may hold before a submitter waits: about ten thousand signals' worth, a
/// fraction of a second of writing. Normal load never comes near it; a burst beyond it waits for
/// the writer instead of holding an ever larger backlog in fresh memory.
pub(crate) const MAX_QUEUED_OPS: usize = 65_536;

/// How many ops wait in the writer's queue.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    queued: Mutex<usize>,
    drained: Condvar,
}

impl Backlog {
    /// Counts `n` more ops in, first waiting while the queue is full; `false` (nothing counted)
    /// when the writer has stopped, as `stopped` tells, so a dead writer never blocks a caller.
    pub(crate) fn enter(&self, n: usize, stopped: impl Fn() -> bool) -> bool {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        while *queued >= MAX_QUEUED_OPS {
            if stopped() {
                return false;
            }
            queued = self.drained.wait_timeout(queued, STOP_CHECK).unwrap_or_else(PoisonError::into_inner).0;
        }
        *queued += n;
        true
    }

    /// Counts `n` ops out (the writer took them).
    fn leave(&self, n: usize) {
        let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        *queued = queued.saturating_sub(n);
        drop(queued);
        self.drained.notify_all();
    }
}

/// How often a submitter waiting on a full queue checks that the writer still runs.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// What the writer is sent.
pub(crate) enum Msg {
    /// Ops to commit, in order.
    Ops(Vec<StoreOp>),
    /// Answer once everything sent before is committed, with any error since the last answer.
    Flush(SyncSender<Result<(), StoreError>>),
}

/// The engine db's write statements. Each is prepared once per writer and kept for its life:
/// the connection's statement cache would hash the statement's text twice for every row.
#[derive(Debug, Clone, Copy)]
enum Sql {
    InsertSignal,
    InsertOrder,
    InsertFill,
    UpsertPosition,
    DeletePosition,
    InsertTrade,
    InsertEvent,
    UpsertPluginState,
    UpsertTrend,
    UpsertPrice,
    UpsertChain,
    UpsertSafety,
    UpsertLock,
    DeleteLock,
    UpsertMode,
    UpsertShadowPosition,
    DeleteShadowPosition,
    InsertShadowTrade,
    InsertShadowDecision,
    UpsertTradingState,
}

impl Sql {
    const COUNT: usize = Self::UpsertTradingState as usize + 1;

    const fn text(self) -> &'static str {
        match self {
            Self::InsertSignal => "INSERT INTO signals (seq, id, source, received_at, processed_at, status, plugin, code, signal,
                                              outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            Self::InsertOrder => "INSERT INTO orders (id, plugin, signal_id, symbol, side, lots, sl, tp, price, comment, status,
                                             reason, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            Self::InsertFill => "INSERT INTO fills (order_id, position_id, symbol, side, lots, price, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            Self::UpsertPosition => "INSERT INTO positions (id, plugin, order_id, signal_id, symbol, side, lots, entry_price, sl, tp, opened_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(id) DO UPDATE SET
             plugin = excluded.plugin, order_id = excluded.order_id, signal_id = excluded.signal_id,
             symbol = excluded.symbol, side = excluded.side, lots = excluded.lots,
             entry_price = excluded.entry_price, sl = excluded.sl, tp = excluded.tp, opened_at = excluded.opened_at",
            Self::DeletePosition => "DELETE FROM positions WHERE id = ?1",
            Self::InsertTrade => "INSERT INTO trades (id, plugin, order_id, signal_id, symbol, side, lots, entry_price, sl, tp,
                                             opened_at, exit_price, closed_at, pnl, pips, reason)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            Self::InsertEvent => "INSERT INTO events (at, kind, plugin, message, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            Self::UpsertPluginState => "INSERT INTO plugin_state (plugin, enabled, at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(plugin) DO UPDATE SET enabled = excluded.enabled, at = excluded.at",
            Self::UpsertTrend => "INSERT INTO trends (symbol, timeframe, trend, at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(symbol, timeframe) DO UPDATE SET trend = excluded.trend, at = excluded.at",
            Self::UpsertPrice => "INSERT INTO prices (symbol, price, at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(symbol) DO UPDATE SET price = excluded.price, at = excluded.at",
            Self::UpsertChain => "INSERT INTO chains (kind, id, plugin, live, data) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(kind, id) DO UPDATE SET live = excluded.live, data = excluded.data",
            Self::UpsertSafety => "INSERT INTO engine_state (key, value) VALUES ('safety', ?1)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            Self::UpsertLock => "INSERT INTO symbol_locks (symbol, until, reason) VALUES (?1, ?2, ?3)
                         ON CONFLICT(symbol) DO UPDATE SET until = excluded.until, reason = excluded.reason",
            Self::DeleteLock => "DELETE FROM symbol_locks WHERE symbol = ?1",
            Self::UpsertMode => "INSERT INTO plugin_modes (plugin, mode, at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(plugin) DO UPDATE SET mode = excluded.mode, at = excluded.at",
            Self::UpsertShadowPosition => "INSERT INTO shadow_positions (plugin, id, order_id, data) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(plugin, id) DO UPDATE SET order_id = excluded.order_id, data = excluded.data",
            Self::DeleteShadowPosition => "DELETE FROM shadow_positions WHERE plugin = ?1 AND id = ?2",
            Self::InsertShadowTrade => "INSERT OR REPLACE INTO shadow_trades (plugin, id, order_id, closed_at, pnl, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            Self::InsertShadowDecision => "INSERT OR REPLACE INTO shadow_decisions (signal_id, plugin, at, status, outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
            Self::UpsertTradingState => "INSERT INTO engine_state (key, value) VALUES ('trading_state', ?1)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        }
    }
}

/// The writer's connection to `zepix.db` with its prepared statements.
pub(crate) struct Db<'c> {
    conn: &'c Connection,
    prepared: [Option<Statement<'c>>; Sql::COUNT],
}

impl<'c> Db<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn, prepared: std::array::from_fn(|_| None) }
    }

    /// The statement, prepared on first use.
    fn stmt(&mut self, sql: Sql) -> rusqlite::Result<&mut Statement<'c>> {
        let slot = &mut self.prepared[sql as usize];
        let stmt = match slot.take() {
            Some(stmt) => stmt,
            None => self.conn.prepare(sql.text())?,
        };
        Ok(slot.insert(stmt))
    }

    fn exec(&self, sql: &str) -> Result<(), String> {
        self.conn.execute_batch(sql).map_err(|e| e.to_string())
    }

    fn begin(&self) -> Result<(), String> {
        self.exec("BEGIN IMMEDIATE")
    }

    fn end(&self) -> Result<(), String> {
        self.exec("COMMIT")
    }

    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The writer's state, owned by its thread.
pub(crate) struct Writer {
    /// The queue's count of ops, shared with the submitters.
    backlog: Arc<Backlog>,
    /// Committed batches go on to the plugins' copies.
    copier: Sender<CopyMsg>,
    /// Highest signal sequence number committed and synced to disk (shared with the store).
    committed_seq: Arc<AtomicU64>,
    /// Highest signal sequence number committed, synced or not.
    unsynced_seq: u64,
    last_sync: Instant,
    /// The first error since the last flush answered.
    error: Option<String>,
}

/// One op's failure, for the log and `flush`.
type OpResult = Result<(), String>;

impl Writer {
    pub(crate) fn new(copier: Sender<CopyMsg>, backlog: Arc<Backlog>, committed_seq: Arc<AtomicU64>) -> Self {
        let synced = committed_seq.load(Ordering::Acquire);
        Self { backlog, copier, committed_seq, unsynced_seq: synced, last_sync: Instant::now(), error: None }
    }

    /// Runs until every sender is gone and the queue is drained.
    pub(crate) fn run(mut self, db: &mut Db<'_>, rx: &Receiver<Msg>) {
        let mut ops = Vec::new();
        let mut flushes = Vec::new();
        loop {
            let first = match rx.recv_timeout(SYNC_EVERY) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    self.sync(db);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.take(first, &mut ops, &mut flushes);
            // Gather for a moment before committing: every commit rewrites the index pages it
            // touches into the WAL, so a few large commits cost far less than many small ones.
            // Acknowledgements do not wait for this (the inbox made the signal durable); a
            // flush ends the wait at once.
            let deadline = Instant::now() + GATHER;
            while ops.len() < MAX_BATCH_OPS && flushes.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(msg) => self.take(msg, &mut ops, &mut flushes),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            if !ops.is_empty() {
                self.commit(db, std::mem::take(&mut ops));
            }
            if !flushes.is_empty() || self.last_sync.elapsed() >= SYNC_EVERY {
                self.sync(db);
            }
            if !flushes.is_empty() {
                // Answered by the copier once the plugins' copies are written too; reported to
                // every flusher that was waiting, so the next flush starts clean.
                let replies = std::mem::take(&mut flushes);
                let engine = self.error.take();
                if let Err(SendError(CopyMsg::Flush { replies, engine })) =
                    self.copier.send(CopyMsg::Flush { replies, engine })
                {
                    let error = engine.unwrap_or_else(|| "the plugin copier stopped".to_owned());
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Db(error.clone())));
                    }
                }
            }
        }
    }

    fn take(&mut self, msg: Msg, ops: &mut Vec<StoreOp>, flushes: &mut Vec<SyncSender<Result<(), StoreError>>>) {
        match msg {
            Msg::Ops(mut more) => {
                self.backlog.leave(more.len());
                ops.append(&mut more);
            }
            Msg::Flush(reply) => flushes.push(reply),
        }
    }

    fn fail(&mut self, what: String) {
        tracing::error!(error = %what, "store writer");
        self.error.get_or_insert(what);
    }

    /// Commits a batch to the engine db: all at once, or, when that fails, op by op. Then hands
    /// the committed ops to the copier.
    fn commit(&mut self, db: &mut Db<'_>, ops: Vec<StoreOp>) {
        let fast = db.begin().and_then(|()| {
            for op in &ops {
                apply(db, op)?;
            }
            db.end()
        });
        match fast {
            Ok(()) => {
                self.advance_to(ops.iter().filter_map(signal_seq).max());
                self.hand_over(ops, Vec::new());
            }
            Err(first) => {
                tracing::warn!(error = %first, ops = ops.len(), "store batch failed; applying its ops one by one");
                db.rollback();
                self.commit_one_by_one(db, ops);
            }
        }
    }

    fn commit_one_by_one(&mut self, db: &mut Db<'_>, ops: Vec<StoreOp>) {
        if let Err(e) = db.begin() {
            self.fail(format!("a batch of {} ops was not stored: cannot begin a transaction: {e}", ops.len()));
            return;
        }
        let mut failed = Vec::new();
        let mut max_seq = None;
        for (i, op) in ops.iter().enumerate() {
            let result = db.exec("SAVEPOINT op").and_then(|()| apply(db, op));
            match result.and_then(|()| db.exec("RELEASE op")) {
                Ok(()) => max_seq = max_seq.max(signal_seq(op)),
                Err(e) => {
                    let _ = db.exec("ROLLBACK TO op");
                    let _ = db.exec("RELEASE op");
                    self.fail(format!("{} not stored: {e}", describe(op)));
                    failed.push(i);
                }
            }
        }
        match db.end() {
            Ok(()) => {
                self.advance_to(max_seq);
                self.hand_over(ops, failed);
            }
            Err(e) => {
                db.rollback();
                self.fail(format!("a batch of {} ops was not stored: {e}", ops.len()));
            }
        }
    }

    /// Sends a committed batch to the copier (which also drops it, off this thread).
    fn hand_over(&mut self, ops: Vec<StoreOp>, failed: Vec<usize>) {
        if self.copier.send(CopyMsg::Committed { ops, failed }).is_err() {
            self.fail("the plugin copier stopped: committed trades were not copied to the plugins' databases".into());
        }
    }

    fn advance_to(&mut self, seq: Option<u64>) {
        if let Some(seq) = seq {
            self.unsynced_seq = self.unsynced_seq.max(seq);
        }
    }

    /// Makes every commit so far durable with a passive WAL checkpoint (it syncs the log first),
    /// then publishes the highest signal sequence number it covers.
    fn sync(&mut self, db: &Db<'_>) {
        self.last_sync = Instant::now();
        if self.unsynced_seq <= self.committed_seq.load(Ordering::Acquire) {
            return;
        }
        let done = db.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match done {
            // Every frame of the log was copied: the log was synced before, the database after.
            Ok((0, log, copied)) if log == copied => {
                self.committed_seq.fetch_max(self.unsynced_seq, Ordering::Release);
            }
            Ok(_) => tracing::debug!("checkpoint incomplete (a reader is busy); retrying later"),
            Err(e) => self.fail(format!("checkpoint: {e}")),
        }
    }
}

/// Writes one op to the engine db (the copier writes the plugins' rows).
fn apply(db: &mut Db<'_>, op: &StoreOp) -> OpResult {
    let sql = |e: rusqlite::Error| e.to_string();
    match op {
        StoreOp::Signal { seq, source, received_at, processed_at, signal, outcome } => {
            let signal_json = serde_json::to_string(signal.as_ref()).map_err(|e| e.to_string())?;
            let outcome_json = serde_json::to_string(outcome.as_ref()).map_err(|e| e.to_string())?;
            db.stmt(Sql::InsertSignal)
                .and_then(|stmt| {
                    stmt.execute(params![
                        to_i64("seq", *seq)?,
                        signal.id.as_str(),
                        source.to_string(),
                        time_text(*received_at),
                        time_text(*processed_at),
                        outcome.status.as_str(),
                        outcome.plugin.as_ref().map(PluginId::as_str),
                        outcome.code.as_deref(),
                        signal_json,
                        outcome_json,
                    ])
                })
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        format!("signal `{}` (seq {seq}) is already stored: {e}", signal.id)
                    }
                    _ => e.to_string(),
                })?;
        }
        StoreOp::Order(order) => {
            let r = &order.request;
            db.stmt(Sql::InsertOrder)
                .and_then(|stmt| {
                    stmt.execute(params![
                        to_i64("order id", order.id.0)?,
                        order.plugin.as_str(),
                        order.signal_id.as_ref().map(|s| s.as_str()),
                        r.symbol.as_str(),
                        r.side.as_str(),
                        r.lots.to_string(),
                        r.sl.map(|p| p.to_string()),
                        r.tp.map(|p| p.to_string()),
                        r.price.map(|p| p.to_string()),
                        r.comment,
                        order_status(order.status),
                        order.reason,
                        time_text(order.created_at),
                    ])
                })
                .map_err(sql)?;
        }
        StoreOp::Fill(fill) => {
            db.stmt(Sql::InsertFill)
                .and_then(|stmt| {
                    stmt.execute(params![
                        to_i64("order id", fill.order_id.0)?,
                        to_i64("position id", fill.position_id.0)?,
                        fill.symbol.as_str(),
                        fill.side.as_str(),
                        fill.lots.to_string(),
                        fill.price.to_string(),
                        time_text(fill.at),
                    ])
                })
                .map_err(sql)?;
        }
        StoreOp::Position(position) => upsert_position(db, position).map_err(sql)?,
        StoreOp::Closed(trade) => {
            let p = &trade.position;
            let id = to_i64("position id", p.id.0).map_err(sql)?;
            db.stmt(Sql::DeletePosition).and_then(|stmt| stmt.execute([id])).map_err(sql)?;
            let mut columns = vec![
                ToSqlOutput::from(id),
                p.plugin.as_str().into(),
                to_i64("order id", p.order_id.0).map_err(sql)?.into(),
                nullable(p.signal_id.as_ref().map(|s| s.as_str())),
            ];
            columns.extend(position_columns(p));
            columns.extend([
                trade.exit_price.to_string().into(),
                time_text(trade.closed_at).into(),
                trade.pnl.to_string().into(),
                trade.pips.normalize().to_string().into(),
                trade.reason.as_str().into(),
            ]);
            db.stmt(Sql::InsertTrade).and_then(|stmt| stmt.execute(params_from_iter(columns))).map_err(|e| match e
                .sqlite_error_code()
            {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    format!("position {} is already closed: {e}", p.id)
                }
                _ => e.to_string(),
            })?;
        }
        StoreOp::PluginTradeOpened(_) | StoreOp::DayClosed { .. } => {}
        StoreOp::Event(event) => {
            // Straight into a string: `Value`'s `Display` goes through a formatter adapter.
            let data = serde_json::to_string(&event.data).map_err(|e| e.to_string())?;
            db.stmt(Sql::InsertEvent)
                .and_then(|stmt| {
                    stmt.execute(params![
                        time_text(event.at),
                        event.kind.as_str(),
                        event.plugin.as_ref().map(PluginId::as_str),
                        event.message,
                        data,
                    ])
                })
                .map_err(sql)?;
        }
        StoreOp::PluginEnabled { plugin, enabled, at } => {
            db.stmt(Sql::UpsertPluginState)
                .and_then(|stmt| stmt.execute(params![plugin.as_str(), enabled, time_text(*at)]))
                .map_err(sql)?;
        }
        StoreOp::Trend { symbol, timeframe, trend, at } => {
            db.stmt(Sql::UpsertTrend)
                .and_then(|stmt| {
                    stmt.execute(params![symbol.as_str(), timeframe.to_string(), trend.to_string(), time_text(*at)])
                })
                .map_err(sql)?;
        }
        StoreOp::Price { symbol, price, at } => {
            db.stmt(Sql::UpsertPrice)
                .and_then(|stmt| stmt.execute(params![symbol.as_str(), price.to_string(), time_text(*at)]))
                .map_err(sql)?;
        }
        StoreOp::Chain(record) => {
            let (kind, id) = record.key();
            let plugin = record.plugin().as_str();
            let data = serde_json::to_string(record).map_err(|e| e.to_string())?;
            db.stmt(Sql::UpsertChain)
                .and_then(|stmt| stmt.execute(params![kind, to_i64("chain id", id)?, plugin, record.is_live(), data]))
                .map_err(sql)?;
        }
        StoreOp::Safety(counters) => {
            let data = serde_json::to_string(counters).map_err(|e| e.to_string())?;
            db.stmt(Sql::UpsertSafety).and_then(|stmt| stmt.execute([data])).map_err(sql)?;
        }
        StoreOp::SymbolLock { symbol, lock: Some(lock) } => {
            db.stmt(Sql::UpsertLock)
                .and_then(|stmt| stmt.execute(params![symbol.as_str(), time_text(lock.until), lock.reason]))
                .map_err(sql)?;
        }
        StoreOp::SymbolLock { symbol, lock: None } => {
            db.stmt(Sql::DeleteLock).and_then(|stmt| stmt.execute([symbol.as_str()])).map_err(sql)?;
        }
        StoreOp::PluginMode { plugin, mode, at } => {
            let mode = serde_json::to_value(mode).map_err(|e| e.to_string())?;
            db.stmt(Sql::UpsertMode)
                .and_then(|stmt| {
                    stmt.execute(params![plugin.as_str(), mode.as_str().unwrap_or_default(), time_text(*at)])
                })
                .map_err(sql)?;
        }
        StoreOp::ShadowPosition(p) => {
            let data = serde_json::to_string(p).map_err(|e| e.to_string())?;
            db.stmt(Sql::UpsertShadowPosition)
                .and_then(|stmt| {
                    stmt.execute(params![
                        p.plugin.as_str(),
                        to_i64("position id", p.id.0)?,
                        to_i64("order id", p.order_id.0)?,
                        data
                    ])
                })
                .map_err(sql)?;
        }
        StoreOp::ShadowClosed(trade) => {
            let p = &trade.position;
            let data = serde_json::to_string(trade).map_err(|e| e.to_string())?;
            let id = to_i64("position id", p.id.0).map_err(sql)?;
            db.stmt(Sql::DeleteShadowPosition)
                .and_then(|stmt| stmt.execute(params![p.plugin.as_str(), id]))
                .map_err(sql)?;
            db.stmt(Sql::InsertShadowTrade)
                .and_then(|stmt| {
                    stmt.execute(params![
                        p.plugin.as_str(),
                        id,
                        to_i64("order id", p.order_id.0)?,
                        time_text(trade.closed_at),
                        trade.pnl.to_string(),
                        data
                    ])
                })
                .map_err(sql)?;
        }
        StoreOp::ShadowDecision { signal_id, at, outcome } => {
            let plugin = outcome.plugin.as_ref().map(PluginId::as_str).unwrap_or_default();
            let data = serde_json::to_string(outcome).map_err(|e| e.to_string())?;
            db.stmt(Sql::InsertShadowDecision)
                .and_then(|stmt| {
                    stmt.execute(params![signal_id.as_str(), plugin, time_text(*at), outcome.status.as_str(), data])
                })
                .map_err(sql)?;
        }
        StoreOp::TradingState(state) => {
            db.stmt(Sql::UpsertTradingState).and_then(|stmt| stmt.execute([state.as_str()])).map_err(sql)?;
        }
    }
    Ok(())
}

fn upsert_position(db: &mut Db<'_>, p: &Position) -> rusqlite::Result<()> {
    let mut columns = vec![
        ToSqlOutput::from(to_i64("position id", p.id.0)?),
        p.plugin.as_str().into(),
        to_i64("order id", p.order_id.0)?.into(),
        nullable(p.signal_id.as_ref().map(|s| s.as_str())),
    ];
    columns.extend(position_columns(p));
    db.stmt(Sql::UpsertPosition)?.execute(params_from_iter(columns))?;
    Ok(())
}

pub(crate) const fn order_status(status: zepix_model::OrderStatus) -> &'static str {
    match status {
        zepix_model::OrderStatus::Filled => "filled",
        zepix_model::OrderStatus::Rejected => "rejected",
    }
}

fn signal_seq(op: &StoreOp) -> Option<u64> {
    match op {
        StoreOp::Signal { seq, .. } => Some(*seq),
        _ => None,
    }
}

/// An op, named for a log line.
fn describe(op: &StoreOp) -> String {
    match op {
        StoreOp::Signal { seq, signal, .. } => format!("signal `{}` (seq {seq})", signal.id),
        StoreOp::Order(order) => format!("order {}", order.id),
        StoreOp::Fill(fill) => format!("fill of order {}", fill.order_id),
        StoreOp::Position(p) => format!("position {}", p.id),
        StoreOp::Closed(t) => format!("close of position {}", t.position.id),
        StoreOp::PluginTradeOpened(p) => format!("plugin trade {}", p.id),
        StoreOp::Event(e) => format!("event `{}`", e.message),
        StoreOp::PluginEnabled { plugin, .. } => format!("plugin state of {plugin}"),
        StoreOp::Trend { symbol, timeframe, .. } => format!("trend of {symbol} {timeframe}"),
        StoreOp::Price { symbol, .. } => format!("price of {symbol}"),
        StoreOp::TradingState(s) => format!("trading state {s}"),
        StoreOp::PluginMode { plugin, .. } => format!("mode of {plugin}"),
        StoreOp::SymbolLock { symbol, .. } => format!("lock of {symbol}"),
        StoreOp::Chain(record) => format!("{} chain {}", record.key().0, record.key().1),
        StoreOp::Safety(_) => "safety counters".to_owned(),
        StoreOp::DayClosed { plugin, date } => format!("day {date} of {plugin}"),
        StoreOp::ShadowPosition(p) => format!("shadow position {} of {}", p.id, p.plugin),
        StoreOp::ShadowClosed(t) => format!("close of shadow position {} of {}", t.position.id, t.position.plugin),
        StoreOp::ShadowDecision { signal_id, .. } => format!("shadow decision on `{signal_id}`"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Backlog, MAX_QUEUED_OPS};

    fn queued(backlog: &Backlog) -> usize {
        *backlog.queued.lock().unwrap()
    }

    #[test]
    fn a_full_backlog_lets_a_submitter_in_once_the_writer_takes_ops() {
        let backlog = Arc::new(Backlog::default());
        assert!(backlog.enter(MAX_QUEUED_OPS, || false));
        let waiting = {
            let backlog = Arc::clone(&backlog);
            std::thread::spawn(move || backlog.enter(10, || false))
        };
        backlog.leave(MAX_QUEUED_OPS);
        assert!(waiting.join().unwrap(), "the submitter got in");
        assert_eq!(queued(&backlog), 10);
    }

    #[test]
    fn a_full_backlog_of_a_stopped_writer_refuses_instead_of_waiting_forever() {
        let backlog = Backlog::default();
        assert!(backlog.enter(MAX_QUEUED_OPS, || false));
        assert!(!backlog.enter(1, || true));
        assert_eq!(queued(&backlog), MAX_QUEUED_OPS, "nothing was counted in");
    }
}
