//! The store's single writer thread: takes queued ops in batches and commits each batch in one
//! transaction on `zepix.db` (and one on each plugin database it touches).
//!
//! When a batch fails, it is rolled back and applied again op by op, each in a savepoint, so one
//! bad op (a bug upstream, such as a repeated signal id) costs only itself: it is logged and
//! reported by the next `flush`, and every other op of the batch is kept, in order. The plugins'
//! copies of trades are written after the engine db commits, in the same cycle.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rusqlite::{Connection, params};
use rust_decimal::Decimal;
use zepix_engine::{StoreError, StoreOp};
use zepix_model::{PluginId, Position, Trade};

use crate::codec::{time_text, to_i64};
use crate::plugin_db;

/// Ops one transaction takes at most; more wait for the next.
pub(crate) const MAX_BATCH_OPS: usize = 4096;

/// How often committed work is made durable (a WAL checkpoint, which syncs the log). Commits in
/// between survive a crash of the process; the inbox keeps every signal until it is durable here,
/// so a power loss replays the rest.
const SYNC_EVERY: Duration = Duration::from_millis(200);

/// How long a batch may gather ops before it is committed.
const GATHER: Duration = Duration::from_millis(25);

/// What the writer is sent.
pub(crate) enum Msg {
    /// Ops to commit, in order.
    Ops(Vec<StoreOp>),
    /// Answer once everything sent before is committed, with any error since the last answer.
    Flush(SyncSender<Result<(), StoreError>>),
}

/// The writer's state, owned by its thread.
pub(crate) struct Writer {
    conn: Connection,
    data_dir: PathBuf,
    plugins: HashMap<PluginId, Connection>,
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

/// A row the engine copies into a plugin's db once the engine db has committed it.
enum PluginCopy<'a> {
    Opened(&'a Position),
    Closed(&'a Trade),
    DayClosed(&'a PluginId, NaiveDate),
}

impl PluginCopy<'_> {
    fn plugin(&self) -> &PluginId {
        match self {
            Self::Opened(position) => &position.plugin,
            Self::Closed(trade) => &trade.position.plugin,
            Self::DayClosed(plugin, _) => plugin,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Opened(position) => format!("open trade {}", position.id),
            Self::Closed(trade) => format!("closed trade {}", trade.position.id),
            Self::DayClosed(_, date) => format!("performance of {date}"),
        }
    }
}

impl Writer {
    pub(crate) fn new(conn: Connection, data_dir: PathBuf, committed_seq: Arc<AtomicU64>) -> Self {
        let synced = committed_seq.load(Ordering::Acquire);
        Self {
            conn,
            data_dir,
            plugins: HashMap::new(),
            committed_seq,
            unsynced_seq: synced,
            last_sync: Instant::now(),
            error: None,
        }
    }

    /// Runs until every sender is gone and the queue is drained.
    pub(crate) fn run(mut self, rx: &Receiver<Msg>) {
        let mut ops = Vec::new();
        let mut flushes = Vec::new();
        loop {
            let first = match rx.recv_timeout(SYNC_EVERY) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    self.sync();
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
                self.commit(&ops);
                ops.clear();
            }
            if !flushes.is_empty() || self.last_sync.elapsed() >= SYNC_EVERY {
                self.sync();
            }
            if !flushes.is_empty() {
                for reply in flushes.drain(..) {
                    let answer = self.error.as_ref().map_or(Ok(()), |e| Err(StoreError::Db(e.clone())));
                    // A flusher that stopped waiting does not need the answer.
                    let _ = reply.send(answer);
                }
                // Reported to every flusher that was waiting; the next flush starts clean.
                self.error = None;
            }
        }
    }

    fn take(&mut self, msg: Msg, ops: &mut Vec<StoreOp>, flushes: &mut Vec<SyncSender<Result<(), StoreError>>>) {
        match msg {
            Msg::Ops(mut more) => ops.append(&mut more),
            Msg::Flush(reply) => flushes.push(reply),
        }
    }

    fn fail(&mut self, what: String) {
        tracing::error!(error = %what, "store writer");
        self.error.get_or_insert(what);
    }

    /// Commits a batch to the engine db: all at once, or, when that fails, op by op. Then copies
    /// the committed trades to the plugins' dbs.
    fn commit(&mut self, ops: &[StoreOp]) {
        let mut copies = Vec::new();
        let fast = self.begin().and_then(|()| {
            for op in ops {
                self.apply(op, &mut copies)?;
            }
            self.end()
        });
        match fast {
            Ok(()) => {
                self.advance_to(ops.iter().filter_map(signal_seq).max());
                self.copy_to_plugins(&copies);
            }
            Err(first) => {
                tracing::warn!(error = %first, ops = ops.len(), "store batch failed; applying its ops one by one");
                self.rollback();
                self.commit_one_by_one(ops);
            }
        }
    }

    fn commit_one_by_one(&mut self, ops: &[StoreOp]) {
        if let Err(e) = self.begin() {
            self.fail(format!("a batch of {} ops was not stored: cannot begin a transaction: {e}", ops.len()));
            return;
        }
        let mut copies = Vec::new();
        let mut max_seq = None;
        for op in ops {
            let mut op_copies = Vec::new();
            let result = self.exec("SAVEPOINT op").and_then(|()| self.apply(op, &mut op_copies));
            match result.and_then(|()| self.exec("RELEASE op")) {
                Ok(()) => {
                    copies.append(&mut op_copies);
                    max_seq = max_seq.max(signal_seq(op));
                }
                Err(e) => {
                    let _ = self.exec("ROLLBACK TO op");
                    let _ = self.exec("RELEASE op");
                    self.fail(format!("{} not stored: {e}", describe(op)));
                }
            }
        }
        match self.end() {
            Ok(()) => {
                self.advance_to(max_seq);
                self.copy_to_plugins(&copies);
            }
            Err(e) => {
                self.rollback();
                self.fail(format!("a batch of {} ops was not stored: {e}", ops.len()));
            }
        }
    }

    fn advance_to(&mut self, seq: Option<u64>) {
        if let Some(seq) = seq {
            self.unsynced_seq = self.unsynced_seq.max(seq);
        }
    }

    /// Makes every commit so far durable with a passive WAL checkpoint (it syncs the log first),
    /// then publishes the highest signal sequence number it covers.
    fn sync(&mut self) {
        self.last_sync = Instant::now();
        if self.unsynced_seq <= self.committed_seq.load(Ordering::Acquire) {
            return;
        }
        let done = self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
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

    /// Writes the committed batch's plugin rows, one transaction per plugin db, and recomputes the
    /// performance of each day a close touched. The engine db is the record of truth: a plugin db
    /// that fails (the plugin may have changed its own schema) is logged and reported by `flush`,
    /// never a reason to lose the engine's record.
    fn copy_to_plugins(&mut self, copies: &[PluginCopy<'_>]) {
        let mut plugins: Vec<&PluginId> = copies.iter().map(PluginCopy::plugin).collect();
        plugins.sort_unstable();
        plugins.dedup();
        for plugin in plugins {
            if let Err(e) = self.copy_to_plugin(plugin, copies) {
                self.fail(format!("plugin {plugin} database: {e}"));
            }
        }
    }

    fn copy_to_plugin(&mut self, plugin: &PluginId, copies: &[PluginCopy<'_>]) -> Result<(), String> {
        if !self.plugins.contains_key(plugin) {
            let conn = plugin_db::open_plugin_conn(&self.data_dir, plugin).map_err(|e| e.to_string())?;
            self.plugins.insert(plugin.clone(), conn);
        }
        let conn = self.plugins.get(plugin).ok_or("not open")?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
        let mut days: BTreeMap<NaiveDate, Vec<Decimal>> = BTreeMap::new();
        let mut errors = Vec::new();
        for copy in copies.iter().filter(|c| c.plugin() == plugin) {
            // A failed statement is undone on its own; the rest of the transaction stands.
            let done = match copy {
                PluginCopy::Opened(position) => plugin_db::record_open(conn, position),
                PluginCopy::Closed(trade) => plugin_db::record_close(conn, trade).map(|date| {
                    days.entry(date).or_default().push(trade.pnl.value());
                }),
                PluginCopy::DayClosed(_, date) => {
                    days.entry(*date).or_default();
                    Ok(())
                }
            };
            if let Err(e) = done {
                errors.push(format!("{}: {e}", copy.describe()));
            }
        }
        for (date, profits) in &days {
            if let Err(e) = plugin_db::add_to_performance(conn, *date, profits) {
                errors.push(format!("performance of {date}: {e}"));
            }
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            errors.push(format!("commit: {e}"));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    fn apply<'a>(&self, op: &'a StoreOp, copies: &mut Vec<PluginCopy<'a>>) -> OpResult {
        let sql = |e: rusqlite::Error| e.to_string();
        match op {
            StoreOp::Signal { seq, source, received_at, processed_at, signal, outcome } => {
                let signal_json = serde_json::to_string(signal.as_ref()).map_err(|e| e.to_string())?;
                let outcome_json = serde_json::to_string(outcome.as_ref()).map_err(|e| e.to_string())?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO signals (seq, id, source, received_at, processed_at, status, plugin, code, signal,
                                              outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .and_then(|mut stmt| {
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
                self.conn
                    .prepare_cached(
                        "INSERT INTO orders (id, plugin, signal_id, symbol, side, lots, sl, tp, price, comment, status,
                                             reason, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )
                    .and_then(|mut stmt| {
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
                self.conn
                    .prepare_cached(
                        "INSERT INTO fills (order_id, position_id, symbol, side, lots, price, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .and_then(|mut stmt| {
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
            StoreOp::Position(position) => upsert_position(&self.conn, position).map_err(sql)?,
            StoreOp::Closed(trade) => {
                let p = &trade.position;
                let id = to_i64("position id", p.id.0).map_err(sql)?;
                self.conn
                    .prepare_cached("DELETE FROM positions WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute([id]))
                    .map_err(sql)?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO trades (id, plugin, order_id, signal_id, symbol, side, lots, entry_price, sl, tp,
                                             opened_at, exit_price, closed_at, pnl, pips, reason)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            id,
                            p.plugin.as_str(),
                            to_i64("order id", p.order_id.0)?,
                            p.signal_id.as_ref().map(|s| s.as_str()),
                            p.symbol.as_str(),
                            p.side.as_str(),
                            p.lots.to_string(),
                            p.entry_price.to_string(),
                            p.sl.map(|v| v.to_string()),
                            p.tp.map(|v| v.to_string()),
                            time_text(p.opened_at),
                            trade.exit_price.to_string(),
                            time_text(trade.closed_at),
                            trade.pnl.to_string(),
                            trade.pips.normalize().to_string(),
                            trade.reason.as_str(),
                        ])
                    })
                    .map_err(|e| match e.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => {
                            format!("position {} is already closed: {e}", p.id)
                        }
                        _ => e.to_string(),
                    })?;
                copies.push(PluginCopy::Closed(trade));
            }
            StoreOp::PluginTradeOpened(position) => {
                copies.push(PluginCopy::Opened(position));
            }
            StoreOp::Event(event) => {
                self.conn
                    .prepare_cached("INSERT INTO events (at, kind, plugin, message, data) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            time_text(event.at),
                            event.kind.as_str(),
                            event.plugin.as_ref().map(PluginId::as_str),
                            event.message,
                            event.data.to_string(),
                        ])
                    })
                    .map_err(sql)?;
            }
            StoreOp::PluginEnabled { plugin, enabled, at } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO plugin_state (plugin, enabled, at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(plugin) DO UPDATE SET enabled = excluded.enabled, at = excluded.at",
                    )
                    .and_then(|mut stmt| stmt.execute(params![plugin.as_str(), enabled, time_text(*at)]))
                    .map_err(sql)?;
            }
            StoreOp::Trend { symbol, timeframe, trend, at } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO trends (symbol, timeframe, trend, at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(symbol, timeframe) DO UPDATE SET trend = excluded.trend, at = excluded.at",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![symbol.as_str(), timeframe.to_string(), trend.to_string(), time_text(*at)])
                    })
                    .map_err(sql)?;
            }
            StoreOp::Price { symbol, price, at } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO prices (symbol, price, at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(symbol) DO UPDATE SET price = excluded.price, at = excluded.at",
                    )
                    .and_then(|mut stmt| stmt.execute(params![symbol.as_str(), price.to_string(), time_text(*at)]))
                    .map_err(sql)?;
            }
            StoreOp::Chain(record) => {
                let (kind, id) = record.key();
                let plugin = record.plugin().as_str();
                let data = serde_json::to_string(record).map_err(|e| e.to_string())?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO chains (kind, id, plugin, live, data) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(kind, id) DO UPDATE SET live = excluded.live, data = excluded.data",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![kind, to_i64("chain id", id)?, plugin, record.is_live(), data])
                    })
                    .map_err(sql)?;
            }
            StoreOp::DayClosed { plugin, date } => copies.push(PluginCopy::DayClosed(plugin, *date)),
            StoreOp::Safety(counters) => {
                let data = serde_json::to_string(counters).map_err(|e| e.to_string())?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO engine_state (key, value) VALUES ('safety', ?1)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    )
                    .and_then(|mut stmt| stmt.execute([data]))
                    .map_err(sql)?;
            }
            StoreOp::SymbolLock { symbol, lock: Some(lock) } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO symbol_locks (symbol, until, reason) VALUES (?1, ?2, ?3)
                         ON CONFLICT(symbol) DO UPDATE SET until = excluded.until, reason = excluded.reason",
                    )
                    .and_then(|mut stmt| stmt.execute(params![symbol.as_str(), time_text(lock.until), lock.reason]))
                    .map_err(sql)?;
            }
            StoreOp::SymbolLock { symbol, lock: None } => {
                self.conn
                    .prepare_cached("DELETE FROM symbol_locks WHERE symbol = ?1")
                    .and_then(|mut stmt| stmt.execute([symbol.as_str()]))
                    .map_err(sql)?;
            }
            StoreOp::PluginMode { plugin, mode, at } => {
                let mode = serde_json::to_value(mode).map_err(|e| e.to_string())?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO plugin_modes (plugin, mode, at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(plugin) DO UPDATE SET mode = excluded.mode, at = excluded.at",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![plugin.as_str(), mode.as_str().unwrap_or_default(), time_text(*at)])
                    })
                    .map_err(sql)?;
            }
            StoreOp::ShadowPosition(p) => {
                let data = serde_json::to_string(p).map_err(|e| e.to_string())?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO shadow_positions (plugin, id, order_id, data) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(plugin, id) DO UPDATE SET order_id = excluded.order_id, data = excluded.data",
                    )
                    .and_then(|mut stmt| {
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
                self.conn
                    .prepare_cached("DELETE FROM shadow_positions WHERE plugin = ?1 AND id = ?2")
                    .and_then(|mut stmt| stmt.execute(params![p.plugin.as_str(), id]))
                    .map_err(sql)?;
                self.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO shadow_trades (plugin, id, order_id, closed_at, pnl, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .and_then(|mut stmt| {
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
                self.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO shadow_decisions (signal_id, plugin, at, status, outcome)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![signal_id.as_str(), plugin, time_text(*at), outcome.status.as_str(), data])
                    })
                    .map_err(sql)?;
            }
            StoreOp::TradingState(state) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO engine_state (key, value) VALUES ('trading_state', ?1)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    )
                    .and_then(|mut stmt| stmt.execute([state.as_str()]))
                    .map_err(sql)?;
            }
        }
        Ok(())
    }
}

fn upsert_position(conn: &Connection, p: &Position) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO positions (id, plugin, order_id, signal_id, symbol, side, lots, entry_price, sl, tp, opened_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(id) DO UPDATE SET
             plugin = excluded.plugin, order_id = excluded.order_id, signal_id = excluded.signal_id,
             symbol = excluded.symbol, side = excluded.side, lots = excluded.lots,
             entry_price = excluded.entry_price, sl = excluded.sl, tp = excluded.tp, opened_at = excluded.opened_at",
    )?
    .execute(params![
        to_i64("position id", p.id.0)?,
        p.plugin.as_str(),
        to_i64("order id", p.order_id.0)?,
        p.signal_id.as_ref().map(|s| s.as_str()),
        p.symbol.as_str(),
        p.side.as_str(),
        p.lots.to_string(),
        p.entry_price.to_string(),
        p.sl.map(|v| v.to_string()),
        p.tp.map(|v| v.to_string()),
        time_text(p.opened_at),
    ])?;
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
