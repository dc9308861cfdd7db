//! The plugin manifest (`plugin.toml`), and its validation with errors naming the file and key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zepix_model::{PluginId, Symbol, Timeframe};

use crate::capability::Capability;
use crate::settings::{SettingSchema, check_schema};

/// The protocol version this engine speaks to process plugins.
pub const PROTOCOL_VERSION: u32 = 1;

/// How a plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    /// Compiled into the engine.
    Builtin,
    /// A Python module run by the SDK's runner in a sandboxed process.
    Python,
    /// Any executable speaking the line protocol.
    Process,
}

/// What a plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Receives routed signals.
    Logic,
    /// Turns bars into signals.
    Strategy,
    /// Streams bars and ticks.
    DataSource,
}

/// Resource limits of a process plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Address-space limit in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// Per-call timeout in milliseconds.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u32,
}

const fn default_memory_mb() -> u32 {
    512
}
const fn default_call_timeout_ms() -> u32 {
    5_000
}
/// The engine's ceiling for any plugin's call timeout.
pub const MAX_CALL_TIMEOUT_MS: u32 = 30_000;

impl Default for Limits {
    fn default() -> Self {
        Self { memory_mb: default_memory_mb(), call_timeout_ms: default_call_timeout_ms() }
    }
}

/// A plugin manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique id.
    pub id: PluginId,
    /// Display name.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// Who wrote it.
    #[serde(default)]
    pub author: String,
    /// One paragraph.
    #[serde(default)]
    pub description: String,
    /// How it runs.
    pub runtime: Runtime,
    /// Entry file for `python` (default `plugin.py`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Command line for `process`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Protocol version spoken.
    #[serde(default = "default_protocol")]
    pub protocol: u32,
    /// Roles.
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
    /// The strategy name it owns (routing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Timeframes it handles; empty means any.
    #[serde(default)]
    pub timeframes: Vec<Timeframe>,
    /// Symbols it may trade; empty means any.
    #[serde(default)]
    pub symbols: Vec<Symbol>,
    /// Services it may call.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Order in the `on_signal_received` hook chain: lower runs first.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Settings and their schema.
    #[serde(default)]
    pub settings_schema: BTreeMap<String, SettingSchema>,
}

const fn default_protocol() -> u32 {
    PROTOCOL_VERSION
}
fn default_roles() -> Vec<Role> {
    vec![Role::Logic]
}
const fn default_priority() -> i32 {
    100
}

/// A manifest problem: the file, the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The manifest file (or `<builtin>`).
    pub file: PathBuf,
    /// The key (`capabilities[2]`, `settings_schema.adx.default`), or empty for the whole file.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: `{}`: {}", self.file.display(), self.key, self.message)
        }
    }
}

impl Manifest {
    /// Reads and validates `plugin.toml` inside `dir`.
    ///
    /// # Errors
    /// Every problem found, each naming the file and the key.
    pub fn load(dir: &Path) -> Result<Self, Vec<ManifestError>> {
        let file = dir.join("plugin.toml");
        let text = std::fs::read_to_string(&file).map_err(|e| {
            vec![ManifestError { file: file.clone(), key: String::new(), message: format!("cannot read: {e}") }]
        })?;
        Self::parse(&text, &file)
    }

    /// Parses and validates manifest text; `file` is used in errors.
    ///
    /// # Errors
    /// Every problem found, each naming the file and the key.
    pub fn parse(text: &str, file: &Path) -> Result<Self, Vec<ManifestError>> {
        let manifest: Self = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().to_owned();
            let key = e.span().map(|s| key_at(text, s.start)).unwrap_or_default();
            vec![ManifestError {
                file: file.to_owned(),
                key,
                message: match line {
                    Some(l) => format!("{message} (line {l})"),
                    None => message,
                },
            }]
        })?;
        manifest.validate(file)?;
        Ok(manifest)
    }

    /// Semantic checks beyond the TOML shape.
    ///
    /// # Errors
    /// Every problem found.
    pub fn validate(&self, file: &Path) -> Result<(), Vec<ManifestError>> {
        let mut errors = Vec::new();
        let mut err = |key: &str, message: String| {
            errors.push(ManifestError { file: file.to_owned(), key: key.to_owned(), message });
        };
        if self.name.trim().is_empty() {
            err("name", "must not be empty".into());
        }
        if !is_semver(&self.version) {
            err("version", format!("`{}` is not a version such as 1.0.0", self.version));
        }
        if self.protocol != PROTOCOL_VERSION && self.runtime != Runtime::Builtin {
            err(
                "protocol",
                format!("this engine speaks protocol {PROTOCOL_VERSION}, the plugin asks for {}", self.protocol),
            );
        }
        match self.runtime {
            Runtime::Process if self.command.as_ref().is_none_or(Vec::is_empty) => {
                err("command", "runtime = \"process\" needs a command, e.g. command = [\"./my_plugin\"]".into());
            }
            Runtime::Python if self.command.is_some() => {
                err(
                    "command",
                    "runtime = \"python\" runs `entry`; remove `command` or use runtime = \"process\"".into(),
                );
            }
            _ => {}
        }
        if self.roles.is_empty() {
            err("roles", "needs at least one of logic, strategy, data_source".into());
        }
        if self.roles.contains(&Role::Logic) && self.strategy.is_none() {
            err("strategy", "a logic plugin names the strategy it owns, e.g. strategy = \"MY_STRATEGY\"".into());
        }
        if let Some(s) = &self.strategy
            && (s.is_empty() || s.to_ascii_uppercase() != *s)
        {
            err("strategy", format!("`{s}` must be upper-case, e.g. V3_COMBINED"));
        }
        if self.limits.call_timeout_ms == 0 || self.limits.call_timeout_ms > MAX_CALL_TIMEOUT_MS {
            err(
                "limits.call_timeout_ms",
                format!("{} is outside 1..={MAX_CALL_TIMEOUT_MS}", self.limits.call_timeout_ms),
            );
        }
        if self.limits.memory_mb < 32 {
            err(
                "limits.memory_mb",
                format!("{} MiB is too small to start a process (at least 32)", self.limits.memory_mb),
            );
        }
        for (name, rule) in &self.settings_schema {
            if let Err(message) = check_schema(rule) {
                err(&format!("settings_schema.{name}"), message);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Whether the manifest grants `capability`.
    #[must_use]
    pub fn allows(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// The `key = ` at the start of the line holding byte `offset`, for error messages.
fn key_at(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    line.split_once('=').map(|(k, _)| k.trim().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "my_logic"
name = "My logic"
version = "0.1.0"
runtime = "python"
strategy = "MY_LOGIC"
timeframes = ["5", "15m"]
capabilities = ["orders", "positions"]
[settings_schema.threshold]
type = "number"
default = 25
"#;

    #[test]
    fn parses_a_good_manifest() {
        let m = Manifest::parse(GOOD, Path::new("plugins/my_logic/plugin.toml")).unwrap();
        assert_eq!(m.id.as_str(), "my_logic");
        assert_eq!(m.timeframes, [Timeframe::M5, Timeframe::M15]);
        assert!(m.allows(Capability::Orders) && !m.allows(Capability::Db));
        assert_eq!(m.limits, Limits::default());
    }

    #[test]
    fn unknown_keys_name_file_key_and_line() {
        let text = GOOD.replace("runtime = \"python\"", "runtime = \"python\"\ncolour = \"red\"");
        let errs = Manifest::parse(&text, Path::new("p/plugin.toml")).unwrap_err();
        let shown = errs[0].to_string();
        assert!(shown.starts_with("p/plugin.toml: `colour`: unknown field `colour`"), "{shown}");
        assert!(shown.contains("line 6"), "{shown}");
    }

    #[test]
    fn bad_capability_and_id() {
        let errs = Manifest::parse(&GOOD.replace("\"positions\"", "\"broker\""), Path::new("x.toml")).unwrap_err();
        assert_eq!(errs[0].key, "capabilities");
        assert!(errs[0].message.contains("broker"), "{}", errs[0].message);
        let errs = Manifest::parse(&GOOD.replace("my_logic\"", "My Logic\""), Path::new("x.toml")).unwrap_err();
        assert_eq!(errs[0].key, "id");
    }

    #[test]
    fn semantic_problems_are_all_listed() {
        let text = GOOD
            .replace("0.1.0", "one")
            .replace("MY_LOGIC", "my_logic")
            .replace("default = 25", "default = \"high\"")
            .replace("runtime = \"python\"", "runtime = \"process\"\nprotocol = 2");
        let errs = Manifest::parse(&text, Path::new("x.toml")).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["version", "protocol", "command", "strategy", "settings_schema.threshold"]);
    }
}
