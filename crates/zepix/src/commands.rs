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
    crate::say!("zepix {} listening on http://{}", env!("CARGO_PKG_VERSION"), app.addr);
    crate::say!("  config:   {source}");
    crate::say!(
        "  webhook:  POST http://{}/webhook   (TradingView alert JSON; secret in the body or /webhook/<secret>)",
        app.addr
    );
    crate::say!("  secret:   from {}", app.secret.source);
    crate::say!("  data:     {}/ (zepix.db, plugins/<id>/plugin.db, inbox/)", config.engine.data_dir.display());
    crate::say!("  plugins:  {} running: {}", running.len(), running.join(", "));
    crate::say!(
        "  trading:  {} on the {} venue, balance {}, equity {}",
        status.trading_state,
        status.venue,
        status.account.balance,
        status.account.equity
    );
    if status.mode != zepix_engine::Mode::Live {
        let shadow: Vec<String> = app
            .handle
            .plugins()
            .await?
            .into_iter()
            .filter(|p| p.mode == zepix_engine::PluginMode::Shadow)
            .map(|p| p.id.to_string())
            .collect();
        crate::say!(
            "  mode:     {}: on virtual books (zepix shadow report compares them): {}",
            text(&serde_json::to_value(status.mode)?),
            if shadow.is_empty() { "none".to_owned() } else { shadow.join(", ") }
        );
    }
    if !config.market_data.feeds.is_empty() {
        let feeds: Vec<String> = config
            .market_data
            .feeds
            .iter()
            .map(|f| format!("{} {} ({})", f.symbol, f.timeframe, f.source.as_str()))
            .collect();
        crate::say!("  bars:     {}", feeds.join(", "));
    }
    if hold {
        crate::say!("  HOLD:     alerts are stored but not processed until a start without --hold");
    }
    if app.recovered > 0 {
        crate::say!("  recovered {} signals accepted before the last stop", app.recovered);
    }
    for p in &app.problems {
        for m in &p.messages {
            crate::say!("  warning:  {m}");
        }
    }
    if !config.server.bind.ip().is_loopback() && config.server.api_token.is_none() {
        crate::say!(
            "  warning:  listening beyond loopback without [server] api_token: anyone who reaches it can use /api"
        );
    }
    crate::say!("Ctrl-C stops the engine.");
    shutdown_signal().await;
    crate::say!("stopping: finishing work in flight…");
    app.stop().await?;
    crate::say!("stopped.");
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

pub(crate) fn engine_addr(config: &Config, url: Option<String>) -> Result<SocketAddr> {
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
            crate::say!("{:<16} {}", e.name, e.about);
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
        crate::say!("{status} {answer}");
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
            crate::say!("{line}");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crate::say!("  → accepted; still processing (see GET /api/signals/{id})");
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

/// `zepix plugin reload ID`.
pub async fn plugin_reload(config: Option<PathBuf>, id: &str, url: Option<String>) -> Result<ExitCode> {
    let config = load_config(config)?;
    let addr = engine_addr(&config, url)?;
    let token = config.server.api_token.as_deref();
    let mut client = Client::connect(addr).await?;
    let path = format!("/api/plugins/{id}/reload");
    let (status, body) = client.send(Method::POST, &path, Bytes::new(), token).await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
    if status == StatusCode::OK {
        let running = &answer["running"];
        crate::say!("{id} reloaded: {} {} is running", text(&running["name"]), text(&running["version"]));
        Ok(ExitCode::SUCCESS)
    } else {
        let why = answer["error"].as_str().map_or_else(|| String::from_utf8_lossy(&body).into_owned(), str::to_owned);
        eprintln!("reload of {id} failed ({status}): {why}");
        Ok(ExitCode::FAILURE)
    }
}

/// `zepix unlock SYMBOL`.
pub async fn unlock(config: Option<PathBuf>, symbol: &str, url: Option<String>) -> Result<ExitCode> {
    let config = load_config(config)?;
    let addr = engine_addr(&config, url)?;
    let mut client = Client::connect(addr).await?;
    let path = format!("/api/locks/{symbol}/unlock");
    let (status, body) = client.send(Method::POST, &path, Bytes::new(), config.server.api_token.as_deref()).await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
    if status == StatusCode::OK {
        let lock = &answer["unlocked"];
        crate::say!(
            "{} unlocked (it was locked until {}: {})",
            text(&lock["symbol"]),
            text(&lock["until"]),
            text(&lock["reason"])
        );
        Ok(ExitCode::SUCCESS)
    } else {
        let why = answer["error"].as_str().map_or_else(|| String::from_utf8_lossy(&body).into_owned(), str::to_owned);
        eprintln!("unlock of {symbol} failed ({status}): {why}");
        Ok(ExitCode::FAILURE)
    }
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
    crate::say!(
        "zepix at http://{addr}: trading {}{}, mode {}, venue {}",
        text(&s["trading_state"]),
        if s["daily_loss_locked"].as_bool() == Some(true) { " (daily loss limit reached: reduce-only)" } else { "" },
        text(&s["mode"]),
        text(&s["venue"])
    );
    crate::say!(
        "balance {}  equity {}  unrealized {}  realized today {}",
        text(&a["balance"]),
        text(&a["equity"]),
        text(&a["unrealized"]),
        text(&s["realized_today"])
    );
    let positions = s["positions"].as_array().cloned().unwrap_or_default();
    crate::say!("positions ({}):", positions.len());
    for p in &positions {
        crate::say!(
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
    for c in s["chains"].as_array().cloned().unwrap_or_default() {
        let levels = c["plan"]["levels"].as_array().map_or(0, Vec::len);
        crate::say!(
            "chain {} [{}]: {} {} level {} of {levels}, {} open, booked {}",
            text(&c["id"]),
            text(&c["plugin"]),
            text(&c["side"]),
            text(&c["symbol"]),
            c["level"].as_u64().unwrap_or(0) + 1,
            c["open"].as_array().map_or(0, Vec::len),
            text(&c["booked"])
        );
    }
    for l in s["locks"].as_array().cloned().unwrap_or_default() {
        crate::say!("locked: {} until {} ({})", text(&l["symbol"]), text(&l["until"]), text(&l["reason"]));
    }
    crate::say!("plugins:");
    for p in plugins.as_array().cloned().unwrap_or_default() {
        let c = &p["counters"];
        crate::say!(
            "  {:<22} {:<10} {:<7} signals {:<5} executed {:<5} rejected {:<5} failures {}{}",
            text(&p["id"]),
            text(&p["state"]),
            text(&p["mode"]),
            text(&c["signals"]),
            text(&c["executed"]),
            text(&c["rejected"]),
            text(&c["failures"]),
            p["last_error"]["message"].as_str().map(|m| format!("  last error: {m}")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn text(v: &Value) -> String {
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
    crate::say!("{:<22} {:<8} {:<17} {:<16} {:<12} source", "id", "runtime", "strategy", "timeframes", "state");
    for slot in registry.slots() {
        let m = &slot.meta.manifest;
        let tfs: Vec<String> = m.timeframes.iter().map(ToString::to_string).collect();
        let source = match &slot.meta.source {
            zepix_engine::registry::PluginSource::Builtin => "built-in".to_owned(),
            zepix_engine::registry::PluginSource::Dir(d) => d.display().to_string(),
        };
        let runtime =
            serde_json::to_value(m.runtime).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        crate::say!(
            "{:<22} {:<8} {:<17} {:<16} {:<12} {source}",
            m.id,
            runtime,
            m.strategy.as_deref().unwrap_or("-"),
            if tfs.is_empty() { "any".into() } else { tfs.join(",") },
            slot.state
        );
        if let Some(e) = &slot.last_error {
            crate::say!("{:<22} note: {}", "", e.message);
        }
    }
    for p in &problems {
        for m in &p.messages {
            crate::say!("problem: {m}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `plugin validate` waits for a plugin to answer `initialize`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `plugin test` waits for the plugin to decide every signal.
const PLUGIN_TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// `zepix plugin validate PATH`: the manifest, the settings and the files, then for `python` and
/// `process` plugins a handshake dry run: the plugin is started in its sandbox, initialized with
/// a temporary data folder, and stopped.
pub async fn plugin_validate(config: Option<PathBuf>, path: &Path) -> Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let mut checked = None;
    match Manifest::load(path) {
        Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        Ok(manifest) => {
            let (found, discover_problems) = zepix_engine::registry::discover(path.parent().unwrap_or(Path::new(".")));
            problems.extend(
                discover_problems.into_iter().filter(|p| Path::new(&p.origin) == path).flat_map(|p| p.messages),
            );
            let given = found.into_iter().find(|f| f.dir == path).map(|f| f.settings).unwrap_or_default();
            let settings = match Settings::validate(&manifest.settings_schema, &given) {
                Ok(settings) => settings,
                Err(errors) => {
                    let file = path.join("config.toml");
                    problems.extend(errors.iter().map(|e| format!("{}: {e}", file.display())));
                    Settings::default()
                }
            };
            let manifest_file = path.join("plugin.toml");
            match manifest.runtime {
                Runtime::Python => {
                    let entry = path.join(manifest.entry.as_deref().unwrap_or("plugin.py"));
                    if !entry.is_file() {
                        problems.push(format!(
                            "{}: `entry`: {} does not exist",
                            manifest_file.display(),
                            entry.display()
                        ));
                    }
                }
                Runtime::Process => {
                    if let Some(cmd) = manifest.command.as_ref().and_then(|c| c.first()) {
                        let exe = path.join(cmd);
                        if cmd.contains('/') && !exe.is_file() {
                            if path.join("Cargo.toml").is_file() {
                                problems.push(format!(
                                    "{}: `command`: {} is not built yet: run `cargo build --release` in {}",
                                    manifest_file.display(),
                                    exe.display(),
                                    path.display()
                                ));
                            } else {
                                problems.push(format!(
                                    "{}: `command`: {} does not exist",
                                    manifest_file.display(),
                                    exe.display()
                                ));
                            }
                        }
                    }
                }
                Runtime::Builtin => problems.push(format!(
                    "{}: `runtime`: \"builtin\" is only for plugins compiled into the engine; use \"python\" or \"process\"",
                    manifest_file.display()
                )),
            }
            checked = Some((manifest, settings));
        }
    }
    let Some((manifest, settings)) = checked.filter(|_| problems.is_empty()) else {
        for p in &problems {
            crate::say!("error: {p}");
        }
        return Ok(ExitCode::FAILURE);
    };
    // Only a plugin that passed every static check is started.
    let config = load_config(config).unwrap_or_else(|e| {
        eprintln!("warning: {e:#}\nwarning: the handshake uses the default [plugin_system] settings");
        Config::default()
    });
    let handshake = match plugin_handshake(&config, path, &manifest, &settings).await {
        Ok(handshake) => handshake,
        Err(reason) => {
            crate::say!("error: {}: handshake failed: {reason}", path.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    crate::say!(
        "ok: {} {} (runtime {}, strategy {}, {} capabilities)",
        manifest.id,
        manifest.version,
        json_text(&manifest.runtime),
        manifest.strategy.as_deref().unwrap_or("-"),
        manifest.capabilities.len()
    );
    let info = &handshake.info;
    let roles: Vec<String> = info.roles.iter().map(json_text).collect();
    let list = |items: &[String]| if items.is_empty() { "none".to_owned() } else { items.join(", ") };
    // On stderr: stdout keeps the one `ok:` line scripts read.
    eprintln!(
        "handshake: \"{}\" {} answered initialize in {} ms (protocol {})\n  roles: {}\n  hooks: {}\n  sandbox: {}",
        info.name,
        info.version,
        handshake.elapsed.as_millis(),
        info.protocol,
        list(&roles),
        list(&info.hooks),
        handshake.sandbox
    );
    if info.version != manifest.version {
        eprintln!("warning: the plugin says version {}, its plugin.toml says {}", info.version, manifest.version);
    }
    Ok(ExitCode::SUCCESS)
}

/// What a plugin said at a handshake dry run.
struct Handshake {
    info: zepix_plugin::InitInfo,
    sandbox: String,
    elapsed: Duration,
}

/// Starts the plugin as the engine would (sandbox, supervisor), waits for its answer to
/// `initialize` and stops it.
async fn plugin_handshake(
    config: &Config,
    dir: &Path,
    manifest: &Manifest,
    settings: &Settings,
) -> Result<Handshake, String> {
    use zepix_plugin::{RemoteEvent, RemoteLink};
    let data = tempfile::tempdir().map_err(|e| format!("cannot create a temporary data folder: {e}"))?;
    let host = crate::host::host_config(&config.plugin_system, data.path(), None).map_err(|e| format!("{e:#}"))?;
    let spec = zepix_host::launch::plugin_spec(&host, dir, manifest, settings.as_map())?;
    let sandbox = spec.sandbox.clone();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<RemoteEvent>();
    let started = std::time::Instant::now();
    let link = zepix_host::ProcessLink::start(
        &tokio::runtime::Handle::current(),
        spec,
        Arc::new(move |event| {
            // Nobody listens once the dry run is over.
            let _ = tx.send(event);
        }),
    );
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        while let Some(event) = events.recv().await {
            match event {
                RemoteEvent::Ready { info, .. } => return Ok(info),
                RemoteEvent::Failed { reason } => return Err(reason),
                RemoteEvent::Reply { .. } | RemoteEvent::Request { .. } => {}
            }
        }
        Err("the plugin host stopped".to_owned())
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer to `initialize` within {} s", HANDSHAKE_TIMEOUT.as_secs())));
    let elapsed = started.elapsed();
    link.stop();
    drop(link);
    // The supervisor has sent `shutdown` and ended once it drops its sink.
    let _ = tokio::time::timeout(Duration::from_secs(3), async { while events.recv().await.is_some() {} }).await;
    answer.map(|info| Handshake { info, sandbox, elapsed })
}

/// A serde enum's name (`python`, `logic`).
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// `zepix plugin new NAME [--lang python|rust] [--template logic|strategy] [--dir DIR]`.
pub fn plugin_new(
    config: Option<PathBuf>,
    name: &str,
    lang: crate::scaffold::Lang,
    template: crate::scaffold::Template,
    dir: Option<PathBuf>,
) -> Result<ExitCode> {
    use crate::scaffold::{Lang, Template};
    let parent = match dir {
        Some(dir) => dir,
        None => load_config(config)?.plugin_system.plugin_dir,
    };
    let created = crate::scaffold::create_from(&parent, name, lang, template)?;
    let shown = created.display();
    let what = match (lang, template) {
        (Lang::Python, Template::Logic) => "Python logic plugin",
        (Lang::Python, Template::Strategy) => "Python strategy plugin",
        (Lang::Rust, _) => "Rust process plugin",
    };
    crate::say!("created {shown} ({what})");
    match lang {
        Lang::Python => {
            crate::say!("next: edit plugin.py and plugin.toml, then `zepix plugin validate {shown}`");
            crate::say!("      its test: `python3 -m unittest discover -s {shown}` (see README.md)");
        }
        Lang::Rust => {
            crate::say!("next: `cd {shown} && cargo build --release && cargo test`");
            crate::say!("      then `zepix plugin validate {shown}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `zepix plugin package PATH [--out FILE]`.
pub fn plugin_package(path: &Path, out: Option<PathBuf>) -> Result<ExitCode> {
    let packaged = crate::package::package(path, out.as_deref())?;
    crate::say!(
        "packaged {} {}: {} files, {} bytes, each with its SHA-256 in {}",
        packaged.id,
        packaged.version,
        packaged.files,
        packaged.bytes,
        crate::package::MANIFEST_FILE
    );
    crate::say!("wrote {}", packaged.file.display());
    crate::say!("install it with `zepix plugin install {}`", packaged.file.display());
    Ok(ExitCode::SUCCESS)
}

/// `zepix plugin install FILE [--dir DIR] [--force]`.
pub fn plugin_install(config: Option<PathBuf>, file: &Path, dir: Option<PathBuf>, force: bool) -> Result<ExitCode> {
    let dir = match dir {
        Some(dir) => dir,
        None => load_config(config)?.plugin_system.plugin_dir,
    };
    let installed = crate::package::install(file, &dir, force)?;
    crate::say!(
        "installed {} {} in {} ({} files, every SHA-256 verified{})",
        installed.id,
        installed.version,
        installed.dir.display(),
        installed.files,
        if installed.replaced { "; the previous folder was replaced" } else { "" }
    );
    if installed.dir.join("Cargo.toml").is_file() {
        crate::say!("next: `cd {} && cargo build --release`, then `zepix plugin validate`", installed.dir.display());
    } else {
        crate::say!("next: `zepix plugin validate {}`", installed.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a signals file: JSON lines (one alert per line; blank lines and lines starting with `#`
/// are skipped) or one JSON array of alerts. A signal record of the engine's log (`GET
/// /api/signals`: `{"seq", "signal": {…}, …}`) counts as its signal. Every bad alert is listed,
/// by line (or by position in the array).
///
/// # Errors
/// A file that cannot be read, bad alerts, or no alert at all.
pub fn read_test_signals(file: &Path) -> Result<Vec<zepix_model::Signal>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let now = zepix_model::Clock::now(&LiveClock);
    let mut alerts: Vec<(String, Value)> = Vec::new();
    let mut errors = Vec::new();
    if text.trim_start().starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("{}: line {}: not a JSON array of alerts: {e}; nothing was run", file.display(), e.line())
        })?;
        alerts.extend(items.into_iter().enumerate().map(|(i, v)| (format!("alert #{} of the array", i + 1), v)));
    } else {
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match serde_json::from_str::<Value>(trimmed) {
                Ok(value) => alerts.push((format!("line {}", n + 1), value)),
                Err(e) => errors.push(format!("line {}: not JSON: {e}", n + 1)),
            }
        }
    }
    let mut signals = Vec::new();
    for (place, mut value) in alerts {
        if value.get("seq").is_some() && value.get("signal").is_some_and(Value::is_object) {
            value = value["signal"].take();
        }
        if !value.is_object() {
            errors.push(format!("{place}: an alert is a JSON object {{…}}"));
            continue;
        }
        match zepix_model::signal::parse_alert(value.to_string().as_bytes(), now) {
            Ok(parsed) => signals.push(parsed.signal),
            Err(e) => errors.push(format!("{place}: {e}")),
        }
    }
    if !errors.is_empty() {
        bail!("{}: {} bad alert(s); nothing was run:\n  {}", file.display(), errors.len(), errors.join("\n  "));
    }
    if signals.is_empty() {
        bail!("{}: no alerts (one JSON object per line, or a JSON array)", file.display());
    }
    Ok(signals)
}

/// Points `config` at a throw-away engine under `tmp` whose plugin folder holds only `plugin` (an
/// id of a built-in or discovered plugin, or a plugin folder): its data, plugin folder and
/// trading state are fresh, other folder plugins are not discovered. Returns the plugin's id;
/// which plugins run is left to the caller.
///
/// # Errors
/// An unknown plugin, a folder that does not validate, or a temporary folder that cannot be made.
pub fn isolate_plugin(config: &mut Config, plugin: &str, tmp: &Path) -> Result<zepix_model::PluginId> {
    use zepix_engine::registry::PluginSource;
    let given = Path::new(plugin);
    let (id, folder) = if given.join("plugin.toml").is_file() {
        let manifest = Manifest::load(given).map_err(|errors| {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("the plugin does not validate:\n  {}", shown.join("\n  "))
        })?;
        (manifest.id, Some(given.to_path_buf()))
    } else {
        let id = zepix_model::PluginId::new(plugin).map_err(|e| anyhow::anyhow!("{e} (or give a plugin folder)"))?;
        let (registry, _) = app::build_registry(config, &[]);
        let slot = registry.get(&id).with_context(|| {
            format!(
                "no plugin `{id}` in {} or built in: `zepix plugin list` shows them (or give a plugin folder)",
                config.plugin_system.plugin_dir.display()
            )
        })?;
        let folder = match &slot.meta.source {
            PluginSource::Dir(dir) => Some(dir.clone()),
            PluginSource::Builtin => None,
        };
        (id, folder)
    };
    let plugins_dir = tmp.join("plugins");
    std::fs::create_dir_all(&plugins_dir).with_context(|| format!("creating {}", plugins_dir.display()))?;
    if let Some(folder) = &folder {
        let folder = folder.canonicalize().with_context(|| format!("reading {}", folder.display()))?;
        link_plugin_folder(&folder, &plugins_dir.join(id.as_str()))?;
    }
    config.plugin_system.enabled = true;
    config.plugin_system.auto_discover = true;
    config.plugin_system.plugin_dir = plugins_dir;
    config.engine.data_dir = tmp.join("data");
    config.engine.initial_state = zepix_engine::TradingState::Active;
    let (registry, _) = app::build_registry(config, &[]);
    let present: Vec<zepix_model::PluginId> = registry.slots().iter().map(|s| s.meta.id().clone()).collect();
    config.plugins.retain(|k, _| present.contains(k));
    Ok(id)
}

/// `zepix plugin test ID --signals FILE`: runs one plugin (an id, or a plugin folder) against
/// recorded alerts, in an engine of its own on the paper venue with a temporary data folder, and
/// prints what became of each alert.
pub async fn plugin_test(config: Option<PathBuf>, plugin: &str, signals_file: &Path) -> Result<ExitCode> {
    let signals = read_test_signals(signals_file)?;
    let mut config = load_config(config)?;
    let tmp = tempfile::tempdir().context("creating a temporary data folder")?;
    // An engine where this plugin is the only one running.
    let id = isolate_plugin(&mut config, plugin, tmp.path())?;
    let (registry, _) = app::build_registry(&config, &[]);
    for other in registry.slots().iter().map(|s| s.meta.id().clone()) {
        config.plugins.entry(other.clone()).or_default().enabled = other == id;
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("opening a local port")?;
    let app = app::start(&config, Arc::new(LiveClock), listener, Options::default()).await?;
    for p in &app.problems {
        for m in &p.messages {
            eprintln!("warning: {m}");
        }
    }
    let run = run_test_signals(&app.handle, &id, signals).await;
    let status = app.handle.plugins().await.ok().and_then(|all| all.into_iter().find(|p| p.id == id));
    app.stop().await?;
    let rows = run?;

    let account = &config.venue;
    crate::say!(
        "{} against {} signal(s) from {} on the paper venue (balance {}):",
        id,
        rows.len(),
        signals_file.display(),
        account.balance
    );
    print_test_table(&rows);
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for row in &rows {
        *counts.entry(row[5].clone()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(status, n)| format!("{n} {status}")).collect();
    crate::say!("{}", summary.join(", "));
    if let Some(status) = status
        && let Some(e) = &status.last_error
    {
        crate::say!("plugin {} is {}; last error: {}", id, status.state, e.message);
    }
    Ok(ExitCode::SUCCESS)
}

/// Submits every signal, routed to `id`, waits until all are decided and reads their outcomes:
/// one table row each.
async fn run_test_signals(
    handle: &zepix_engine::EngineHandle,
    id: &zepix_model::PluginId,
    signals: Vec<zepix_model::Signal>,
) -> Result<Vec<[String; 8]>> {
    use zepix_engine::Submitted;
    let mut submitted = Vec::new();
    for mut signal in signals {
        signal.plugin_hint = Some(id.clone());
        // Recorded alerts are old by design.
        signal.max_lag = None;
        let columns = [
            signal.id.to_string(),
            signal.kind.to_string(),
            signal.symbol.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
            signal.side.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        ];
        let answer = handle.submit(signal, zepix_model::SignalSource::Cli).await.context("submitting a signal")?;
        submitted.push((columns, matches!(answer, Submitted::Duplicate(_))));
    }
    tokio::time::timeout(PLUGIN_TEST_TIMEOUT, handle.drain())
        .await
        .map_err(|_| {
            anyhow::anyhow!("the plugin did not decide every signal within {} s", PLUGIN_TEST_TIMEOUT.as_secs())
        })?
        .context("waiting for the signals")?;
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, ([signal_id, kind, symbol, side], duplicate)) in submitted.into_iter().enumerate() {
        let number = (n + 1).to_string();
        if duplicate || !seen.insert(signal_id.clone()) {
            let note = "the same id as an earlier alert: not processed again".to_owned();
            rows.push([number, signal_id, kind, symbol, side, "duplicate".into(), note, "-".into()]);
            continue;
        }
        let sid = zepix_model::SignalId::new(&signal_id).map_err(|e| anyhow::anyhow!("{e}"))?;
        let record = handle.store().signal(&sid).context("reading the outcome")?;
        let Some(record) = record else {
            rows.push([number, signal_id, kind, symbol, side, "?".into(), "no outcome stored".into(), "-".into()]);
            continue;
        };
        let o = &record.outcome;
        let why = match (&o.code, &o.reason) {
            (Some(code), Some(reason)) if !code.is_empty() => format!("{code}: {reason}"),
            (Some(code), None) if !code.is_empty() => code.clone(),
            (_, Some(reason)) => reason.clone(),
            _ => "-".into(),
        };
        let mut orders: Vec<String> = o.orders.iter().map(|id| format!("#{id}")).collect();
        if !o.closed.is_empty() {
            let closed: Vec<String> = o.closed.iter().map(|id| format!("#{id}")).collect();
            orders.push(format!("closed {}", closed.join(",")));
        }
        let orders = if orders.is_empty() { "-".to_owned() } else { orders.join(" ") };
        rows.push([number, signal_id, kind, symbol, side, o.status.as_str().to_owned(), why, orders]);
    }
    Ok(rows)
}

fn print_test_table(rows: &[[String; 8]]) {
    const HEADER: [&str; 8] = ["#", "signal", "type", "symbol", "side", "status", "code/reason", "orders"];
    const MAX_REASON: usize = 72;
    let cell = |row: &[String; 8], i: usize| -> String {
        let text = &row[i];
        if i == 6 && text.chars().count() > MAX_REASON {
            text.chars().take(MAX_REASON - 1).chain(['…']).collect()
        } else {
            text.clone()
        }
    };
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in rows {
        for (i, w) in widths.iter_mut().enumerate() {
            *w = (*w).max(cell(row, i).chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 7 { c.clone() } else { format!("{c:<w$}") })
            .collect();
        crate::say!("{}", padded.join("  ").trim_end());
    };
    line(HEADER.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line((0..8).map(|i| cell(row, i)).collect());
    }
}

/// Makes `folder` appear as `link` (a symlink where there are symlinks, else a copy).
#[cfg(unix)]
fn link_plugin_folder(folder: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(folder, link).with_context(|| format!("linking {}", folder.display()))
}

#[cfg(not(unix))]
fn link_plugin_folder(folder: &Path, link: &Path) -> Result<()> {
    std::fs::create_dir_all(link).with_context(|| format!("creating {}", link.display()))?;
    for entry in std::fs::read_dir(folder).with_context(|| format!("reading {}", folder.display()))? {
        let entry = entry?;
        let to = link.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_plugin_folder(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
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
        crate::say!("error: {m}");
    }
    if messages.is_empty() {
        crate::say!(
            "{shown}: ok ({} plugins, webhook on {}, data in {})",
            registry.slots().len(),
            config.server.bind,
            config.engine.data_dir.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        crate::say!("{shown}: {} problem(s)", messages.len());
        Ok(ExitCode::FAILURE)
    }
}
