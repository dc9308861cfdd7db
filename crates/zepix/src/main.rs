//! `zepix`: the command line and the wiring of every crate.

use zepix::{bench, commands};

mod data;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The engine allocates many small, short-lived buffers per alert across threads; mimalloc
// measured faster than the system allocator here (see the README's benchmarks).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// zepix: a trading engine whose logic lives in plugins.
#[derive(Debug, Parser)]
#[command(name = "zepix", version, about)]
struct Cli {
    /// Config file (default: ./zepix.toml when it exists, else embedded defaults).
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the engine: webhook, REST API, plugins, paper venue.
    Run {
        /// Listen here instead of the config's `[server] bind`.
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
        /// Keep data here instead of the config's `[engine] data_dir`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Accept and store alerts but do not process them (maintenance); they are processed at
        /// the next start without --hold.
        #[arg(long)]
        hold: bool,
    },
    /// Send alerts to a running engine.
    Alert {
        #[command(subcommand)]
        command: AlertCmd,
    },
    /// Plugins: list, create, validate, test, package, install, reload.
    Plugin {
        #[command(subcommand)]
        command: PluginCmd,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCmd,
    },
    /// Lift a symbol's cooldown lock (set after a stop loss) in a running engine.
    Unlock {
        /// The symbol, e.g. XAUUSD.
        symbol: String,
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Shadow mode: shadow plugins compared with live ones on the same signals.
    Shadow {
        #[command(subcommand)]
        command: ShadowCmd,
    },
    /// Show a running engine: trading state, account, positions, plugins.
    Status {
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Backtest a strategy plugin on historical bars through the engine, with a report.
    Backtest {
        /// The bars: CSV `timestamp,open,high,low,close,volume` (ISO-8601 or epoch times).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// The strategy plugin: an id, or a plugin folder.
        #[arg(long)]
        plugin: String,
        /// A plugin setting, KEY=VALUE (repeat for several).
        #[arg(long, value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Only bars at or after this time.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Only bars before this time.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// Where signals fill: the signal bar's close, or the next bar's open.
        #[arg(long, default_value = "close", value_parser = ["close", "next-open"])]
        fill: String,
        /// Write report.json and index.html (equity curve, drawdown, trades) here.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// The symbol the bars are of (its contract specs come from the symbol table).
        #[arg(long, default_value = "BTCUSDT")]
        symbol: String,
        /// The bars' timeframe (default: the spacing of the first bars).
        #[arg(long)]
        timeframe: Option<zepix_model::Timeframe>,
        /// Sweep a setting: NAME=FROM..TO:STEP or NAME=A,B,C (repeat; runs every combination).
        #[arg(long, value_name = "NAME=SPEC")]
        sweep: Vec<String>,
        /// The metric a sweep's table is sorted by.
        #[arg(long, default_value = "net_pnl")]
        sort: String,
        /// Recorded alerts (JSON lines or an array, e.g. the engine's signal log) replayed at their
        /// timestamps against the bars, routed to --plugin (which may then be a logic plugin).
        #[arg(long, value_name = "FILE")]
        signals: Option<PathBuf>,
    },
    /// Market data files: `data generate` writes synthetic bars.
    Data {
        #[command(subcommand)]
        command: data::DataCmd,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCmd,
    },
}

#[derive(Debug, Subcommand)]
enum AlertCmd {
    /// Send an alert: a JSON file, inline JSON, or a ready example.
    Send {
        /// A file holding one alert (JSON).
        file: Option<PathBuf>,
        /// The alert as inline JSON.
        #[arg(long, conflicts_with = "file")]
        json: Option<String>,
        /// A ready example (`--example list` shows them).
        #[arg(long, conflicts_with_all = ["file", "json"])]
        example: Option<String>,
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
        /// Webhook secret (default: the engine's, from config, environment or data dir).
        #[arg(long)]
        secret: Option<String>,
        /// Data directory holding the generated secret (default: the config's).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCmd {
    /// List every plugin the engine would load, and every problem.
    List,
    /// Validate a plugin folder: manifest, settings, files, and a handshake with the plugin.
    Validate {
        /// The plugin folder.
        path: PathBuf,
    },
    /// Promote a shadow plugin to live in a running engine (HYBRID): its next orders go to the venue.
    Promote {
        /// Plugin id.
        id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Move a live plugin to shadow in a running engine (HYBRID): its next orders go to its
    /// virtual book.
    Shadow {
        /// Plugin id.
        id: String,
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Reload a process plugin in a running engine (new code, no restart).
    Reload {
        /// Plugin id.
        id: String,
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Create a plugin folder from a template: manifest, code, default config, README, a test.
    New {
        /// Plugin id (lowercase letters, digits, _).
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value_t)]
        lang: zepix::scaffold::Lang,
        /// What the plugin does: decide on routed signals, or turn bars into signals.
        #[arg(long, value_enum, default_value_t)]
        template: zepix::scaffold::Template,
        /// Where to create it (default: the config's plugin_dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run a plugin against recorded alerts on the paper venue and show what became of each.
    Test {
        /// Plugin id (or a plugin folder).
        id: String,
        /// The alerts: JSON lines (one alert per line) or a JSON array.
        #[arg(long, value_name = "FILE")]
        signals: PathBuf,
    },
    /// Write a `.zpx` archive of a plugin folder, with the SHA-256 of every file.
    Package {
        /// The plugin folder.
        path: PathBuf,
        /// The archive (default: ./<id>-<version>.zpx).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify a `.zpx` archive and install its plugin; a changed archive is refused.
    Install {
        /// The archive.
        file: PathBuf,
        /// The plugins folder (default: the config's plugin_dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Replace an installed folder of the same id.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ShadowCmd {
    /// Per plugin and book: trades, P&L, win rate, drawdown, decisions; shadow against live:
    /// agreement and fill differences; the recent signals one by one.
    Report {
        /// The engine's address (default: the config's bind address).
        #[arg(long)]
        url: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Check a config file and list every problem.
    Check {
        /// The file (default: --config or ./zepix.toml).
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Drive a fresh engine over loopback with concurrent keep-alive connections.
    Webhook {
        /// Alerts to send.
        #[arg(long, default_value_t = 100_000)]
        signals: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// Signals through parse → inbox → route → plugin → risk → fill → store, in one process.
    Pipeline {
        /// Signals to push.
        #[arg(long, default_value_t = 100_000)]
        signals: usize,
    },
    /// Process plugins: call round trips (Python, Rust) and signals/s through a Python plugin.
    Plugin {
        /// Round trips measured per plugin.
        #[arg(long, default_value_t = 20_000)]
        calls: usize,
        /// Signals sent end to end, per plugin.
        #[arg(long, default_value_t = 50_000)]
        signals: usize,
    },
}

fn main() -> ExitCode {
    // Hidden roles of this binary, chosen before anything else starts (no threads, no runtime).
    let mut args = std::env::args_os().skip(1);
    match args.next().as_deref().and_then(std::ffi::OsStr::to_str) {
        Some(zepix::host::SANDBOX_COMMAND) => return zepix_host::sandbox::launcher_main(args),
        Some(zepix::host::ECHO_PLUGIN_COMMAND) => {
            return if bench::echo_plugin().is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
        }
        _ => {}
    }
    let cli = Cli::parse();
    // Benchmarks and backtests log only warnings: a log line per trade would be what they measure.
    let default_level = if matches!(cli.command, Cmd::Bench { .. } | Cmd::Backtest { .. }) { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZEPIX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config_file = cli.config.clone();
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::Run { bind, data_dir, hold } => commands::run(config_file, bind, data_dir, hold).await,
            Cmd::Alert { command: AlertCmd::Send { file, json, example, url, secret, data_dir } } => {
                commands::alert_send(config_file, file, json, example, url, secret, data_dir).await
            }
            Cmd::Plugin { command: PluginCmd::List } => commands::plugin_list(config_file),
            Cmd::Plugin { command: PluginCmd::Validate { path } } => {
                commands::plugin_validate(config_file, &path).await
            }
            Cmd::Plugin { command: PluginCmd::Reload { id, url } } => {
                commands::plugin_reload(config_file, &id, url).await
            }
            Cmd::Plugin { command: PluginCmd::New { name, lang, template, dir } } => {
                commands::plugin_new(config_file, &name, lang, template, dir)
            }
            Cmd::Plugin { command: PluginCmd::Test { id, signals } } => {
                commands::plugin_test(config_file, &id, &signals).await
            }
            Cmd::Plugin { command: PluginCmd::Package { path, out } } => commands::plugin_package(&path, out),
            Cmd::Plugin { command: PluginCmd::Install { file, dir, force } } => {
                commands::plugin_install(config_file, &file, dir, force)
            }
            Cmd::Config { command: ConfigCmd::Check { file } } => commands::config_check(file.or(config_file)),
            Cmd::Status { url } => commands::status(config_file, url).await,
            Cmd::Unlock { symbol, url } => commands::unlock(config_file, &symbol, url).await,
            Cmd::Shadow { command: ShadowCmd::Report { url, json } } => {
                zepix::shadow::report(config_file, url, json).await
            }
            Cmd::Plugin { command: PluginCmd::Promote { id, yes, url } } => {
                zepix::shadow::set_mode(config_file, &id, url, true, yes).await
            }
            Cmd::Plugin { command: PluginCmd::Shadow { id, url } } => {
                zepix::shadow::set_mode(config_file, &id, url, false, true).await
            }
            Cmd::Backtest { data, plugin, set, from, to, fill, report, symbol, timeframe, sweep, sort, signals } => {
                let fill = fill.parse().map_err(anyhow::Error::msg);
                match fill {
                    Ok(fill) => {
                        let args = zepix::backtest::BacktestArgs {
                            data,
                            plugin,
                            set,
                            from,
                            to,
                            fill,
                            report,
                            symbol,
                            timeframe,
                            sweep,
                            sort,
                            signals,
                        };
                        zepix::backtest::backtest(config_file, args).await
                    }
                    Err(e) => Err(e),
                }
            }
            Cmd::Data { command } => data::run(command),
            Cmd::Bench { command: BenchCmd::Webhook { signals, connections } } => {
                bench::webhook(signals, connections).await
            }
            Cmd::Bench { command: BenchCmd::Pipeline { signals } } => bench::pipeline(signals).await,
            Cmd::Bench { command: BenchCmd::Plugin { calls, signals } } => bench::plugin(calls, signals).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
