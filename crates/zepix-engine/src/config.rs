//! The engine's part of `zepix.toml`: `[engine]`, `[risk]`, `[plugin_system]`, `[plugins.<id>]`.

use std::path::PathBuf;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zepix_model::Symbol;

use crate::risk::{RiskConfig, TradingState};

/// Execution mode. Only `LIVE` is available in this release; shadow mode comes with the shadow
/// manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    /// Every plugin trades on the live venue.
    #[default]
    #[serde(rename = "LIVE")]
    Live,
    /// Every plugin trades on virtual books.
    #[serde(rename = "SHADOW")]
    Shadow,
    /// Each plugin's own mode decides.
    #[serde(rename = "HYBRID")]
    Hybrid,
}

/// `[engine]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Where the databases and the inbox live.
    pub data_dir: PathBuf,
    /// Execution mode.
    pub mode: Mode,
    /// Local time of the daily reset (`HH:MM`).
    #[serde(with = "hhmm")]
    pub daily_reset: NaiveTime,
    /// Time zone of the daily reset (IANA name).
    pub timezone: String,
    /// Trading state on the very first start (afterwards the stored state wins).
    pub initial_state: TradingState,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            mode: Mode::Live,
            daily_reset: NaiveTime::from_hms_opt(3, 35, 0).unwrap_or_default(),
            timezone: "Asia/Kolkata".into(),
            initial_state: TradingState::Active,
        }
    }
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%H:%M"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time of day such as 03:35")))
    }
}

/// `[plugin_system]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSystemConfig {
    /// Plugins run at all.
    pub enabled: bool,
    /// Folder scanned for plugins.
    pub plugin_dir: PathBuf,
    /// Scan it at start.
    pub auto_discover: bool,
    /// The Python interpreter for `runtime = "python"` plugins.
    pub python: PathBuf,
    /// Refuse to start a process plugin when this kernel cannot give it the full sandbox
    /// (Landlock and seccomp); otherwise it runs with a loud warning and `sandbox: partial`.
    pub require_full_sandbox: bool,
    /// Reload a process plugin when a file in its folder changes (opt-in).
    pub watch: bool,
}

impl Default for PluginSystemConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            plugin_dir: PathBuf::from("plugins"),
            auto_discover: true,
            python: PathBuf::from("python3"),
            require_full_sandbox: false,
            watch: false,
        }
    }
}

/// A plugin's own mode (used when the engine runs `HYBRID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PluginMode {
    /// Trades on the live venue.
    #[default]
    Live,
    /// Trades on a virtual book.
    Shadow,
}

/// `[plugins.<id>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginConfig {
    /// Runs at start (an operator's later enable/disable is remembered and wins).
    pub enabled: bool,
    /// Its mode.
    pub mode: PluginMode,
    /// Settings, validated against the plugin's schema.
    pub settings: Map<String, Value>,
    /// Replaces the manifest's symbol allowlist.
    pub symbols: Option<Vec<Symbol>>,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self { enabled: true, mode: PluginMode::Live, settings: Map::new(), symbols: None }
    }
}

/// Everything the kernel is configured with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelConfig {
    /// `[engine]`.
    pub engine: EngineConfig,
    /// `[risk]`.
    pub risk: RiskConfig,
}
