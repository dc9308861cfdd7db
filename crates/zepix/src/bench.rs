//! `zepix bench`: whole-program benchmarks.
//!
//! - `pipeline`: signals through parse → inbox → route → plugin → risk → paper fill → store in
//!   one process, with the parse-only rate of the same alerts as the ceiling to compare with.
//! - `plugin`: call round trips to a sandboxed Python plugin and to a Rust `process` plugin, and
//!   signals per second end to end through one Python logic plugin beside the built-in executor.
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
    crate::say!("machine: {}", machine());
    crate::say!("pipeline benchmark: {signals} signals, entries and exits through signal_executor on the paper venue");

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
    crate::say!("parse only (ceiling):         {:>10.0} signals/s", rate(signals, parse_only));
    crate::say!(
        "accepted (durable in inbox):  {:>10.0} signals/s  ({} in {:.2} s)",
        rate(accepted, acked),
        accepted,
        acked.as_secs_f64()
    );
    crate::say!(
        "processed and stored:         {:>10.0} signals/s  ({} in {:.2} s)",
        rate(accepted, total),
        accepted,
        total.as_secs_f64()
    );
    let shown: Vec<String> = outcomes.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{s} {n}")).collect();
    crate::say!("outcomes: {}", shown.join(", "));
    if snapshot.processed.len() != signals {
        bail!("only {} of {signals} signals are in zepix.db", snapshot.processed.len());
    }
    crate::say!("verified: all {signals} signals are in zepix.db with an outcome");
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
    crate::say!("machine: {}", machine());
    crate::say!(
        "webhook benchmark: {signals} alerts over {connections} keep-alive connections to http://{addr}/webhook"
    );

    let bodies: Vec<Bytes> = (0..signals).map(|i| Bytes::from(alert("w", i))).collect();
    // The load runs on one thread of its own, as a load generator should: on two cores, a
    // second runtime's worker threads would take CPU from the engine under test.
    let load = std::thread::Builder::new()
        .name("zepix-load".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(drive(
                addr,
                bodies,
                connections,
            ))
        })
        .context("starting the load thread")?;
    let Load { mut latencies, accepted, other, elapsed } =
        tokio::task::spawn_blocking(move || load.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the load thread panicked"))??;
    latencies.sort_unstable();
    crate::say!(
        "accepted: {} ({:.0}/s over {:.2} s); other answers: {other}",
        accepted.len(),
        accepted.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    crate::say!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        percentile(&latencies, 100.0)
    );

    let caught_up = wait_processed(addr, accepted.len() as u64).await?;
    crate::say!("processing caught up {:.2} s after the last acknowledgement", caught_up.as_secs_f64());
    stop_child(&mut child).await?;

    let store = SqliteStore::open(&data_dir)?;
    let processed = store.snapshot(zepix_model::Clock::now(&LiveClock))?.processed;
    let expected: HashSet<SignalId> = accepted.iter().filter_map(|i| SignalId::new(format!("w-{i}")).ok()).collect();
    let missing = expected.iter().filter(|id| !processed.contains(*id)).count();
    if missing > 0 {
        bail!("{missing} accepted alerts are missing from zepix.db");
    }
    crate::say!("verified: all {} accepted alerts are in zepix.db with an outcome; none lost", expected.len());
    Ok(ExitCode::SUCCESS)
}

/// What the webhook load produced.
struct Load {
    /// Per request, in microseconds.
    latencies: Vec<u32>,
    /// Indexes of the alerts answered `accepted`.
    accepted: Vec<usize>,
    /// Requests answered anything else.
    other: usize,
    elapsed: Duration,
}

/// Sends every alert over `connections` keep-alive connections, each waiting for its answer
/// before the next request.
async fn drive(addr: SocketAddr, bodies: Vec<Bytes>, connections: usize) -> Result<Load> {
    let bodies = Arc::new(bodies);
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
    let mut load = Load {
        latencies: Vec::with_capacity(bodies.len()),
        accepted: Vec::with_capacity(bodies.len()),
        other: 0,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (l, a, o) = t.await??;
        load.latencies.extend(l);
        load.accepted.extend(a);
        load.other += o;
    }
    load.elapsed = started.elapsed();
    Ok(load)
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

/// A protocol 1 plugin in Rust, run as `zepix __echo_plugin`: it answers `initialize`, ignores
/// every signal and exits on `shutdown` or end of input. The `process` runtime's benchmark
/// subject (and the smallest example of a plugin in another language).
///
/// # Errors
/// When stdin or stdout fail.
pub fn echo_plugin() -> Result<()> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stdin.lock());
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let id = msg["id"].clone();
        let result = match msg["method"].as_str().unwrap_or_default() {
            "initialize" => serde_json::json!({"protocol": 1, "name": "echo", "version": "1.0.0", "roles": ["logic"]}),
            "shutdown" => {
                writeln!(out, "{}", serde_json::json!({"jsonrpc": "2.0", "id": id, "result": null}))?;
                out.flush()?;
                return Ok(());
            }
            m if m.starts_with("process_") => {
                serde_json::json!({"kind": "ignored", "reason": "echo", "orders": [], "closed": []})
            }
            _ => serde_json::json!({"ok": true}),
        };
        writeln!(out, "{}", serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}))?;
        if reader.buffer().is_empty() {
            out.flush()?;
        }
    }
}

/// A Python plugin that places each entry's order by calling `orders.place` and waiting for it.
const BENCH_PY_CALLBACK: &str = r#"from zepix_sdk import LogicPlugin


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal):
        placed = self.services.orders.place_from_signal(signal)
        return self.executed(orders=[placed])
"#;

/// The same plugin returning its orders and closes with its decision (`place`, `close`): no round
/// trip per order.
const BENCH_PY_PLACE: &str = r#"from zepix_sdk import LogicPlugin


class Plugin(LogicPlugin):
    def process_entry_signal(self, signal):
        return self.executed(place=[self.services.orders.intent_from_signal(signal)])

    def process_exit_signal(self, signal):
        return self.executed(close=[{"symbol": signal["symbol"]}])
"#;

fn bench_py_manifest(id: &str, strategy: &str) -> String {
    format!(
        "id = \"{id}\"\nname = \"{id}\"\nversion = \"1.0.0\"\nruntime = \"python\"\nentry = \"plugin.py\"\n\
         protocol = 1\nroles = [\"logic\"]\nstrategy = \"{strategy}\"\ncapabilities = [\"orders\", \"positions\"]\n"
    )
}

/// Sequential round trips through the real host path (launcher, sandbox, pipes, supervisor).
async fn round_trips(spec: zepix_host::PluginSpec, calls: usize) -> Result<Vec<u32>> {
    use zepix_plugin::{RemoteEvent, RemoteLink};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let link =
        zepix_host::ProcessLink::start(&tokio::runtime::Handle::current(), spec, Arc::new(move |e| drop(tx.send(e))));
    let next = async |rx: &mut tokio::sync::mpsc::UnboundedReceiver<RemoteEvent>| {
        tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.ok().flatten()
    };
    loop {
        match next(&mut rx).await {
            Some(RemoteEvent::Ready { .. }) => break,
            Some(RemoteEvent::Failed { reason }) => bail!("the plugin failed to start: {reason}"),
            Some(_) => {}
            None => bail!("the plugin did not start within 30 s"),
        }
    }
    let params = serde_json::json!({"signal": {"id": "b-1", "type": "entry", "symbol": "XAUUSD", "direction": "buy", "price": "2350.5"}});
    let mut latencies = Vec::with_capacity(calls);
    for call in 0..(calls + calls / 10) as u64 {
        let sent = Instant::now();
        link.call(call, "process_signal", params.clone());
        match next(&mut rx).await {
            Some(RemoteEvent::Reply { result: Ok(_), .. }) => {}
            other => bail!("call {call}: unexpected {other:?}"),
        }
        // The first tenth warms up the interpreter and the caches.
        if call >= (calls / 10) as u64 {
            latencies.push(u32::try_from(sent.elapsed().as_nanos()).unwrap_or(u32::MAX));
        }
    }
    link.stop();
    latencies.sort_unstable();
    Ok(latencies)
}

/// The floor under every round trip: the same Rust plugin, no sandbox, no host, one thread
/// writing a line and blocking on the answer. Two processes waking each other across CPUs.
fn raw_round_trips(exe: &Path, calls: usize) -> Result<Vec<u32>> {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new(exe)
        .arg(crate::host::ECHO_PLUGIN_COMMAND)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("starting the echo plugin")?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("the echo plugin's pipes were not set up");
    };
    let mut stdout = std::io::BufReader::new(stdout);
    let request =
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"process_signal\",\"params\":{\"signal\":{\"id\":\"b-1\"}}}\n";
    let mut answer = String::new();
    let mut latencies = Vec::with_capacity(calls);
    for call in 0..calls + calls / 10 {
        let sent = Instant::now();
        stdin.write_all(request)?;
        answer.clear();
        stdout.read_line(&mut answer)?;
        if call >= calls / 10 {
            latencies.push(u32::try_from(sent.elapsed().as_nanos()).unwrap_or(u32::MAX));
        }
    }
    drop(stdin);
    child.wait()?;
    latencies.sort_unstable();
    Ok(latencies)
}

fn print_round_trips(name: &str, sorted_ns: &[u32]) {
    let us = |p: f64| percentile(sorted_ns, p);
    crate::say!(
        "{name:<34} p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>7.1} µs  ({} calls)",
        us(50.0),
        us(90.0),
        us(99.0),
        sorted_ns.len()
    );
}

/// `zepix bench plugin`.
pub async fn plugin(calls: usize, signals: usize) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("temp dir")?;
    let data_dir = tmp.path().join("data");
    let plugin_dir = tmp.path().join("plugins");
    let py_dir = plugin_dir.join("bench_py");
    let plugins = [("bench_py", "BENCH_PY", BENCH_PY_CALLBACK), ("bench_py_place", "BENCH_PY_PLACE", BENCH_PY_PLACE)];
    for (id, strategy, code) in plugins {
        let dir = plugin_dir.join(id);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("plugin.toml"), bench_py_manifest(id, strategy))?;
        std::fs::write(dir.join("plugin.py"), code)?;
    }
    let echo_dir = tmp.path().join("echo");
    std::fs::create_dir_all(&echo_dir)?;

    crate::say!("machine: {}", machine());
    let mut config = bench_config(&data_dir)?;
    config.plugin_system.plugin_dir.clone_from(&plugin_dir);
    config.plugin_system.auto_discover = true;
    std::fs::create_dir_all(&data_dir)?;
    let host = crate::host::host_config(&config.plugin_system, &data_dir, None)?;
    crate::say!("sandbox: {}", host.level);

    let py_manifest = zepix_plugin::Manifest::load(&py_dir).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let py_spec = zepix_host::launch::plugin_spec(&host, &py_dir, &py_manifest, &serde_json::Map::new())
        .map_err(anyhow::Error::msg)?;
    let exe = std::env::current_exe()?;
    let echo_manifest_text = format!(
        "id = \"echo\"\nname = \"echo\"\nversion = \"1.0.0\"\nruntime = \"process\"\nstrategy = \"ECHO\"\ncommand = [{:?}, \"{}\"]\n",
        exe.display().to_string(),
        crate::host::ECHO_PLUGIN_COMMAND
    );
    std::fs::write(echo_dir.join("plugin.toml"), echo_manifest_text)?;
    let echo_manifest = zepix_plugin::Manifest::load(&echo_dir).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let echo_spec = zepix_host::launch::plugin_spec(&host, &echo_dir, &echo_manifest, &serde_json::Map::new())
        .map_err(anyhow::Error::msg)?;

    crate::say!("call round trip (one call in flight):");
    let raw = tokio::task::spawn_blocking(move || raw_round_trips(&exe, calls)).await??;
    print_round_trips("baseline: bare pipe ping-pong", &raw);
    print_round_trips("Rust `process` plugin (sandboxed)", &round_trips(echo_spec, calls).await?);
    print_round_trips("Python plugin (zepix_sdk)", &round_trips(py_spec, calls).await?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let engine = app::start(&config, Arc::new(LiveClock), listener, Options::default()).await?;
    let handle = engine.handle.clone();
    crate::say!("end to end (inbox → kernel → plugin → risk → paper fill → store), {signals} entry/exit signals each:");
    let runs = [
        ("built-in signal_executor (baseline)", "SIGNAL_EXECUTOR"),
        ("Python, orders and closes in the decision", "BENCH_PY_PLACE"),
        ("Python, orders.place call-backs", "BENCH_PY"),
    ];
    for (name, strategy) in runs {
        let bodies: Vec<String> =
            (0..signals).map(|i| alert(strategy, i).replace("SIGNAL_EXECUTOR", strategy)).collect();
        let started = Instant::now();
        let writers = 64;
        let bodies = Arc::new(bodies);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let handle = handle.clone();
            let bodies = bodies.clone();
            tasks.push(tokio::spawn(async move {
                for body in bodies.chunks(2).skip(w).step_by(writers).flatten() {
                    let parsed = zepix_model::signal::parse_alert(body.as_bytes(), handle.now())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    handle.submit(parsed.signal, SignalSource::Webhook).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        handle.drain().await?;
        let took = started.elapsed();
        crate::say!(
            "{name:<38} {:>8.0} signals/s  ({signals} in {:.2} s)",
            signals as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        );
    }
    let outcomes = handle.metrics().outcome_counts();
    let shown: Vec<String> = outcomes.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{s} {n}")).collect();
    crate::say!("outcomes: {}", shown.join(", "));
    let failed =
        outcomes.iter().filter(|(s, _)| matches!(s, zepix_engine::OutcomeStatus::Failed)).map(|(_, n)| *n).sum::<u64>();
    engine.stop().await?;
    if failed > 0 {
        bail!("{failed} signals failed");
    }
    Ok(ExitCode::SUCCESS)
}
