//! Each plugin's own database, `plugins/<id>/plugin.db`: the engine records the plugin's trades and
//! daily performance there, and the plugin runs its own SQL on it through [`SqlitePluginDb`].

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};
use zepix_engine::{PluginDb, StoreError};
use zepix_model::{PluginId, Position, Trade};

use crate::codec::{db_err, position_columns, time_text, to_i64};
use crate::schema::{self, PLUGIN_MIGRATIONS};

/// Where a plugin's database lives under the data directory.
#[must_use]
pub fn plugin_db_path(data_dir: &Path, plugin: &PluginId) -> PathBuf {
    data_dir.join("plugins").join(plugin.as_str()).join("plugin.db")
}

/// Opens (creating the folder and the file if needed) and migrates a plugin's database.
pub(crate) fn open_plugin_conn(data_dir: &Path, plugin: &PluginId) -> Result<Connection, StoreError> {
    let path = plugin_db_path(data_dir, plugin);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", parent.display())))?;
    }
    schema::open(&path, schema::Sync::Normal, PLUGIN_MIGRATIONS).map_err(db_err)
}

/// Records an open position as an OPEN trade row (upsert by position id).
pub(crate) fn record_open(conn: &Connection, position: &Position) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO trades (id, order_id, symbol, direction, lot_size, entry_price, sl_price, tp_price, entry_time,
                             status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'OPEN')
         ON CONFLICT(id) DO UPDATE SET
             order_id = excluded.order_id, symbol = excluded.symbol, direction = excluded.direction,
             lot_size = excluded.lot_size, entry_price = excluded.entry_price, sl_price = excluded.sl_price,
             tp_price = excluded.tp_price, entry_time = excluded.entry_time",
    )?
    .execute(params_from_iter(
        [to_i64("position id", position.id.0)?.into(), to_i64("order id", position.order_id.0)?.into()]
            .into_iter()
            .chain(position_columns(position)),
    ))?;
    Ok(())
}

/// Records a closed trade as a CLOSED row (upsert by position id). Returns the UTC date whose
/// performance row it changes.
pub(crate) fn record_close(conn: &Connection, trade: &Trade) -> rusqlite::Result<NaiveDate> {
    let p = &trade.position;
    conn.prepare_cached(
        "INSERT INTO trades (id, order_id, symbol, direction, lot_size, entry_price, sl_price, tp_price, entry_time,
                             exit_time, profit_pips, profit_dollars, status, close_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'CLOSED', ?13)
         ON CONFLICT(id) DO UPDATE SET
             order_id = excluded.order_id, symbol = excluded.symbol, direction = excluded.direction,
             lot_size = excluded.lot_size, entry_price = excluded.entry_price, sl_price = excluded.sl_price,
             tp_price = excluded.tp_price, entry_time = excluded.entry_time, exit_time = excluded.exit_time,
             profit_pips = excluded.profit_pips, profit_dollars = excluded.profit_dollars, status = 'CLOSED',
             close_reason = excluded.close_reason",
    )?
    .execute(params_from_iter(
        [to_i64("position id", p.id.0)?.into(), to_i64("order id", p.order_id.0)?.into()]
            .into_iter()
            .chain(position_columns(p))
            .chain([
                time_text(trade.closed_at).into(),
                trade.pips.normalize().to_string().into(),
                trade.pnl.to_string().into(),
                trade.reason.as_str().into(),
            ]),
    ))?;
    Ok(trade.closed_at.date_naive())
}

/// One day's results, as kept in `performance`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DayPerformance {
    /// Closed trades.
    pub total: u64,
    /// Trades with a profit.
    pub wins: u64,
    /// Trades with a loss.
    pub losses: u64,
    /// Sum of profits.
    pub profit: Decimal,
    /// Largest fall of the cumulative profit from its running peak (which starts at zero).
    pub max_drawdown: Decimal,
    /// The running peak of the cumulative profit, so later trades extend the day without
    /// re-reading it.
    pub peak: Decimal,
}

impl DayPerformance {
    /// Folds profits in closing order.
    #[cfg(test)]
    pub(crate) fn from_profits(profits: impl IntoIterator<Item = Decimal>) -> Self {
        let mut day = Self::default();
        for profit in profits {
            day.add(profit);
        }
        day
    }

    /// Adds the next closed trade's profit.
    pub(crate) fn add(&mut self, profit: Decimal) {
        self.total += 1;
        if profit > Decimal::ZERO {
            self.wins += 1;
        } else if profit < Decimal::ZERO {
            self.losses += 1;
        }
        self.profit += profit;
        self.peak = self.peak.max(self.profit);
        self.max_drawdown = self.max_drawdown.max(self.peak - self.profit);
    }
}

/// Extends one date's `performance` row with the profits of trades closed since, in closing
/// order: one point read and one write, however many trades the day already has.
pub(crate) fn add_to_performance(conn: &Connection, date: NaiveDate, profits: &[Decimal]) -> rusqlite::Result<()> {
    let key = date.format("%Y-%m-%d").to_string();
    let decimal = |text: String| {
        text.parse::<Decimal>().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("{text}: {e}").into())
        })
    };
    let stored = conn
        .prepare_cached(
            "SELECT total_trades, win_count, loss_count, total_profit, max_drawdown, peak_profit
             FROM performance WHERE date = ?1",
        )?
        .query_row(params![key], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .optional()?;
    let mut day = match stored {
        Some((total, wins, losses, profit, drawdown, peak)) => DayPerformance {
            total: u64::try_from(total).unwrap_or_default(),
            wins: u64::try_from(wins).unwrap_or_default(),
            losses: u64::try_from(losses).unwrap_or_default(),
            profit: decimal(profit)?,
            max_drawdown: decimal(drawdown)?,
            peak: decimal(peak)?,
        },
        None => DayPerformance::default(),
    };
    for profit in profits {
        day.add(*profit);
    }
    conn.prepare_cached(
        "INSERT INTO performance (date, total_trades, win_count, loss_count, total_profit, max_drawdown, peak_profit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(date) DO UPDATE SET
             total_trades = excluded.total_trades, win_count = excluded.win_count,
             loss_count = excluded.loss_count, total_profit = excluded.total_profit,
             max_drawdown = excluded.max_drawdown, peak_profit = excluded.peak_profit",
    )?
    .execute(params![
        key,
        to_i64("trade count", day.total)?,
        to_i64("win count", day.wins)?,
        to_i64("loss count", day.losses)?,
        day.profit.normalize().to_string(),
        day.max_drawdown.normalize().to_string(),
        day.peak.normalize().to_string(),
    ])?;
    Ok(())
}

/// A plugin's handle on its own database: its own connection, WAL, `synchronous=NORMAL`.
#[derive(Debug)]
pub struct SqlitePluginDb {
    conn: Connection,
}

impl SqlitePluginDb {
    /// Opens (creating if needed) `plugins/<id>/plugin.db` under `data_dir`.
    ///
    /// # Errors
    /// The folder or the file cannot be created, opened or migrated.
    pub fn open(data_dir: &Path, plugin: &PluginId) -> Result<Self, StoreError> {
        Ok(Self { conn: open_plugin_conn(data_dir, plugin)? })
    }
}

/// A JSON parameter as a SQLite value: arrays and objects are bound as their JSON text.
fn bind_value(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            // Above i64::MAX or fractional: SQLite can only hold it as a real.
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => SqlValue::Text(value.to_string()),
    }
}

/// A column value as JSON: blobs become arrays of bytes; a non-finite real becomes null.
fn column_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Array(b.iter().map(|byte| Value::from(*byte)).collect()),
    }
}

impl PluginDb for SqlitePluginDb {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        stmt.execute(rusqlite::params_from_iter(params.iter().map(bind_value))).map_err(db_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Map<String, Value>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(bind_value))).map_err(db_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_err)? {
            let mut object = Map::new();
            for (i, name) in names.iter().enumerate() {
                object.insert(name.clone(), column_value(row.get_ref(i).map_err(db_err)?));
            }
            out.push(object);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn drawdown_is_the_largest_fall_from_a_running_peak() {
        let day = DayPerformance::from_profits([d("10"), d("-4"), d("3"), d("-12"), d("5"), d("0")]);
        assert_eq!((day.total, day.wins, day.losses), (6, 3, 2));
        assert_eq!(day.profit, d("2"));
        // Cumulative: 10, 6, 9, -3, 2, 2; the peak 10 falls to -3.
        assert_eq!(day.max_drawdown, d("13"));
        let losing_start = DayPerformance::from_profits([d("-5"), d("2")]);
        assert_eq!(losing_start.max_drawdown, d("5"), "the peak starts at zero");
        assert_eq!(DayPerformance::from_profits([d("1"), d("2")]).max_drawdown, Decimal::ZERO);
    }

    #[test]
    fn json_params_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = SqlitePluginDb::open(dir.path(), &PluginId::new("p").unwrap()).unwrap();
        db.execute("CREATE TABLE t (a, b, c, d, e)", &[]).unwrap();
        let params = [Value::from(7), Value::from(1.5), Value::Bool(true), Value::Null, serde_json::json!({"k": [1]})];
        assert_eq!(db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", &params).unwrap(), 1);
        let rows = db.query("SELECT a, b, c, d, e, x'0102' AS f FROM t WHERE a = ?1", &[Value::from(7)]).unwrap();
        assert_eq!(
            Value::Object(rows[0].clone()),
            serde_json::json!({"a": 7, "b": 1.5, "c": 1, "d": null, "e": "{\"k\":[1]}", "f": [1, 2]})
        );
        let err = db.query("SELECT nope FROM t", &[]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
