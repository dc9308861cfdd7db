//! The CLI commands other than the benchmarks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value;
use zepix_model::LiveClock;
use zepix_plugin::{Manifest, Runtime, Settings};

use crate::app::{self, Options};
use crate::client::{Client, parse_url};
use crate::config::Config;
use crate::examples::{EXAMPLES, find};

/// Loads `--config`, else `./zepix.toml` when present, else the embedded defaults.
///
/// # Errors
/// Every problem in the file.
pub fn load_config(explicit: Option<PathBuf>) -> Result<Config> {
    let file = explicit.or_else(|| Some(PathBuf::from("zepix.toml")).filter(|p| p.exists()));
    Config::load(file.as_deref())
        .map_err(|problems| anyhow::anyhow!("invalid configuration:\n  {}", problems.join("\n  ")))
}

/// `zepix run`.
pub async fn run(
    config: Option<PathBuf>,
    bind: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    hold: bool,
) -> Result<ExitCode> {
    let mut config = load_config(config)?;
    if let Some(bind) = bind {
        config.server.bind = bind;
    }
    if let Some(dir) = data_dir {
        config.engine.data_dir = dir;
    }
    let listener = tokio::net::TcpListener::bind(config.server.bind)
        .await
        .with_context(|| format!("cannot listen on {} (in use? try --bind 127.0.0.1:8081)", config.server.bind))?;
    let app = app::start(&config, Arc::new(LiveClock), listener, Options { hold, ..Options::default() }).await?;
    let status = app.handle.status().await?;
    let running: Vec<String> = status
        .plugins
        .iter()
        .filter(|(_, s)| *s == zepix_engine::PluginState::Running)
        .map(|(id, _)| id.to_string())
        .collect();
    let source = config
        .file
        .as_ref()
        .map_or_else(|| "embedded defaults (no zepix.toml)".to_owned(), |f| f.display().to_string());
    println!("zepix {} listening on http://{}", env!("CARGO_PKG_VERSION"), app.addr);
    println!("  config:   {source}");
    println!(
        "  webhook:  POST http://{}/webhook   (TradingView alert JSON; secret in the body or /webhook/<secret>)",
        app.addr
    );
    println!("  secret:   from {}", app.secret.source);
    println!("  data:     {}/ (zepix.db, plugins/<id>/plugin.db, inbox/)", config.engine.data_dir.display());
    println!("  plugins:  {} running: {}", running.len(), running.join(", "));
    println!(
        "  trading:  {} on the {} venue, balance {}, equity {}",
        status.trading_state, status.venue, status.account.balance, status.account.equity
    );
    if hold {
        println!("  HOLD:     alerts are stored but not processed until a start without --hold");
    }
    if app.recovered > 0 {
        println!("  recovered {} signals accepted before the last stop", app.recovered);
    }
    for p in &app.problems {
        for m in &p.messages {
            println!("  warning:  {m}");
        }
    }
    if !config.server.bind.ip().is_loopback() && config.server.api_token.is_none() {
        println!(
            "  warning:  listening beyond loopback without [server] api_token: anyone who reaches it can use /api"
        );
    }
    println!("Ctrl-C stops the engine.");
    shutdown_signal().await;
    println!("stopping: finishing work in flight…");
    app.stop().await?;
    println!("stopped.");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn engine_addr(config: &Config, url: Option<String>) -> Result<SocketAddr> {
    match url {
        Some(u) => parse_url(&u),
        None => Ok(config.server.bind),
    }
}

/// `zepix alert send`.
pub async fn alert_send(
    config: Option<PathBuf>,
    file: Option<PathBuf>,
    json: Option<String>,
    example: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode> {
    if example.as_deref() == Some("list") {
        for e in EXAMPLES {
            println!("{:<16} {}", e.name, e.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = load_config(config)?;
    if let Some(dir) = data_dir {
        config.engine.data_dir = dir;
    }
    let (alerts, tag) = match (file, json, example) {
        (Some(f), _, _) => {
            let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
            (vec![parse_json(&text, &f.display().to_string())?], None)
        }
        (_, Some(j), _) => (vec![parse_json(&j, "--json")?], None),
        (_, _, Some(name)) => {
            let e = find(&name).with_context(|| {
                let names: Vec<&str> = EXAMPLES.iter().map(|e| e.name).collect();
                format!("no example `{name}`: try one of {}", names.join(", "))
            })?;
            ((e.alerts)(), Some(name))
        }
        _ => bail!("give a file, --json '{{…}}' or --example NAME (--example list shows them)"),
    };
    let secret = match secret {
        Some(s) => Some(s),
        None => known_secret(&config),
    };
    let addr = engine_addr(&config, url)?;
    let mut client = Client::connect(addr).await?;
    let stamp = zepix_model::Clock::now(&LiveClock).timestamp_millis();
    let mut failed = false;
    for (n, mut alert) in alerts.into_iter().enumerate() {
        if let (Some(obj), Some(secret)) = (alert.as_object_mut(), &secret) {
            let has_secret = ["secret", "passphrase", "token", "key"].iter().any(|k| obj.contains_key(*k));
            if !has_secret {
                obj.insert("secret".into(), Value::String(secret.clone()));
            }
        }
        if let (Some(obj), Some(tag)) = (alert.as_object_mut(), &tag) {
            obj.insert("id".into(), Value::String(format!("cli-{tag}-{stamp}-{n}")));
        }
        let (status, body) = client.send(Method::POST, "/webhook", Bytes::from(alert.to_string()), None).await?;
        let answer: Value =
            serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
        println!("{status} {answer}");
        if status != StatusCode::OK {
            failed = true;
            continue;
        }
        if let Some(id) = answer.get("signal_id").and_then(Value::as_str) {
            print_outcome(&mut client, id, config.server.api_token.as_deref()).await?;
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn parse_json(text: &str, origin: &str) -> Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{origin} is not JSON"))
}

fn known_secret(config: &Config) -> Option<String> {
    config
        .server
        .secret
        .clone()
        .or_else(|| std::env::var("ZEPIX_WEBHOOK_SECRET").ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            std::fs::read_to_string(config.engine.data_dir.join("webhook_secret")).ok().map(|s| s.trim().to_owned())
        })
}

/// Waits briefly for the signal's outcome and prints it.
async fn print_outcome(client: &mut Client, id: &str, token: Option<&str>) -> Result<()> {
    let path = format!("/api/signals/{}", percent_encode(id));
    for _ in 0..40 {
        let (status, body) = client.send(Method::GET, &path, Bytes::new(), token).await?;
        if status == StatusCode::OK {
            let record: Value = serde_json::from_slice(&body).unwrap_or_default();
            let o = &record["outcome"];
            let mut line = format!("  → {}", o["status"].as_str().unwrap_or("?"));
            if let Some(p) = o["plugin"].as_str() {
                line.push_str(&format!(" by {p}"));
            }
            if let Some(orders) = o["orders"].as_array().filter(|a| !a.is_empty()) {
                line.push_str(&format!(", orders {}", Value::Array(orders.clone())));
            }
            if let Some(closed) = o["closed"].as_array().filter(|a| !a.is_empty()) {
                line.push_str(&format!(", closed positions {}", Value::Array(closed.clone())));
            }
            if let Some(reason) = o["reason"].as_str() {
                line.push_str(&format!(": {reason}"));
            }
            println!("{line}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("  → accepted; still processing (see GET /api/signals/{id})");
    Ok(())
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `zepix status`.
pub async fn status(config: Option<PathBuf>, url: Option<String>) -> Result<ExitCode> {
    let config = load_config(config)?;
    let addr = engine_addr(&config, url)?;
    let token = config.server.api_token.as_deref();
    let mut client = Client::connect(addr).await?;
    let s = client.get_json("/api/status", token).await?;
    let plugins = client.get_json("/api/plugins", token).await?["plugins"].take();
    let a = &s["account"];
    println!(
        "zepix at http://{addr}: trading {}{}, mode {}, venue {}",
        text(&s["trading_state"]),
        if s["daily_loss_locked"].as_bool() == Some(true) { " (daily loss limit reached: reduce-only)" } else { "" },
        text(&s["mode"]),
        text(&s["venue"])
    );
    println!(
        "balance {}  equity {}  unrealized {}  realized today {}",
        text(&a["balance"]),
        text(&a["equity"]),
        text(&a["unrealized"]),
        text(&s["realized_today"])
    );
    let positions = s["positions"].as_array().cloned().unwrap_or_default();
    println!("positions ({}):", positions.len());
    for p in &positions {
        println!(
            "  #{:<4} {:<20} {:<4} {:>8} {:<10} @ {:<10} sl {:<10} tp {}",
            text(&p["id"]),
            text(&p["plugin"]),
            text(&p["side"]),
            text(&p["lots"]),
            text(&p["symbol"]),
            text(&p["entry_price"]),
            text(&p["sl"]),
            text(&p["tp"])
        );
    }
    println!("plugins:");
    for p in plugins.as_array().cloned().unwrap_or_default() {
        let c = &p["counters"];
        println!(
            "  {:<22} {:<10} signals {:<5} executed {:<5} rejected {:<5} failures {}{}",
            text(&p["id"]),
            text(&p["state"]),
            text(&c["signals"]),
            text(&c["executed"]),
            text(&c["rejected"]),
            text(&c["failures"]),
            p["last_error"]["message"].as_str().map(|m| format!("  last error: {m}")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `zepix plugin list`.
pub fn plugin_list(config: Option<PathBuf>) -> Result<ExitCode> {
    let config = load_config(config)?;
    let (registry, problems) = app::build_registry(&config, &[]);
    println!("{:<22} {:<8} {:<17} {:<16} {:<12} source", "id", "runtime", "strategy", "timeframes", "state");
    for slot in registry.slots() {
        let m = &slot.meta.manifest;
        let tfs: Vec<String> = m.timeframes.iter().map(ToString::to_string).collect();
        let source = match &slot.meta.source {
            zepix_engine::registry::PluginSource::Builtin => "built-in".to_owned(),
            zepix_engine::registry::PluginSource::Dir(d) => d.display().to_string(),
        };
        let runtime =
            serde_json::to_value(m.runtime).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        println!(
            "{:<22} {:<8} {:<17} {:<16} {:<12} {source}",
            m.id,
            runtime,
            m.strategy.as_deref().unwrap_or("-"),
            if tfs.is_empty() { "any".into() } else { tfs.join(",") },
            slot.state
        );
        if let Some(e) = &slot.last_error {
            println!("{:<22} note: {}", "", e.message);
        }
    }
    for p in &problems {
        for m in &p.messages {
            println!("problem: {m}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `zepix plugin validate PATH`.
pub fn plugin_validate(path: &Path) -> Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    match Manifest::load(path) {
        Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        Ok(manifest) => {
            let (found, discover_problems) = zepix_engine::registry::discover(path.parent().unwrap_or(Path::new(".")));
            problems.extend(
                discover_problems.into_iter().filter(|p| Path::new(&p.origin) == path).flat_map(|p| p.messages),
            );
            let settings = found.into_iter().find(|f| f.dir == path).map(|f| f.settings).unwrap_or_default();
            if let Err(errors) = Settings::validate(&manifest.settings_schema, &settings) {
                let file = path.join("config.toml");
                problems.extend(errors.iter().map(|e| format!("{}: {e}", file.display())));
            }
            match manifest.runtime {
                Runtime::Python => {
                    let entry = path.join(manifest.entry.as_deref().unwrap_or("plugin.py"));
                    if !entry.is_file() {
                        problems.push(format!("{}: `entry`: {} does not exist", path.join("plugin.toml").display(), entry.display()));
                    }
                }
                Runtime::Process => {
                    if let Some(cmd) = manifest.command.as_ref().and_then(|c| c.first()) {
                        let exe = path.join(cmd);
                        if cmd.contains('/') && !exe.is_file() {
                            problems.push(format!("{}: `command`: {} does not exist", path.join("plugin.toml").display(), exe.display()));
                        }
                    }
                }
                Runtime::Builtin => problems.push(format!(
                    "{}: `runtime`: \"builtin\" is only for plugins compiled into the engine; use \"python\" or \"process\"",
                    path.join("plugin.toml").display()
                )),
            }
            if problems.is_empty() {
                println!(
                    "ok: {} {} (runtime {}, strategy {}, {} capabilities)",
                    manifest.id,
                    manifest.version,
                    serde_json::to_value(manifest.runtime)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    manifest.strategy.as_deref().unwrap_or("-"),
                    manifest.capabilities.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    for p in &problems {
        println!("error: {p}");
    }
    Ok(ExitCode::FAILURE)
}

/// `zepix plugin new NAME`.
pub fn plugin_new(config: Option<PathBuf>, name: &str, dir: Option<PathBuf>) -> Result<ExitCode> {
    let config = load_config(config)?;
    let parent = dir.unwrap_or(config.plugin_system.plugin_dir);
    let created = crate::scaffold::create(&parent, name)?;
    println!("created {}", created.display());
    println!("next: edit plugin.py and plugin.toml, then `zepix plugin validate {}`", created.display());
    Ok(ExitCode::SUCCESS)
}

/// `zepix config check [FILE]`.
pub fn config_check(file: Option<PathBuf>) -> Result<ExitCode> {
    let file = file.or_else(|| Some(PathBuf::from("zepix.toml")).filter(|p| p.exists()));
    let shown = file.as_ref().map_or_else(|| "embedded defaults".to_owned(), |f| f.display().to_string());
    let (config, mut messages) = match &file {
        None => (Config::default(), Vec::new()),
        Some(f) => match std::fs::read_to_string(f) {
            Ok(text) => {
                let (config, problems) = Config::parse_lenient(&text, |name| std::env::var(name).ok());
                (config, problems.into_iter().map(|p| format!("{}: {p}", f.display())).collect())
            }
            Err(e) => (Config::default(), vec![format!("{}: cannot read: {e}", f.display())]),
        },
    };
    let (registry, problems) = app::build_registry(&config, &[]);
    messages.extend(problems.into_iter().flat_map(|p| p.messages));
    for m in &messages {
        println!("error: {m}");
    }
    if messages.is_empty() {
        println!(
            "{shown}: ok ({} plugins, webhook on {}, data in {})",
            registry.slots().len(),
            config.server.bind,
            config.engine.data_dir.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{shown}: {} problem(s)", messages.len());
        Ok(ExitCode::FAILURE)
    }
}
