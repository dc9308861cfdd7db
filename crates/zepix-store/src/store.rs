//! [`SqliteStore`]: the engine's [`Store`] on `data_dir/zepix.db`. Writes go through one writer
//! thread in batches; reads use their own connection.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row};
use zepix_engine::ports::{BookState, DecisionRow, ShadowRows};
use zepix_engine::risk::SymbolLock;
use zepix_engine::{Outcome, PluginDb, SignalRecord, Store, StoreError, StoreOp, StoreSnapshot, TradingState};
use zepix_model::{
    Event, Money, Order, OrderRequest, PluginId, Position, PositionId, Signal, SignalId, Symbol, Timeframe, Trade,
};

use crate::codec::{
    db_err, opt_text, parse_json, parse_named, parse_opt, parse_text, parse_time, text, time_text, uint,
};
use crate::plugin_db::SqlitePluginDb;
use crate::schema::{self, ENGINE_MIGRATIONS};
use crate::writer::{Backlog, Db, Msg, Writer};

/// The SQLite store: `zepix.db` (WAL, `synchronous=FULL`) and the plugins' `plugin.db` files.
#[derive(Debug)]
pub struct SqliteStore {
    data_dir: PathBuf,
    tx: Option<Sender<Msg>>,
    writer: Option<JoinHandle<()>>,
    committed_seq: Arc<AtomicU64>,
    /// Ops queued for the writer; `submit` waits while it is full.
    backlog: Arc<Backlog>,
    reader: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) `data_dir/zepix.db`, migrates it and starts the writer thread.
    ///
    /// # Errors
    /// The folder or the database cannot be created, opened or migrated, or the thread cannot start.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join("zepix.db");
        // Commits survive a crash of the process; the writer syncs them with periodic checkpoints
        // and only then lets the inbox forget the signals they record.
        let write_conn = schema::open(&path, schema::Sync::Normal, ENGINE_MIGRATIONS).map_err(db_err)?;
        let reader = schema::open(&path, schema::Sync::Full, ENGINE_MIGRATIONS).map_err(db_err)?;
        let max_seq: Option<i64> =
            reader.query_row("SELECT MAX(seq) FROM signals", [], |r| r.get(0)).map_err(db_err)?;
        let committed_seq = Arc::new(AtomicU64::new(max_seq.map_or(Ok(0), |s| crate::codec::to_u64("seq", s))?));
        let (tx, rx) = mpsc::channel();
        let (copier, copier_thread) = crate::copier::spawn(data_dir.to_path_buf())
            .map_err(|e| StoreError::Db(format!("cannot start the plugin copier: {e}")))?;
        let backlog = Arc::new(Backlog::default());
        let writer = Writer::new(copier, Arc::clone(&backlog), Arc::clone(&committed_seq));
        let handle = std::thread::Builder::new()
            .name("zepix-store-writer".into())
            .spawn(move || {
                lower_priority();
                // Ends with the copier's sender gone: the copier finishes its queue and stops.
                writer.run(&mut Db::new(&write_conn), &rx);
                if copier_thread.join().is_err() {
                    tracing::error!("the plugin copier panicked");
                }
            })
            .map_err(|e| StoreError::Db(format!("cannot start the store writer: {e}")))?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            tx: Some(tx),
            writer: Some(handle),
            committed_seq,
            backlog,
            reader: Mutex::new(reader),
        })
    }

    /// The data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        f(&conn)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer drain what is queued and stop.
        drop(self.tx.take());
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!("the store writer panicked");
        }
    }
}

const SIGNAL_COLUMNS: &str = "seq, source, received_at, processed_at, signal, outcome";
const POSITION_COLUMNS: &str = "id, plugin, order_id, signal_id, symbol, side, lots, entry_price, sl, tp, opened_at";

fn shadow_position(row: &Row<'_>) -> Result<Position, StoreError> {
    parse_json("data", &text(row, "data")?)
}

fn signal_record(row: &Row<'_>) -> Result<SignalRecord, StoreError> {
    Ok(SignalRecord {
        seq: uint(row, "seq")?,
        signal: parse_json::<Signal>("signal", &text(row, "signal")?)?,
        source: text(row, "source")?,
        received_at: parse_time("received_at", &text(row, "received_at")?)?,
        processed_at: parse_time("processed_at", &text(row, "processed_at")?)?,
        outcome: parse_json::<Outcome>("outcome", &text(row, "outcome")?)?,
    })
}

fn position(row: &Row<'_>) -> Result<Position, StoreError> {
    Ok(Position {
        id: PositionId(uint(row, "id")?),
        plugin: parse_text("plugin", &text(row, "plugin")?)?,
        order_id: zepix_model::OrderId(uint(row, "order_id")?),
        signal_id: parse_opt("signal_id", opt_text(row, "signal_id")?)?,
        symbol: parse_text("symbol", &text(row, "symbol")?)?,
        side: parse_text("side", &text(row, "side")?)?,
        lots: parse_text("lots", &text(row, "lots")?)?,
        entry_price: parse_text("entry_price", &text(row, "entry_price")?)?,
        sl: parse_opt("sl", opt_text(row, "sl")?)?,
        tp: parse_opt("tp", opt_text(row, "tp")?)?,
        opened_at: parse_time("opened_at", &text(row, "opened_at")?)?,
    })
}

fn trade(row: &Row<'_>) -> Result<Trade, StoreError> {
    Ok(Trade {
        position: position(row)?,
        exit_price: parse_text("exit_price", &text(row, "exit_price")?)?,
        closed_at: parse_time("closed_at", &text(row, "closed_at")?)?,
        pnl: parse_text("pnl", &text(row, "pnl")?)?,
        pips: parse_text("pips", &text(row, "pips")?)?,
        reason: parse_named("reason", &text(row, "reason")?)?,
    })
}

fn order(row: &Row<'_>) -> Result<Order, StoreError> {
    Ok(Order {
        id: zepix_model::OrderId(uint(row, "id")?),
        plugin: parse_text("plugin", &text(row, "plugin")?)?,
        signal_id: parse_opt("signal_id", opt_text(row, "signal_id")?)?,
        request: OrderRequest {
            symbol: parse_text("symbol", &text(row, "symbol")?)?,
            side: parse_text("side", &text(row, "side")?)?,
            lots: parse_text("lots", &text(row, "lots")?)?,
            sl: parse_opt("sl", opt_text(row, "sl")?)?,
            tp: parse_opt("tp", opt_text(row, "tp")?)?,
            price: parse_opt("price", opt_text(row, "price")?)?,
            comment: text(row, "comment")?,
        },
        status: parse_named("status", &text(row, "status")?)?,
        reason: opt_text(row, "reason")?,
        created_at: parse_time("created_at", &text(row, "created_at")?)?,
    })
}

fn event(row: &Row<'_>) -> Result<Event, StoreError> {
    Ok(Event {
        at: parse_time("at", &text(row, "at")?)?,
        kind: parse_named("kind", &text(row, "kind")?)?,
        plugin: parse_opt("plugin", opt_text(row, "plugin")?)?,
        message: text(row, "message")?,
        data: parse_json("data", &text(row, "data")?)?,
    })
}

/// Runs a query and converts each row.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push(f(row)?);
    }
    Ok(out)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn max_id(conn: &Connection, sql: &str) -> Result<u64, StoreError> {
    let max: Option<i64> = conn.query_row(sql, [], |r| r.get(0)).map_err(db_err)?;
    max.map_or(Ok(0), |m| crate::codec::to_u64("id", m))
}

impl Store for SqliteStore {
    fn submit(&self, ops: Vec<StoreOp>) {
        if ops.is_empty() {
            return;
        }
        let stopped = || self.writer.as_ref().is_none_or(JoinHandle::is_finished);
        let sent =
            self.backlog.enter(ops.len(), stopped) && self.tx.as_ref().is_some_and(|tx| tx.send(Msg::Ops(ops)).is_ok());
        if !sent {
            tracing::error!("store writer has stopped: ops dropped");
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let tx = self.tx.as_ref().ok_or(StoreError::Closed)?;
        tx.send(Msg::Flush(reply)).map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Acquire)
    }

    fn snapshot(&self, day_start: DateTime<Utc>) -> Result<StoreSnapshot, StoreError> {
        self.read(|conn| {
            // One read transaction: every table as of the same commit.
            let tx = conn.unchecked_transaction().map_err(db_err)?;
            let conn: &Connection = &tx;
            let positions =
                collect(conn, &format!("SELECT {POSITION_COLUMNS} FROM positions ORDER BY id"), [], position)?;
            let mut realized = Money::ZERO;
            let mut realized_today = Money::ZERO;
            let today = time_text(day_start);
            collect(conn, "SELECT pnl, closed_at FROM trades", [], |row| {
                let pnl: Money = parse_text("pnl", &text(row, "pnl")?)?;
                realized += pnl;
                if text(row, "closed_at")? >= today {
                    realized_today += pnl;
                }
                Ok(())
            })?;
            let max_order_id = max_id(
                conn,
                "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM orders UNION ALL SELECT MAX(order_id) FROM positions
                 UNION ALL SELECT MAX(order_id) FROM trades UNION ALL SELECT MAX(order_id) FROM fills
                 UNION ALL SELECT MAX(order_id) FROM shadow_positions UNION ALL SELECT MAX(order_id) FROM shadow_trades)",
            )?;
            let max_position_id = max_id(
                conn,
                "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM positions UNION ALL SELECT MAX(id) FROM trades
                 UNION ALL SELECT MAX(position_id) FROM fills)",
            )?;
            let max_seq = max_id(conn, "SELECT MAX(seq) FROM signals")?;
            let processed: HashSet<SignalId> =
                collect(conn, "SELECT id FROM signals", [], |row| parse_text("id", &text(row, "id")?))?
                    .into_iter()
                    .collect();
            let plugin_enabled: BTreeMap<PluginId, bool> =
                collect(conn, "SELECT plugin, enabled FROM plugin_state", [], |row| {
                    Ok((parse_text("plugin", &text(row, "plugin")?)?, row.get::<_, bool>("enabled").map_err(db_err)?))
                })?
                .into_iter()
                .collect();
            let trading_state =
                collect(conn, "SELECT value FROM engine_state WHERE key = 'trading_state'", [], |row| {
                    parse_text::<TradingState>("trading_state", &text(row, "value")?)
                })?
                .pop();
            let prices: BTreeMap<Symbol, _> = collect(conn, "SELECT symbol, price FROM prices", [], |row| {
                Ok((parse_text("symbol", &text(row, "symbol")?)?, parse_text("price", &text(row, "price")?)?))
            })?
            .into_iter()
            .collect();
            let trends =
                collect(conn, "SELECT symbol, timeframe, trend FROM trends ORDER BY symbol, timeframe", [], |row| {
                    Ok((
                        parse_text::<Symbol>("symbol", &text(row, "symbol")?)?,
                        parse_text::<Timeframe>("timeframe", &text(row, "timeframe")?)?,
                        parse_named("trend", &text(row, "trend")?)?,
                    ))
                })?;
            let plugin_modes = collect(conn, "SELECT plugin, mode FROM plugin_modes", [], |row| {
                Ok((parse_text("plugin", &text(row, "plugin")?)?, parse_named("mode", &text(row, "mode")?)?))
            })?
            .into_iter()
            .collect();
            let mut shadow_books: BTreeMap<PluginId, BookState> = BTreeMap::new();
            for p in collect(conn, "SELECT data FROM shadow_positions ORDER BY plugin, id", [], shadow_position)? {
                let book = shadow_books.entry(p.plugin.clone()).or_default();
                book.max_position_id = book.max_position_id.max(p.id.0);
                book.positions.push(p);
            }
            collect(conn, "SELECT plugin, MAX(id) AS id FROM shadow_trades GROUP BY plugin", [], |row| {
                let book = shadow_books.entry(parse_text("plugin", &text(row, "plugin")?)?).or_default();
                book.max_position_id = book.max_position_id.max(uint(row, "id")?);
                Ok(())
            })?;
            collect(conn, "SELECT plugin, pnl FROM shadow_trades", [], |row| {
                let book = shadow_books.entry(parse_text("plugin", &text(row, "plugin")?)?).or_default();
                book.realized += parse_text::<Money>("pnl", &text(row, "pnl")?)?;
                Ok(())
            })?;
            let symbol_locks = collect(conn, "SELECT symbol, until, reason FROM symbol_locks ORDER BY symbol", [], |row| {
                Ok(SymbolLock {
                    symbol: parse_text("symbol", &text(row, "symbol")?)?,
                    until: parse_time("until", &text(row, "until")?)?,
                    reason: text(row, "reason")?,
                })
            })?;
            let chains = collect(conn, "SELECT data FROM chains WHERE live = 1 ORDER BY kind, id", [], |row| {
                parse_json("data", &text(row, "data")?)
            })?;
            let max_chain_id = max_id(conn, "SELECT MAX(id) FROM chains")?;
            let safety = collect(conn, "SELECT value FROM engine_state WHERE key = 'safety'", [], |row| {
                parse_json("safety", &text(row, "value")?)
            })?
            .pop();
            tx.finish().map_err(db_err)?;
            Ok(StoreSnapshot {
                safety,
                chains,
                max_chain_id,
                symbol_locks,
                plugin_modes,
                shadow_books,
                positions,
                realized,
                realized_today,
                max_order_id,
                max_position_id,
                max_seq,
                processed,
                plugin_enabled,
                trading_state,
                prices,
                trends,
            })
        })
    }

    fn signal(&self, id: &SignalId) -> Result<Option<SignalRecord>, StoreError> {
        self.read(|conn| {
            let sql = format!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE id = ?1");
            Ok(collect(conn, &sql, [id.as_str()], signal_record)?.pop())
        })
    }

    fn recent_signals(&self, n: usize) -> Result<Vec<SignalRecord>, StoreError> {
        self.read(|conn| {
            let sql = format!("SELECT {SIGNAL_COLUMNS} FROM signals ORDER BY seq DESC LIMIT ?1");
            collect(conn, &sql, [limit(n)], signal_record)
        })
    }

    fn orders(&self, n: usize) -> Result<Vec<Order>, StoreError> {
        self.read(|conn| collect(conn, "SELECT * FROM orders ORDER BY id DESC LIMIT ?1", [limit(n)], order))
    }

    fn trades(&self, n: usize) -> Result<Vec<Trade>, StoreError> {
        self.read(|conn| {
            collect(conn, "SELECT * FROM trades ORDER BY closed_at DESC, id DESC LIMIT ?1", [limit(n)], trade)
        })
    }

    fn events(&self, n: usize) -> Result<Vec<Event>, StoreError> {
        self.read(|conn| collect(conn, "SELECT * FROM events ORDER BY id DESC LIMIT ?1", [limit(n)], event))
    }

    fn shadow_rows(&self) -> Result<ShadowRows, StoreError> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction().map_err(db_err)?;
            let conn: &Connection = &tx;
            let decision = |row: &Row<'_>| {
                Ok(DecisionRow {
                    signal_id: parse_text("signal_id", &text(row, "signal_id")?)?,
                    at: parse_time("at", &text(row, "at")?)?,
                    outcome: parse_json("outcome", &text(row, "outcome")?)?,
                })
            };
            let rows = ShadowRows {
                live_trades: collect(conn, "SELECT * FROM trades ORDER BY closed_at, id", [], trade)?,
                live_open: collect(
                    conn,
                    &format!("SELECT {POSITION_COLUMNS} FROM positions ORDER BY id"),
                    [],
                    position,
                )?,
                shadow_trades: collect(conn, "SELECT data FROM shadow_trades ORDER BY closed_at, id", [], |row| {
                    parse_json("data", &text(row, "data")?)
                })?,
                shadow_open: collect(
                    conn,
                    "SELECT data FROM shadow_positions ORDER BY plugin, id",
                    [],
                    shadow_position,
                )?,
                shadow_decisions: collect(
                    conn,
                    "SELECT signal_id, at, outcome FROM shadow_decisions ORDER BY at, signal_id, plugin",
                    [],
                    decision,
                )?,
                live_decisions: collect(
                    conn,
                    "SELECT id AS signal_id, processed_at AS at, outcome FROM signals s
                     WHERE plugin IS NOT NULL AND id IN (SELECT signal_id FROM shadow_decisions)
                       AND NOT EXISTS (SELECT 1 FROM shadow_decisions d WHERE d.signal_id = s.id AND d.plugin = s.plugin)
                     ORDER BY seq",
                    [],
                    decision,
                )?,
            };
            tx.finish().map_err(db_err)?;
            Ok(rows)
        })
    }

    fn plugin_db(&self, plugin: &PluginId) -> Result<Box<dyn PluginDb>, StoreError> {
        Ok(Box::new(SqlitePluginDb::open(&self.data_dir, plugin)?))
    }
}

/// Records are not on the path of an acknowledgement (the inbox is) nor of a trade (the kernel
/// is), so the writer yields the CPU to both: a nice value of 10 for this thread only (Linux
/// applies `setpriority` per thread). Failing to lower it changes nothing else.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!("store writer keeps its priority: {e}");
    }
}
