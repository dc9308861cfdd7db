//! The schemas of the engine database and of each plugin's database, as ordered migration steps
//! keyed by `PRAGMA user_version`. A later change appends a step; a step never changes once
//! released.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// Migration steps of `zepix.db`; step `i` moves `user_version` from `i` to `i + 1`.
pub(crate) const ENGINE_MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE signals (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    status       TEXT NOT NULL,
    plugin       TEXT,
    code         TEXT,
    signal       TEXT NOT NULL,
    outcome      TEXT NOT NULL
);
CREATE TABLE orders (
    id         INTEGER PRIMARY KEY,
    plugin     TEXT NOT NULL,
    signal_id  TEXT,
    symbol     TEXT NOT NULL,
    side       TEXT NOT NULL,
    lots       TEXT NOT NULL,
    sl         TEXT,
    tp         TEXT,
    price      TEXT,
    comment    TEXT NOT NULL,
    status     TEXT NOT NULL,
    reason     TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE fills (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    position_id INTEGER NOT NULL,
    symbol      TEXT NOT NULL,
    side        TEXT NOT NULL,
    lots        TEXT NOT NULL,
    price       TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX fills_by_order ON fills(order_id);
CREATE TABLE positions (
    id          INTEGER PRIMARY KEY,
    plugin      TEXT NOT NULL,
    order_id    INTEGER NOT NULL,
    signal_id   TEXT,
    symbol      TEXT NOT NULL,
    side        TEXT NOT NULL,
    lots        TEXT NOT NULL,
    entry_price TEXT NOT NULL,
    sl          TEXT,
    tp          TEXT,
    opened_at   TEXT NOT NULL
);
CREATE TABLE trades (
    id          INTEGER PRIMARY KEY,
    plugin      TEXT NOT NULL,
    order_id    INTEGER NOT NULL,
    signal_id   TEXT,
    symbol      TEXT NOT NULL,
    side        TEXT NOT NULL,
    lots        TEXT NOT NULL,
    entry_price TEXT NOT NULL,
    sl          TEXT,
    tp          TEXT,
    opened_at   TEXT NOT NULL,
    exit_price  TEXT NOT NULL,
    closed_at   TEXT NOT NULL,
    pnl         TEXT NOT NULL,
    pips        TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX trades_by_closed_at ON trades(closed_at);
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    plugin  TEXT,
    message TEXT NOT NULL,
    data    TEXT NOT NULL
);
CREATE TABLE plugin_state (
    plugin  TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL,
    at      TEXT NOT NULL
);
CREATE TABLE trends (
    symbol    TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    trend     TEXT NOT NULL,
    at        TEXT NOT NULL,
    PRIMARY KEY (symbol, timeframe)
);
CREATE TABLE prices (
    symbol TEXT PRIMARY KEY,
    price  TEXT NOT NULL,
    at     TEXT NOT NULL
);
CREATE TABLE engine_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
",
    r"
CREATE TABLE plugin_modes (
    plugin TEXT PRIMARY KEY,
    mode   TEXT NOT NULL,
    at     TEXT NOT NULL
);
CREATE TABLE shadow_positions (
    plugin   TEXT NOT NULL,
    id       INTEGER NOT NULL,
    order_id INTEGER NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (plugin, id)
);
CREATE TABLE shadow_trades (
    plugin    TEXT NOT NULL,
    id        INTEGER NOT NULL,
    order_id  INTEGER NOT NULL,
    closed_at TEXT NOT NULL,
    pnl       TEXT NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (plugin, id)
);
CREATE TABLE shadow_decisions (
    signal_id TEXT NOT NULL,
    plugin    TEXT NOT NULL,
    at        TEXT NOT NULL,
    status    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    PRIMARY KEY (signal_id, plugin)
);
",
    r"
CREATE TABLE symbol_locks (
    symbol TEXT PRIMARY KEY,
    until  TEXT NOT NULL,
    reason TEXT NOT NULL
);
",
    r"
CREATE TABLE chains (
    kind   TEXT NOT NULL,
    id     INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    live   INTEGER NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
",
];

/// Migration steps of a plugin's `plugin.db`.
pub(crate) const PLUGIN_MIGRATIONS: &[&str] = &[r"
CREATE TABLE trades (
    id             INTEGER PRIMARY KEY,
    order_id       INTEGER NOT NULL,
    symbol         TEXT NOT NULL,
    direction      TEXT NOT NULL,
    lot_size       TEXT NOT NULL,
    entry_price    TEXT NOT NULL,
    sl_price       TEXT,
    tp_price       TEXT,
    entry_time     TEXT NOT NULL,
    exit_time      TEXT,
    profit_pips    TEXT,
    profit_dollars TEXT,
    status         TEXT NOT NULL,
    close_reason   TEXT
);
CREATE INDEX trades_by_exit_time ON trades(exit_time);
CREATE TABLE performance (
    date           TEXT PRIMARY KEY,
    total_trades   INTEGER NOT NULL,
    win_count      INTEGER NOT NULL,
    loss_count     INTEGER NOT NULL,
    total_profit   TEXT NOT NULL,
    max_drawdown   TEXT NOT NULL,
    peak_profit    TEXT NOT NULL DEFAULT '0'
);
"];

/// How durable a database's commits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    /// `synchronous=FULL`: a commit survives power loss.
    Full,
    /// `synchronous=NORMAL`: in WAL mode a commit survives a crash of the process.
    Normal,
}

/// How long a connection waits for another writer before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a database in WAL mode with the given durability and brings its schema up to date.
pub(crate) fn open(path: &Path, sync: Sync, migrations: &[&str]) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            Sync::Full => "FULL",
            Sync::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 64 MiB of page cache: the writer's batches touch index pages all over the file.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate(&conn, migrations)?;
    Ok(conn)
}

/// Applies the steps past the database's `user_version`, each in its own transaction.
fn migrate(conn: &Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let start = usize::try_from(version).unwrap_or(usize::MAX);
    if start > migrations.len() {
        return Err(rusqlite::Error::ToSqlConversionFailure(
            format!("database schema version {version} is newer than this build ({})", migrations.len()).into(),
        ));
    }
    for (i, step) in migrations.iter().enumerate().skip(start) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_refuse_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let conn = open(&path, Sync::Normal, ENGINE_MIGRATIONS).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, i64::try_from(ENGINE_MIGRATIONS.len()).unwrap());
        drop(conn);
        assert!(open(&path, Sync::Normal, ENGINE_MIGRATIONS).is_ok(), "reopening skips applied steps");
        let err = open(&path, Sync::Normal, &[]).unwrap_err();
        assert!(err.to_string().contains("newer than this build"), "{err}");
    }

    #[test]
    fn a_first_release_database_gains_the_shadow_tables_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zepix.db");
        let old = open(&path, Sync::Normal, &ENGINE_MIGRATIONS[..1]).unwrap();
        old.execute("INSERT INTO plugin_state (plugin, enabled, at) VALUES ('v3_combined', 0, 'then')", []).unwrap();
        drop(old);
        let conn = open(&path, Sync::Normal, ENGINE_MIGRATIONS).unwrap();
        let kept: i64 = conn.query_row("SELECT COUNT(*) FROM plugin_state", [], |r| r.get(0)).unwrap();
        let shadow: i64 = conn.query_row("SELECT COUNT(*) FROM shadow_decisions", [], |r| r.get(0)).unwrap();
        assert_eq!((kept, shadow), (1, 0));
    }
}
