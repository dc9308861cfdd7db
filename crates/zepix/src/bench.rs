//! `zepix bench`: whole-program benchmarks.
//!
//! - `pipeline`: signals through parse → inbox → route → plugin → risk → paper fill → store in
//!   one process, with the parse-only rate of the same alerts as the ceiling to compare with.
//! - `webhook`: starts a fresh engine as a child process, drives it over loopback with
//!   concurrent keep-alive connections, reports accepted/s and latency percentiles, then checks
//!   that every accepted alert is in the database with an outcome.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use zepix_engine::{Store, Submitted};
use zepix_model::{LiveClock, SignalId, SignalSource};
use zepix_store::SqliteStore;

use crate::app::{self, Options};
use crate::client::Client;
use crate::config::Config;

/// A config for benchmarks: no rate limits, room for many positions, a known secret.
const BENCH_CONFIG: &str = r#"
[server]
secret = "bench"
rate_limit_per_sec = 0
[risk]
max_open_positions = 1000000
max_open_per_plugin = 1000000
max_orders_per_minute = 1000000000
daily_loss_limit = 1000000000  # on (so every fill and price is valued), but never reached
"#;

/// The i-th benchmark alert: entries and exits alternate on a few symbols through the plain
/// executor, so every alert goes through a plugin and positions stay bounded.
fn alert(prefix: &str, i: usize) -> String {
    let symbols = ["XAUUSD", "EURUSD", "GBPUSD", "BTCUSDT"];
    let prices = ["2350.5", "1.0850", "1.2710", "64250"];
    let k = (i / 2) % symbols.len();
    if i.is_multiple_of(2) {
        format!(
            r#"{{"secret":"bench","id":"{prefix}-{i}","strategy":"SIGNAL_EXECUTOR","symbol":"{}","side":"buy","price":"{}","lot":"0.01","confidence":77}}"#,
            symbols[k], prices[k]
        )
    } else {
        format!(
            r#"{{"secret":"bench","id":"{prefix}-{i}","strategy":"SIGNAL_EXECUTOR","symbol":"{}","action":"close","price":"{}"}}"#,
            symbols[k], prices[k]
        )
    }
}

fn bench_config(data_dir: &Path) -> Result<Config> {
    let mut config = Config::parse(BENCH_CONFIG, |_| None).map_err(|p| anyhow::anyhow!(p.join("; ")))?;
    config.engine.data_dir = data_dir.to_owned();
    config.plugin_system.auto_discover = false;
    Ok(config)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {cpu}")
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

/// `zepix bench pipeline`.
pub async fn pipeline(signals: usize) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let config = bench_config(tmp.path())?;
    let bodies: Vec<String> = (0..signals).map(|i| alert("p", i)).collect();
    println!("machine: {}", machine());
    println!("pipeline benchmark: {signals} signals, entries and exits through signal_executor on the paper venue");

    let now = zepix_model::Clock::now(&LiveClock);
    let started = Instant::now();
    for body in &bodies {
        std::hint::black_box(zepix_model::signal::parse_alert(body.as_bytes(), now).ok());
    }
    let parse_only = started.elapsed();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let engine = app::start(&config, Arc::new(LiveClock), listener, Options::default()).await?;
    let handle = engine.handle.clone();
    let bodies = Arc::new(bodies);
    // Each writer sends its alerts in entry → exit pairs, as a strategy would, so open positions
    // stay bounded by the number of writers; many writers keep the inbox's group commit busy.
    let writers = 256;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let handle = handle.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0usize;
            let pairs = bodies.chunks(2).skip(w).step_by(writers);
            for body in pairs.flatten() {
                let parsed = zepix_model::signal::parse_alert(body.as_bytes(), handle.now())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if matches!(handle.submit(parsed.signal, SignalSource::Webhook).await?, Submitted::Accepted(_)) {
                    accepted += 1;
                }
            }
            anyhow::Ok(accepted)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    let acked = started.elapsed();
    handle.drain().await?;
    let total = started.elapsed();
    let snapshot = handle.store().snapshot(now)?;
    let outcomes = handle.metrics().outcome_counts();
    engine.stop().await?;

    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    println!("parse only (ceiling):         {:>10.0} signals/s", rate(signals, parse_only));
    println!(
        "accepted (durable in inbox):  {:>10.0} signals/s  ({} in {:.2} s)",
        rate(accepted, acked),
        accepted,
        acked.as_secs_f64()
    );
    println!(
        "processed and stored:         {:>10.0} signals/s  ({} in {:.2} s)",
        rate(accepted, total),
        accepted,
        total.as_secs_f64()
    );
    let shown: Vec<String> = outcomes.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{s} {n}")).collect();
    println!("outcomes: {}", shown.join(", "));
    if snapshot.processed.len() != signals {
        bail!("only {} of {signals} signals are in zepix.db", snapshot.processed.len());
    }
    println!("verified: all {signals} signals are in zepix.db with an outcome");
    Ok(ExitCode::SUCCESS)
}

/// `zepix bench webhook`.
pub async fn webhook(signals: usize, connections: usize) -> Result<ExitCode> {
    let connections = connections.max(1);
    let tmp = tempfile::tempdir().context("temp dir")?;
    let config_file = tmp.path().join("bench.toml");
    std::fs::write(&config_file, BENCH_CONFIG)?;
    let data_dir = tmp.path().join("data");
    let port = tokio::net::TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let exe = std::env::current_exe().context("finding the zepix binary")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["--config"])
        .arg(&config_file)
        .args(["run", "--bind", &addr.to_string(), "--data-dir"])
        .arg(&data_dir)
        .env("ZEPIX_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the engine")?;
    wait_healthy(addr).await?;
    println!("machine: {}", machine());
    println!("webhook benchmark: {signals} alerts over {connections} keep-alive connections to http://{addr}/webhook");

    let bodies: Arc<Vec<Bytes>> = Arc::new((0..signals).map(|i| Bytes::from(alert("w", i))).collect());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await?;
            let mut latencies = Vec::with_capacity(bodies.len() / connections + 1);
            let mut accepted = Vec::new();
            let mut other = 0usize;
            for (i, body) in bodies.iter().enumerate().skip(c).step_by(connections) {
                let sent = Instant::now();
                let (status, answer) = client.send(Method::POST, "/webhook", body.clone(), None).await?;
                latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status == StatusCode::OK && answer.windows(10).any(|w| w == b"\"accepted\"") {
                    accepted.push(i);
                } else {
                    other += 1;
                }
            }
            anyhow::Ok((latencies, accepted, other))
        }));
    }
    let mut latencies = Vec::with_capacity(signals);
    let mut accepted = Vec::with_capacity(signals);
    let mut other = 0;
    for t in tasks {
        let (l, a, o) = t.await??;
        latencies.extend(l);
        accepted.extend(a);
        other += o;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "accepted: {} ({:.0}/s over {:.2} s); other answers: {other}",
        accepted.len(),
        accepted.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        percentile(&latencies, 100.0)
    );

    let caught_up = wait_processed(addr, accepted.len() as u64).await?;
    println!("processing caught up {:.2} s after the last acknowledgement", caught_up.as_secs_f64());
    stop_child(&mut child).await?;

    let store = SqliteStore::open(&data_dir)?;
    let processed = store.snapshot(zepix_model::Clock::now(&LiveClock))?.processed;
    let expected: HashSet<SignalId> = accepted.iter().filter_map(|i| SignalId::new(format!("w-{i}")).ok()).collect();
    let missing = expected.iter().filter(|id| !processed.contains(*id)).count();
    if missing > 0 {
        bail!("{missing} accepted alerts are missing from zepix.db");
    }
    println!("verified: all {} accepted alerts are in zepix.db with an outcome; none lost", expected.len());
    Ok(ExitCode::SUCCESS)
}

async fn wait_healthy(addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut c) = Client::connect(addr).await
            && let Ok((StatusCode::OK, _)) = c.send(Method::GET, "/health", Bytes::new(), None).await
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the engine did not become healthy at {addr} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_processed(addr: SocketAddr, accepted: u64) -> Result<Duration> {
    let started = Instant::now();
    let mut client = Client::connect(addr).await?;
    loop {
        let (_, body) = client.send(Method::GET, "/metrics", Bytes::new(), None).await?;
        let processed: u64 = String::from_utf8_lossy(&body)
            .lines()
            .filter(|l| l.starts_with("zepix_signals_processed_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        if processed >= accepted {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("only {processed} of {accepted} accepted alerts processed after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop_child(child: &mut tokio::process::Child) -> Result<()> {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .context("the engine did not stop within 60 s")??;
    if !status.success() {
        bail!("the engine exited with {status}");
    }
    Ok(())
}
