//! Throughput of the two write paths: accepted alerts per second through `LogInbox` with 16
//! concurrent appenders that each wait for their acknowledgement (like 16 HTTP connections), and
//! store ops per second for the ops one executed signal produces (signal, order, fill, position).
//!
//! `cargo bench -p zepix-store --bench inbox`

#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use zepix_engine::{Inbox, Outcome, OutcomeStatus, Store, StoreOp};
use zepix_model::signal::parse_alert;
use zepix_model::{
    Fill, Order, OrderId, OrderRequest, OrderStatus, PluginId, Position, PositionId, Side, Signal, SignalSource, Symbol,
};
use zepix_store::{LogInbox, SqliteStore};

const APPENDERS: u64 = 16;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

fn signal(id: u64) -> Signal {
    let body = json!({"id": format!("tv-{id}"), "strategy": "v3_combined", "tf": "15", "symbol": "XAUUSD",
                      "side": "buy", "price": "2000.5", "sl": "1990", "tp": ["2010"], "lot": "0.1", "adx": 31.5});
    parse_alert(body.to_string().as_bytes(), at()).map(|a| a.signal).unwrap_or_else(|e| panic!("bench alert: {e}"))
}

fn inbox_appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let (inbox, _) =
        LogInbox::open(dir.path(), &HashSet::new(), 0, Box::new(|_| {})).unwrap_or_else(|e| panic!("open inbox: {e}"));
    let inbox = Arc::new(inbox);
    let next_id = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("inbox");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_16_appenders", |b| {
        b.iter_custom(|iters| {
            // Signals are built before the clock starts: the webhook parses them before appending.
            let per_thread = iters.div_ceil(APPENDERS);
            let work: Vec<Vec<Signal>> = (0..APPENDERS)
                .map(|_| (0..per_thread).map(|_| signal(next_id.fetch_add(1, Ordering::Relaxed))).collect())
                .collect();
            let start = Arc::new(Barrier::new(usize::try_from(APPENDERS).unwrap_or(16) + 1));
            let threads: Vec<_> = work
                .into_iter()
                .map(|signals| {
                    let (inbox, start) = (Arc::clone(&inbox), Arc::clone(&start));
                    std::thread::spawn(move || {
                        start.wait();
                        for signal in signals {
                            let answer = inbox.append(SignalSource::Webhook, at(), signal).blocking_recv();
                            assert!(matches!(answer, Ok(Ok(zepix_engine::Appended::Accepted(_)))));
                        }
                    })
                })
                .collect();
            start.wait();
            let began = Instant::now();
            for t in threads {
                t.join().unwrap_or_else(|_| panic!("appender panicked"));
            }
            // Time per accepted alert, scaled to the iterations asked for.
            began.elapsed().mul_f64(iters as f64 / (per_thread * APPENDERS) as f64)
        });
    });
    group.finish();
}

fn executed_signal_ops(n: u64) -> Vec<StoreOp> {
    let plugin = PluginId::new("v3").unwrap_or_else(|e| panic!("{e}"));
    let symbol = Symbol::new("XAUUSD").unwrap_or_else(|e| panic!("{e}"));
    let lots = "0.1".parse().unwrap_or_else(|e| panic!("{e}"));
    let price = "2000.5".parse().unwrap_or_else(|e| panic!("{e}"));
    let signal = signal(n);
    let position = Position {
        id: PositionId(n),
        plugin: plugin.clone(),
        order_id: OrderId(n),
        signal_id: Some(signal.id.clone()),
        symbol: symbol.clone(),
        side: Side::Buy,
        lots,
        entry_price: price,
        sl: None,
        tp: None,
        opened_at: at(),
    };
    vec![
        StoreOp::Signal {
            seq: n,
            source: SignalSource::Webhook,
            received_at: at(),
            processed_at: at(),
            outcome: Box::new(Outcome::new(OutcomeStatus::Executed, "ok", "placed").with_plugin(plugin.clone())),
            signal: Box::new(signal.clone()),
        },
        StoreOp::Order(Box::new(Order {
            id: OrderId(n),
            plugin,
            signal_id: Some(signal.id.clone()),
            request: OrderRequest {
                symbol: symbol.clone(),
                side: Side::Buy,
                lots,
                sl: None,
                tp: None,
                price: Some(price),
                comment: String::new(),
            },
            status: OrderStatus::Filled,
            reason: None,
            created_at: at(),
        })),
        StoreOp::Fill(Box::new(Fill {
            order_id: OrderId(n),
            position_id: PositionId(n),
            symbol,
            side: Side::Buy,
            lots,
            price,
            at: at(),
        })),
        StoreOp::Position(Box::new(position)),
    ]
}

fn store_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let store = SqliteStore::open(dir.path()).unwrap_or_else(|e| panic!("open store: {e}"));
    let mut next = 0;
    let mut group = c.benchmark_group("store");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(4));
    group.bench_function("executed_signal_4_ops", |b| {
        b.iter_custom(|iters| {
            let batches: Vec<Vec<StoreOp>> = (0..iters)
                .map(|_| {
                    next += 1;
                    executed_signal_ops(next)
                })
                .collect();
            let began = Instant::now();
            for ops in batches {
                store.submit(ops);
            }
            store.flush().unwrap_or_else(|e| panic!("flush: {e}"));
            began.elapsed()
        });
    });
    group.finish();
}

criterion_group!(benches, inbox_appends, store_ops);
criterion_main!(benches);
