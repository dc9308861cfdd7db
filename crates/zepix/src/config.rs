//! `zepix.toml`: every key has a default; `${VAR}` and `${VAR:-default}` are substituted; unknown
//! keys are errors naming their path; every problem is listed at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use zepix_engine::{EngineConfig, PluginConfig, PluginSystemConfig, RiskConfig};
use zepix_model::{PluginId, Symbol, SymbolSpec, SymbolTable};
use zepix_server::ServerConfig;
use zepix_venue::PaperConfig;

/// `[telegram]`: the bots, their users and roles, what the notifier sends.
pub use zepix_telegram::{BotConfig, TelegramConfig, TelegramUser};

/// The whole configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[engine]`.
    pub engine: EngineConfig,
    /// `[plugin_system]`.
    pub plugin_system: PluginSystemConfig,
    /// `[venue]`.
    pub venue: PaperConfig,
    /// `[risk]`.
    pub risk: RiskConfig,
    /// `[symbols.<NAME>]`, added to or replacing the built-in symbol table.
    pub symbols: BTreeMap<Symbol, SymbolSpec>,
    /// `[plugins.<id>]`.
    pub plugins: BTreeMap<PluginId, PluginConfig>,
    /// `[telegram]`.
    pub telegram: TelegramConfig,
    /// `[market_data]`.
    pub market_data: crate::market::MarketDataConfig,
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
}

const SECTIONS: [&str; 9] =
    ["server", "engine", "plugin_system", "venue", "risk", "symbols", "plugins", "telegram", "market_data"];

impl Config {
    /// Reads a config file; `None` gives the embedded defaults.
    ///
    /// # Errors
    /// Every problem found, each naming its line or key.
    pub fn load(file: Option<&Path>) -> Result<Self, Vec<String>> {
        let Some(file) = file else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(file).map_err(|e| vec![format!("{}: cannot read: {e}", file.display())])?;
        let mut config = Self::parse(&text, |name| std::env::var(name).ok())
            .map_err(|problems| problems.into_iter().map(|p| format!("{}: {p}", file.display())).collect::<Vec<_>>())?;
        config.file = Some(file.to_owned());
        Ok(config)
    }

    /// Parses config text, looking variables up with `env`.
    ///
    /// # Errors
    /// Every problem found.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let (config, problems) = Self::parse_lenient(text, env);
        if problems.is_empty() { Ok(config) } else { Err(problems) }
    }

    /// Parses as much as can be read, with every problem found: sections (or keys) that cannot
    /// be read keep their defaults, so later checks (plugin settings) still run.
    pub fn parse_lenient(text: &str, env: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let text = substitute(text, &env, &mut problems);
        let table: toml::Table = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
                problems.push(match line {
                    Some(l) => format!("line {l}: {}", e.message()),
                    None => e.message().to_owned(),
                });
                return (Self::default(), problems);
            }
        };
        let mut config = Self::default();
        for (key, value) in table {
            match key.as_str() {
                "server" => set(&mut config.server, section(&key, value, &mut problems)),
                "engine" => set(&mut config.engine, section(&key, value, &mut problems)),
                "plugin_system" => set(&mut config.plugin_system, section(&key, value, &mut problems)),
                "venue" => set(&mut config.venue, section(&key, value, &mut problems)),
                "risk" => set(&mut config.risk, section(&key, value, &mut problems)),
                "telegram" => set(&mut config.telegram, section(&key, value, &mut problems)),
                "market_data" => set(&mut config.market_data, section(&key, value, &mut problems)),
                "symbols" => keyed(&key, value, &mut problems, &mut config.symbols, |k| {
                    Symbol::new(k).map_err(|e| e.to_string())
                }),
                "plugins" => keyed(&key, value, &mut problems, &mut config.plugins, |k| {
                    PluginId::new(k).map_err(|e| e.to_string())
                }),
                other => problems.push(format!("unknown section [{other}]: expected one of {}", SECTIONS.join(", "))),
            }
        }
        problems.extend(config.check());
        (config, problems)
    }

    /// Checks that go beyond the shape of each section.
    fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.venue.validate() {
            problems.push(format!("[venue] {e}"));
        }
        if let Err(e) = zepix_engine::risk::parse_hours(&self.risk.recovery_hours_utc) {
            problems.push(format!("[risk] recovery_hours_utc: {e}"));
        }
        if self.risk.max_lots_per_symbol < rust_decimal::Decimal::ZERO {
            problems.push(format!(
                "[risk] max_lots_per_symbol = {}: expected 0 (off) or a positive number of lots",
                self.risk.max_lots_per_symbol
            ));
        }
        if let Err(e) = zepix_engine::daily::DailySchedule::new(self.engine.daily_reset, &self.engine.timezone) {
            problems.push(format!("[engine] timezone: {e}"));
        }
        for (id, plugin) in &self.plugins {
            // A plugin meant for shadow trading must never trade live because the engine's mode
            // was left at LIVE.
            if plugin.mode == zepix_engine::PluginMode::Shadow && self.engine.mode == zepix_engine::Mode::Live {
                problems.push(format!(
                    "[plugins.{id}] mode = \"shadow\" needs [engine] mode = \"HYBRID\" (or \"SHADOW\"): \
                     under \"LIVE\" it would trade live"
                ));
            }
        }
        for (symbol, spec) in &self.symbols {
            if spec.pip_size <= rust_decimal::Decimal::ZERO || spec.contract_size <= rust_decimal::Decimal::ZERO {
                problems.push(format!("[symbols.{symbol}] pip_size and contract_size must be positive"));
            }
            if spec.lot_min <= rust_decimal::Decimal::ZERO || spec.lot_min > spec.lot_max {
                problems.push(format!("[symbols.{symbol}] lot_min must be positive and at most lot_max"));
            }
        }
        if let Err(e) = self.server.validate() {
            problems.push(format!("[server] {}: {}", e.key, e.message));
        }
        problems.extend(self.telegram.problems().into_iter().map(|p| format!("[telegram] {p}")));
        problems.extend(self.market_data.problems().into_iter().map(|p| format!("[market_data] {p}")));
        problems
    }

    /// The symbol table: built-ins plus `[symbols]`.
    #[must_use]
    pub fn symbol_table(&self) -> SymbolTable {
        let mut table = SymbolTable::default();
        for (symbol, spec) in &self.symbols {
            table.insert(symbol.clone(), spec.clone());
        }
        table
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` outside comments.
fn substitute(text: &str, env: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                problems.push(format!("line {}: `${{` without a closing `}}`", n + 1));
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            match (env(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => problems.push(format!(
                    "line {}: ${{{name}}} is not set (write ${{{name}:-default}} to give a default)",
                    n + 1
                )),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    out
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Deserializes one section, collecting every unknown key (not just the first) and any other
/// error. Unknown keys are reported and set aside so the rest of the section is still read;
/// `None` when the section cannot be read at all.
fn section<T: DeserializeOwned>(path: &str, mut value: toml::Value, problems: &mut Vec<String>) -> Option<T> {
    loop {
        match value.clone().try_into::<T>() {
            Ok(parsed) => return Some(parsed),
            Err(e) => {
                let message = e.message().trim().to_owned();
                let unknown = message
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split_once('`'))
                    .map(|(name, rest)| (name.to_owned(), rest.trim_start_matches(',').trim().to_owned()));
                let removed = match (&unknown, value.as_table_mut()) {
                    (Some((name, _)), Some(table)) => table.remove(name).is_some(),
                    _ => false,
                };
                match unknown {
                    Some((name, expected)) if removed => {
                        problems.push(format!("[{path}] unknown key `{name}`: {expected}"));
                    }
                    _ => {
                        problems.push(format!("[{path}] {message}"));
                        return None;
                    }
                }
            }
        }
    }
}

/// Deserializes a table of named sub-tables (`[plugins.<id>]`, `[symbols.<NAME>]`).
fn keyed<K: Ord, T: DeserializeOwned>(
    path: &str,
    value: toml::Value,
    problems: &mut Vec<String>,
    into: &mut BTreeMap<K, T>,
    key: impl Fn(&str) -> Result<K, String>,
) {
    let toml::Value::Table(table) = value else {
        problems.push(format!("[{path}] must be a table of tables"));
        return;
    };
    for (name, sub) in table {
        let sub_path = format!("{path}.{name}");
        match key(&name) {
            Ok(k) => {
                if let Some(parsed) = section(&sub_path, sub, problems) {
                    into.insert(k, parsed);
                }
            }
            Err(e) => problems.push(format!("[{sub_path}] {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "ZEPIX_WEBHOOK_SECRET").then(|| "s3cret".to_owned())
    }

    #[test]
    fn the_design_example_parses() {
        let text = r#"
[server]
bind = "127.0.0.1:9090"
secret = "${ZEPIX_WEBHOOK_SECRET}"   # with no config, the secret comes from ZEPIX_WEBHOOK_SECRET
[engine]
data_dir = "${ZEPIX_DATA:-var/zepix}"
mode = "LIVE"
[plugin_system]
enabled = true
plugin_dir = "plugins"
auto_discover = true
[venue]
kind = "paper"
balance = 10000
[plugins.v3_combined]
enabled = true
mode = "live"
[plugins.v3_combined.settings]
require_trend_alignment = false
[symbols.NAS100]
pip_size = 1
contract_size = 1
lot_min = 0.1
lot_max = 50
lot_step = 0.1
[telegram]
api_url = "https://api.telegram.org"
[telegram.controller]
token = "${ZEPIX_TG_CONTROLLER_TOKEN:-}"
chat_id = 0
[[telegram.users]]
id = 123456789
role = "admin"
"#;
        let config = Config::parse(text, env).unwrap();
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:9090");
        assert_eq!(config.server.secret.as_deref(), Some("s3cret"));
        assert_eq!(config.engine.data_dir, PathBuf::from("var/zepix"));
        let v3 = &config.plugins[&PluginId::new("v3_combined").unwrap()];
        assert_eq!(v3.settings["require_trend_alignment"], serde_json::json!(false));
        assert!(config.symbol_table().get(&Symbol::new("NAS100").unwrap()).is_some());
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let text = r#"
[server]
bnd = "x"
colour = "red"
[engine]
mode = "HYBRID"
timezone = "Mars/Base"
[risk]
max_open_positions = "many"
[plugins.Bad-Id]
[plugins.v3_combined]
enabled = "yes"
[database]
url = "${DATABASE_URL}"
"#;
        let problems = Config::parse(text, env).unwrap_err();
        let joined = problems.join("\n");
        for needle in [
            "line 14: ${DATABASE_URL} is not set",
            "[server] unknown key `bnd`",
            "[server] unknown key `colour`",
            "[risk] invalid type: string \"many\"",
            "[plugins.Bad-Id] invalid plugin id",
            "[plugins.v3_combined] invalid type: string \"yes\"",
            "unknown section [database]",
            "[engine] timezone: `Mars/Base`",
        ] {
            assert!(joined.contains(needle), "missing `{needle}` in:\n{joined}");
        }
    }

    #[test]
    fn risk_limits_out_of_range_are_refused() {
        let bad = Config::parse("[risk]\nsl_cooldown_minutes = -5\n", env).unwrap_err().join("\n");
        assert!(bad.contains("[risk] invalid value: integer `-5`, expected u32"), "{bad}");
        let bad = Config::parse("[risk]\nmax_lots_per_symbol = -1\n", env).unwrap_err().join("\n");
        assert!(bad.contains("[risk] max_lots_per_symbol = -1: expected 0 (off) or a positive number"), "{bad}");
        let bad = Config::parse("[risk]\nrecovery_hours_utc = \"7-20\"\n", env).unwrap_err().join("\n");
        assert!(bad.contains("[risk] recovery_hours_utc: `7-20` is not hours such as 07:00-20:00"), "{bad}");
        let ok = Config::parse("[risk]\nsl_cooldown_minutes = 30\nmax_lots_per_symbol = 2.5\n", env).unwrap();
        assert_eq!(ok.risk.sl_cooldown_minutes, 30);
    }

    #[test]
    fn a_shadow_plugin_under_a_live_engine_is_refused() {
        let shadow = "[plugins.signal_executor]\nmode = \"shadow\"\n";
        let problems = Config::parse(shadow, env).unwrap_err().join("\n");
        assert!(problems.contains("[plugins.signal_executor] mode = \"shadow\" needs [engine] mode = \"HYBRID\""));
        let hybrid = format!("[engine]\nmode = \"HYBRID\"\n{shadow}");
        let config = Config::parse(&hybrid, env).unwrap();
        assert_eq!(config.engine.mode, zepix_engine::Mode::Hybrid);
    }

    #[test]
    fn no_file_means_defaults() {
        let config = Config::load(None).unwrap();
        assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.engine.data_dir, PathBuf::from("data"));
    }

    #[test]
    fn market_data_feeds_are_checked() {
        let good =
            "[market_data]\n[[market_data.feeds]]\nsource = \"binance\"\nsymbol = \"btcusdt\"\ntimeframe = \"1m\"\n";
        let config = Config::parse(good, env).unwrap();
        assert_eq!(config.market_data.feeds[0].symbol.as_str(), "BTCUSDT");
        assert_eq!(config.market_data.binance_url, "wss://stream.binance.com:9443");
        for (text, needle) in [
            (
                "[[market_data.feeds]]\nsource = \"binance\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"7m\"\n",
                "feeds[0] timeframe",
            ),
            (
                "[[market_data.feeds]]\nsource = \"ftx\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1m\"\n",
                "unknown variant `ftx`",
            ),
            (
                "[[market_data.feeds]]\nsource = \"random_walk\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1m\"\nevery_ms = 1\n",
                "every_ms",
            ),
            (
                "[[market_data.feeds]]\nsource = \"binance\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1m\"\ncolour = 1\n",
                "colour",
            ),
            (
                "[[market_data.feeds]]\nsource = \"binance\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1m\"\n\
                 [[market_data.feeds]]\nsource = \"random_walk\"\nsymbol = \"BTCUSDT\"\ntimeframe = \"1m\"\n",
                "configured twice",
            ),
        ] {
            let text = format!("[market_data]\n{text}");
            let problems = Config::parse(&text, env).unwrap_err();
            assert!(problems.iter().any(|p| p.contains("market_data") && p.contains(needle)), "{needle}: {problems:?}");
        }
    }
}
