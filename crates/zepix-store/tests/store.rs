//! The SQLite store as the engine sees it: ops in, queries and snapshots out.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a failure is a failed test")]

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::{at, dec, order, plugin, position, sid, signal, trade};
use serde_json::{Value, json};
use zepix_engine::{Outcome, OutcomeStatus, Store, StoreOp, TradingState};
use zepix_model::{
    Event, EventKind, Fill, Money, OrderId, OrderStatus, PositionId, Price, Side, SignalSource, Symbol, Timeframe,
    Trend,
};
use zepix_store::SqliteStore;

fn signal_op(seq: u64, id: &str) -> StoreOp {
    let mut outcome = Outcome::new(OutcomeStatus::Executed, "ok", "placed 1 order").with_plugin(plugin("v3"));
    outcome.orders = vec![OrderId(seq)];
    StoreOp::Signal {
        seq,
        source: SignalSource::Webhook,
        received_at: at(i64::try_from(seq).unwrap()),
        processed_at: at(i64::try_from(seq).unwrap()) + Duration::milliseconds(3),
        signal: Box::new(signal(id)),
        outcome: Box::new(outcome),
    }
}

fn xau() -> Symbol {
    Symbol::new("XAUUSD").unwrap()
}

#[test]
fn each_op_round_trips_through_the_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let filled = order(1, "v3", OrderStatus::Filled);
    let rejected = order(2, "v3", OrderStatus::Rejected);
    let event = Event {
        at: at(9),
        kind: EventKind::OrderPlaced,
        plugin: Some(plugin("v3")),
        message: "order 1 placed".into(),
        data: json!({"order": 1, "lots": "0.25"}),
    };
    let notice =
        Event { at: at(10), kind: EventKind::Engine, plugin: None, message: "started".into(), data: json!(null) };
    store.submit(vec![
        signal_op(1, "tv-1"),
        signal_op(2, "tv-2"),
        StoreOp::Order(Box::new(filled.clone())),
        StoreOp::Order(Box::new(rejected.clone())),
        StoreOp::Fill(Box::new(Fill {
            order_id: OrderId(1),
            position_id: PositionId(7),
            symbol: xau(),
            side: Side::Buy,
            lots: "0.1".parse().unwrap(),
            price: "2000.5".parse().unwrap(),
            at: at(6),
        })),
        StoreOp::Position(Box::new(position(7, "v3", 6))),
        StoreOp::Event(Box::new(event.clone())),
        StoreOp::Event(Box::new(notice.clone())),
        StoreOp::PluginEnabled { plugin: plugin("v3"), enabled: false, at: at(0) },
        StoreOp::Trend { symbol: xau(), timeframe: Timeframe::H1, trend: Trend::Bearish, at: at(3) },
        StoreOp::Price { symbol: xau(), price: "2001.75".parse().unwrap(), at: at(4) },
        StoreOp::TradingState(TradingState::Paused),
    ]);
    store.flush().unwrap();

    let record = store.signal(&sid("tv-1")).unwrap().expect("stored");
    assert_eq!(record.seq, 1);
    assert_eq!(record.signal, signal("tv-1"));
    assert_eq!(record.source, "webhook");
    assert_eq!(record.received_at, at(1));
    assert_eq!(record.processed_at, at(1) + Duration::milliseconds(3));
    assert_eq!(record.outcome.status, OutcomeStatus::Executed);
    assert_eq!(record.outcome.orders, vec![OrderId(1)]);
    assert!(store.signal(&sid("nope")).unwrap().is_none());
    let recent: Vec<u64> = store.recent_signals(10).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(recent, vec![2, 1], "newest first");
    assert_eq!(store.recent_signals(1).unwrap().len(), 1);

    assert_eq!(store.orders(10).unwrap(), vec![rejected, filled], "newest first, every field kept");
    assert_eq!(store.events(10).unwrap(), vec![notice, event]);

    let snap = store.snapshot(at(0)).unwrap();
    assert_eq!(snap.positions, vec![position(7, "v3", 6)]);
    assert_eq!(snap.plugin_enabled, BTreeMap::from([(plugin("v3"), false)]));
    assert_eq!(snap.trading_state, Some(TradingState::Paused));
    assert_eq!(snap.prices, BTreeMap::from([(xau(), "2001.75".parse().unwrap())]));
    assert_eq!(snap.trends, vec![(xau(), Timeframe::H1, Trend::Bearish)]);
    assert_eq!((snap.max_order_id, snap.max_position_id, snap.max_seq), (70, 7, 2));
    assert_eq!(snap.processed, [sid("tv-1"), sid("tv-2")].into_iter().collect());
}

#[test]
fn upserts_keep_the_latest_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut moved = position(1, "v3", 0);
    moved.sl = Some("1999".parse().unwrap());
    store.submit(vec![
        StoreOp::Position(Box::new(position(1, "v3", 0))),
        StoreOp::Price { symbol: xau(), price: "2000".parse().unwrap(), at: at(1) },
        StoreOp::TradingState(TradingState::Halted),
        StoreOp::PluginEnabled { plugin: plugin("v3"), enabled: false, at: at(0) },
        StoreOp::Trend { symbol: xau(), timeframe: Timeframe::M15, trend: Trend::Bullish, at: at(1) },
    ]);
    store.submit(vec![
        StoreOp::Position(Box::new(moved.clone())),
        StoreOp::Price { symbol: xau(), price: "2002".parse().unwrap(), at: at(2) },
        StoreOp::TradingState(TradingState::Active),
        StoreOp::PluginEnabled { plugin: plugin("v3"), enabled: true, at: at(0) },
        StoreOp::Trend { symbol: xau(), timeframe: Timeframe::M15, trend: Trend::Neutral, at: at(2) },
    ]);
    store.flush().unwrap();
    let snap = store.snapshot(at(0)).unwrap();
    assert_eq!(snap.positions, vec![moved]);
    assert_eq!(snap.prices[&xau()].to_string(), "2002");
    assert_eq!(snap.trading_state, Some(TradingState::Active));
    assert!(snap.plugin_enabled[&plugin("v3")]);
    assert_eq!(snap.trends, vec![(xau(), Timeframe::M15, Trend::Neutral)]);
}

#[test]
fn snapshot_after_a_mix_of_ops_bounds_realized_today_by_day_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let day_start = at(86_400);
    store.submit(vec![
        signal_op(1, "a"),
        StoreOp::Position(Box::new(position(1, "v3", 0))),
        StoreOp::Position(Box::new(position(2, "v3", 0))),
        StoreOp::Position(Box::new(position(3, "other", 0))),
        StoreOp::Position(Box::new(position(4, "v3", 0))),
    ]);
    store.submit(vec![
        signal_op(2, "b"),
        // Yesterday, and exactly at the day start, and later today.
        StoreOp::Closed(Box::new(trade(position(1, "v3", 0), "-12.5", day_start - Duration::seconds(1)))),
        StoreOp::Closed(Box::new(trade(position(2, "v3", 0), "30.25", day_start))),
        StoreOp::Closed(Box::new(trade(position(3, "other", 0), "-0.75", day_start + Duration::hours(3)))),
    ]);
    store.flush().unwrap();
    let snap = store.snapshot(day_start).unwrap();
    assert_eq!(snap.positions, vec![position(4, "v3", 0)], "closed positions are gone");
    assert_eq!(snap.realized, Money::from_decimal(dec("17")));
    assert_eq!(snap.realized_today, Money::from_decimal(dec("29.5")));
    assert_eq!(snap.max_seq, 2);
    assert_eq!(snap.max_position_id, 4);
    assert_eq!(snap.max_order_id, 40);
    assert_eq!(snap.processed.len(), 2);
    assert_eq!(snap.trading_state, None, "nothing set yet");

    let trades = store.trades(10).unwrap();
    let ids: Vec<u64> = trades.iter().map(|t| t.position.id.0).collect();
    assert_eq!(ids, vec![3, 2, 1], "newest close first");
    assert_eq!(trades[2], trade(position(1, "v3", 0), "-12.5", day_start - Duration::seconds(1)));
    assert_eq!(store.trades(1).unwrap().len(), 1);
}

#[test]
fn flush_then_reopen_sees_everything_and_drop_drains_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let store = SqliteStore::open(dir.path()).unwrap();
        store.submit(vec![signal_op(4, "a"), StoreOp::Position(Box::new(position(1, "v3", 0)))]);
        store.submit(vec![StoreOp::TradingState(TradingState::Halted)]);
        store.flush().unwrap();
        store.snapshot(at(0)).unwrap()
    };
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.snapshot(at(0)).unwrap(), before);
        assert_eq!(store.committed_seq(), 4, "read back from the signals table");
        // Not flushed: dropping the store must still commit it.
        store.submit(vec![signal_op(5, "b"), StoreOp::Closed(Box::new(trade(position(1, "v3", 0), "2", at(9))))]);
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let snap = store.snapshot(at(0)).unwrap();
    assert_eq!(snap.max_seq, 5);
    assert!(snap.positions.is_empty());
    assert_eq!(snap.realized, Money::from_decimal(dec("2")));
    assert_eq!(snap.trading_state, Some(TradingState::Halted));
}

#[test]
fn a_burst_larger_than_the_writers_queue_is_stored_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    // 100,000 ops, far over the queue's bound: submitting waits for the writer, nothing is lost.
    for batch in 0..50_u64 {
        let ops = (0..2_000_u64)
            .map(|i| {
                let n = batch * 2_000 + i;
                StoreOp::Price { symbol: xau(), price: Price::new(dec(&format!("{}", n + 1))).unwrap(), at: at(0) }
            })
            .collect();
        store.submit(ops);
    }
    store.submit(vec![signal_op(7, "last")]);
    store.flush().unwrap();
    let snap = store.snapshot(at(0)).unwrap();
    assert_eq!(snap.prices.get(&xau()), Some(&Price::new(dec("100000")).unwrap()), "the last price written wins");
    assert_eq!(store.committed_seq(), 7);
}

#[test]
fn committed_seq_follows_committed_signal_ops() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.committed_seq(), 0);
    store.submit(vec![signal_op(3, "a"), StoreOp::Price { symbol: xau(), price: "1".parse().unwrap(), at: at(0) }]);
    store.submit(vec![signal_op(5, "b")]);
    store.flush().unwrap();
    assert_eq!(store.committed_seq(), 5);
    store.submit(vec![StoreOp::TradingState(TradingState::Active)]);
    store.flush().unwrap();
    assert_eq!(store.committed_seq(), 5, "other ops do not move it");
}

#[test]
fn plugin_db_gets_open_then_closed_rows_and_the_days_performance() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![StoreOp::PluginTradeOpened(Box::new(position(1, "v3", 0)))]);
    store.flush().unwrap();
    let mut db = store.plugin_db(&plugin("v3")).unwrap();
    assert!(dir.path().join("plugins/v3/plugin.db").exists());
    let rows = db.query("SELECT id, status, direction, lot_size, entry_price, exit_time FROM trades", &[]).unwrap();
    assert_eq!(
        Value::Array(rows.into_iter().map(Value::Object).collect()),
        json!([{"id": 1, "status": "OPEN", "direction": "buy", "lot_size": "0.1", "entry_price": "2000.5", "exit_time": null}])
    );

    // Same UTC day: +10, -4, +3, -12 → cumulative 10, 6, 9, -3; another day's trade does not count.
    let day = at(0);
    let closes = [(1, "10", 60), (2, "-4", 120), (3, "3", 180), (4, "-12", 240)];
    let mut ops: Vec<StoreOp> = closes
        .iter()
        .map(|(id, pnl, secs)| {
            StoreOp::Closed(Box::new(trade(position(*id, "v3", 0), pnl, day + Duration::seconds(*secs))))
        })
        .collect();
    ops.push(StoreOp::Closed(Box::new(trade(position(5, "v3", 0), "100", day + Duration::days(1)))));
    store.submit(ops);
    store.flush().unwrap();

    let rows = db
        .query(
            "SELECT id, status, profit_dollars, profit_pips, close_reason, exit_time FROM trades WHERE id = ?1",
            &[json!(1)],
        )
        .unwrap();
    assert_eq!(rows[0]["status"], "CLOSED");
    assert_eq!(rows[0]["profit_dollars"], "10");
    assert_eq!(rows[0]["profit_pips"], "97.5");
    assert_eq!(rows[0]["close_reason"], "take_profit");
    assert!(rows[0]["exit_time"].as_str().unwrap().starts_with("2023-11-14T22:14:20"));
    let perf = db.query("SELECT * FROM performance ORDER BY date", &[]).unwrap();
    assert_eq!(
        Value::Array(perf.into_iter().map(Value::Object).collect()),
        json!([
            {"date": "2023-11-14", "total_trades": 4, "win_count": 2, "loss_count": 2, "total_profit": "-3", "max_drawdown": "13", "peak_profit": "10"},
            {"date": "2023-11-15", "total_trades": 1, "win_count": 1, "loss_count": 0, "total_profit": "100", "max_drawdown": "0", "peak_profit": "100"},
        ])
    );

    // A later batch extends the day from its stored row: -3 + 20 = 17, a new peak.
    store.submit(vec![StoreOp::Closed(Box::new(trade(position(6, "v3", 0), "20", day + Duration::seconds(300))))]);
    store.flush().unwrap();
    let perf = db
        .query(
            "SELECT total_trades, total_profit, max_drawdown, peak_profit FROM performance WHERE date = '2023-11-14'",
            &[],
        )
        .unwrap();
    assert_eq!(
        Value::Object(perf[0].clone()),
        json!({"total_trades": 5, "total_profit": "17", "max_drawdown": "13", "peak_profit": "17"})
    );
    assert!(store.plugin_db(&plugin("other")).unwrap().query("SELECT * FROM trades", &[]).unwrap().is_empty());
}

#[test]
fn plugin_db_runs_the_plugins_own_sql_with_params() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut db = store.plugin_db(&plugin("v3")).unwrap();
    db.execute("CREATE TABLE notes (k TEXT PRIMARY KEY, n INTEGER, x REAL, ok INTEGER, meta TEXT)", &[]).unwrap();
    let changed = db
        .execute(
            "INSERT INTO notes VALUES (?1, ?2, ?3, ?4, ?5)",
            &[json!("a"), json!(42), json!(0.5), json!(true), json!({"tags": ["x"]})],
        )
        .unwrap();
    assert_eq!(changed, 1);
    db.execute("INSERT INTO notes (k, n) VALUES (?, ?)", &[json!("b"), Value::Null]).unwrap();
    let rows = db.query("SELECT k, n, x, ok, meta FROM notes WHERE k >= ?1 ORDER BY k", &[json!("a")]).unwrap();
    assert_eq!(
        Value::Array(rows.into_iter().map(Value::Object).collect()),
        json!([
            {"k": "a", "n": 42, "x": 0.5, "ok": 1, "meta": "{\"tags\":[\"x\"]}"},
            {"k": "b", "n": null, "x": null, "ok": null, "meta": null},
        ])
    );
    assert_eq!(db.execute("UPDATE notes SET n = n + 1 WHERE k = ?1", &[json!("a")]).unwrap(), 1);
    let err = db.execute("INSERT INTO notes (k) VALUES (?1)", &[json!("a")]).unwrap_err();
    assert!(err.to_string().contains("UNIQUE"), "{err}");
}

#[test]
fn a_writer_error_surfaces_through_flush_and_spares_the_rest_of_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![signal_op(1, "tv-1")]);
    store.flush().unwrap();

    store.submit(vec![
        StoreOp::Price { symbol: xau(), price: "2000".parse().unwrap(), at: at(1) },
        signal_op(2, "tv-1"),
        StoreOp::Order(Box::new(order(9, "v3", OrderStatus::Filled))),
        signal_op(3, "tv-3"),
    ]);
    let err = store.flush().unwrap_err();
    assert!(err.to_string().contains("tv-1"), "names the repeated id: {err}");

    let ids: Vec<String> = store.recent_signals(10).unwrap().iter().map(|r| r.signal.id.to_string()).collect();
    assert_eq!(ids, vec!["tv-3", "tv-1"], "only the bad op was lost");
    assert_eq!(store.recent_signals(10).unwrap()[1].seq, 1, "the first tv-1 is untouched");
    assert_eq!(store.orders(10).unwrap().len(), 1);
    assert_eq!(store.snapshot(at(0)).unwrap().prices.len(), 1);
    assert_eq!(store.committed_seq(), 3);
    store.flush().expect("the error is reported once");
}

#[test]
fn closing_a_position_twice_is_an_error_not_a_double_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let closed = StoreOp::Closed(Box::new(trade(position(1, "v3", 0), "5", at(10))));
    store.submit(vec![closed.clone()]);
    store.submit(vec![closed]);
    assert!(store.flush().is_err());
    assert_eq!(store.snapshot(at(0)).unwrap().realized, Money::from_decimal(dec("5")));
    let perf = store.plugin_db(&plugin("v3")).unwrap().query("SELECT total_trades FROM performance", &[]).unwrap();
    assert_eq!(perf[0]["total_trades"], 1);
}

#[test]
fn a_broken_plugin_db_never_costs_the_engine_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.plugin_db(&plugin("v3")).unwrap().execute("DROP TABLE trades", &[]).unwrap();
    store.submit(vec![
        StoreOp::Position(Box::new(position(1, "v3", 0))),
        StoreOp::Closed(Box::new(trade(position(1, "v3", 0), "4", at(10)))),
        StoreOp::Closed(Box::new(trade(position(2, "fine", 0), "6", at(11)))),
    ]);
    let err = store.flush().unwrap_err();
    assert!(err.to_string().contains("plugin v3"), "{err}");
    let snap = store.snapshot(at(0)).unwrap();
    assert!(snap.positions.is_empty());
    assert_eq!(snap.realized, Money::from_decimal(dec("10")), "both trades are in the engine db");
    let rows = store.plugin_db(&plugin("fine")).unwrap().query("SELECT status FROM trades", &[]).unwrap();
    assert_eq!(rows[0]["status"], "CLOSED", "other plugins are unaffected");
}

#[test]
fn the_daily_reset_leaves_a_performance_row_for_a_day_without_trades() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    store.submit(vec![StoreOp::DayClosed { plugin: plugin("quiet"), date }]);
    store.flush().unwrap();
    let rows = store.plugin_db(&plugin("quiet")).unwrap().query("SELECT * FROM performance", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0]["date"].as_str(), rows[0]["total_trades"].as_i64()), (Some("2026-03-02"), Some(0)));
}

#[test]
fn shadow_books_modes_and_decisions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut kept = position(3, "cand", 5);
    kept.signal_id = Some(sid("tv-2"));
    let mut closed = trade(position(2, "cand", 4), "-12.5", at(6));
    closed.position.signal_id = Some(sid("tv-1"));
    let decision = |id: &str, status| StoreOp::ShadowDecision {
        signal_id: sid(id),
        at: at(7),
        outcome: Box::new(Outcome::new(status, "ok", "decided").with_plugin(plugin("cand"))),
    };
    store.submit(vec![
        signal_op(1, "tv-1"),
        StoreOp::ShadowPosition(Box::new(position(2, "cand", 4))),
        StoreOp::ShadowPosition(Box::new(kept.clone())),
        StoreOp::ShadowClosed(Box::new(closed.clone())),
        decision("tv-1", OutcomeStatus::Executed),
        decision("tv-2", OutcomeStatus::Rejected),
        StoreOp::PluginMode { plugin: plugin("cand"), mode: zepix_engine::PluginMode::Shadow, at: at(8) },
    ]);
    store.flush().unwrap();
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    let snap = store.snapshot(at(0)).unwrap();
    assert_eq!(snap.plugin_modes.get(&plugin("cand")), Some(&zepix_engine::PluginMode::Shadow));
    let book = &snap.shadow_books[&plugin("cand")];
    assert_eq!(book.positions, [kept.clone()]);
    assert_eq!(book.realized, Money::from_decimal(dec("-12.5")));
    assert_eq!(book.max_position_id, 3);
    assert!(snap.positions.is_empty(), "virtual positions never join the live book");
    assert_eq!(snap.realized, Money::ZERO, "nor its P&L");

    let rows = store.shadow_rows().unwrap();
    assert_eq!(rows.shadow_trades, [closed]);
    assert_eq!(rows.shadow_open, [kept]);
    let decided: Vec<(&str, OutcomeStatus)> =
        rows.shadow_decisions.iter().map(|d| (d.signal_id.as_str(), d.outcome.status)).collect();
    assert_eq!(decided, [("tv-1", OutcomeStatus::Executed), ("tv-2", OutcomeStatus::Rejected)]);
    let live: Vec<&str> = rows.live_decisions.iter().map(|d| d.signal_id.as_str()).collect();
    assert_eq!(live, ["tv-1"], "the live outcome of each shadowed signal that a live plugin took");

    // A signal routed to a shadow plugin (no live owner) has no live decision.
    let mut routed = signal_op(3, "tv-3");
    if let StoreOp::Signal { outcome, .. } = &mut routed {
        outcome.plugin = Some(plugin("cand"));
    }
    store.submit(vec![routed, decision("tv-3", OutcomeStatus::Executed)]);
    store.flush().unwrap();
    let rows = store.shadow_rows().unwrap();
    let live: Vec<&str> = rows.live_decisions.iter().map(|d| d.signal_id.as_str()).collect();
    assert_eq!(live, ["tv-1"], "cand decided tv-3 on its virtual book");
}
