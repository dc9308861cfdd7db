//! The plugin registry: built-ins from one explicit table plus folders discovered under
//! `plugins/`, each validated, built and tracked through its lifecycle.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use zepix_model::{PluginId, SignalId, Symbol, Timeframe};
use zepix_plugin::{
    BuildFn, BuiltinPlugin, Capability, InitInfo, Manifest, Plugin, RemoteLink, Runtime, Service, Settings,
};

use crate::config::{PluginConfig, PluginMode};
use crate::lifecycle::PluginState;
use crate::metrics::{CallStatsView, ServiceMetrics};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginSource {
    /// The built-in table.
    Builtin,
    /// A folder under `plugins/`.
    Dir(PathBuf),
}

/// A plugin's static facts: manifest, validated settings, where it came from.
#[derive(Debug, Clone)]
pub struct PluginMeta {
    /// Manifest.
    pub manifest: Manifest,
    /// Validated settings, defaults filled.
    pub settings: Settings,
    /// Origin.
    pub source: PluginSource,
    /// Symbols it may trade (config overrides manifest); empty means any.
    pub symbols: Vec<Symbol>,
    /// Its mode.
    pub mode: PluginMode,
    /// Enabled in config.
    pub enabled_in_config: bool,
}

impl PluginMeta {
    /// Id.
    #[must_use]
    pub fn id(&self) -> &PluginId {
        &self.manifest.id
    }

    /// Whether the manifest grants a capability.
    #[must_use]
    pub fn allows(&self, capability: Capability) -> bool {
        self.manifest.allows(capability)
    }
}

/// Per-plugin signal counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Signals delivered.
    pub signals: u64,
    /// Decisions that executed.
    pub executed: u64,
    /// Decisions that rejected (filters, risk).
    pub rejected: u64,
    /// Decisions with nothing to do.
    pub ignored: u64,
    /// Failed calls (errors and panics).
    pub failures: u64,
    /// Failures in a row (5 disables the plugin).
    pub consecutive_failures: u32,
}

/// The last failure of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastError {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub message: String,
}

/// A process plugin's link and what it said about itself.
pub struct Remote {
    /// The host's handle.
    pub link: Box<dyn RemoteLink>,
    /// Its `initialize` answer, once it gave one.
    pub info: Option<InitInfo>,
    /// Signals sent to it and not yet answered (orders it places may name them).
    pub signals_in_flight: HashSet<SignalId>,
}

impl Remote {
    /// Whether the running process implements an optional method.
    #[must_use]
    pub fn has_hook(&self, name: &str) -> bool {
        self.info.as_ref().is_some_and(|i| i.has_hook(name))
    }
}

/// One plugin in the registry.
pub struct PluginSlot {
    /// Static facts.
    pub meta: PluginMeta,
    /// Lifecycle state.
    pub state: PluginState,
    /// The plugin, once built (built-in plugins).
    pub plugin: Option<Box<dyn Plugin>>,
    /// The process, once attached (`python` and `process` plugins).
    pub remote: Option<Remote>,
    /// Per-service call statistics.
    pub metrics: ServiceMetrics,
    /// Signal counters.
    pub counters: Counters,
    /// Last failure.
    pub last_error: Option<LastError>,
}

impl std::fmt::Debug for PluginSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSlot").field("id", self.meta.id()).field("state", &self.state).finish_non_exhaustive()
    }
}

/// A plugin's status, as the CLI, REST API and Telegram show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    /// Id.
    pub id: PluginId,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Runtime.
    pub runtime: Runtime,
    /// Origin.
    pub source: PluginSource,
    /// Lifecycle state.
    pub state: PluginState,
    /// Mode.
    pub mode: PluginMode,
    /// Strategy it owns.
    pub strategy: Option<String>,
    /// Timeframes it handles.
    pub timeframes: Vec<Timeframe>,
    /// Capabilities granted.
    pub capabilities: Vec<Capability>,
    /// Signal counters.
    pub counters: Counters,
    /// Last failure.
    pub last_error: Option<LastError>,
    /// Per-service metrics.
    pub services: BTreeMap<Service, CallStatsView>,
    /// The plugin's own status.
    pub details: Value,
    /// For process plugins: the sandbox (`full` or `partial: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

impl PluginSlot {
    /// Its status.
    #[must_use]
    pub fn status(&self) -> PluginStatus {
        let m = &self.meta.manifest;
        PluginStatus {
            id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.clone(),
            runtime: m.runtime,
            source: self.meta.source.clone(),
            state: self.state,
            mode: self.meta.mode,
            strategy: m.strategy.clone(),
            timeframes: m.timeframes.clone(),
            capabilities: m.capabilities.clone(),
            counters: self.counters,
            last_error: self.last_error.clone(),
            services: self.metrics.views(),
            details: match (&self.plugin, &self.remote) {
                (Some(p), _) => p.status(),
                (None, Some(r)) => serde_json::to_value(&r.info).unwrap_or_default(),
                (None, None) => Value::Null,
            },
            sandbox: self.remote.as_ref().map(|r| r.link.sandbox()),
        }
    }
}

/// A problem found while building the registry. It never stops the other plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryProblem {
    /// The plugin folder or `<builtin:id>`.
    pub origin: String,
    /// Every message, each naming the file and key where it can.
    pub messages: Vec<String>,
}

/// A plugin folder found on disk: its manifest and settings file contents.
#[derive(Debug, Clone)]
pub struct DiscoveredPlugin {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its `config.toml`, if present.
    pub settings: Map<String, Value>,
}

/// Scans `dir` for plugin folders. Folders starting with `_` or `.` are skipped; a folder without
/// a valid `plugin.toml` (or with a bad `config.toml`) is reported and skipped.
#[must_use]
pub fn discover(dir: &Path) -> (Vec<DiscoveredPlugin>, Vec<RegistryProblem>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (found, problems);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with(['_', '.'])))
        .collect();
    dirs.sort();
    for plugin_dir in dirs {
        let origin = plugin_dir.display().to_string();
        match Manifest::load(&plugin_dir).and_then(|m| read_settings_file(&plugin_dir).map(|s| (m, s))) {
            Ok((manifest, settings)) => found.push(DiscoveredPlugin { dir: plugin_dir, manifest, settings }),
            Err(errors) => {
                problems.push(RegistryProblem { origin, messages: errors.iter().map(ToString::to_string).collect() })
            }
        }
    }
    (found, problems)
}

fn read_settings_file(dir: &Path) -> Result<Map<String, Value>, Vec<zepix_plugin::ManifestError>> {
    let file = dir.join("config.toml");
    if !file.exists() {
        return Ok(Map::new());
    }
    let err = |message: String| vec![zepix_plugin::ManifestError { file: file.clone(), key: String::new(), message }];
    let text = std::fs::read_to_string(&file).map_err(|e| err(format!("cannot read: {e}")))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| err(e.message().to_owned()))?;
    match serde_json::to_value(table) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) | Err(_) => Err(err("settings must be a table of key = value".into())),
    }
}

/// The plugins, in registry order: built-ins in table order, then discovered folders by name.
#[derive(Debug, Default)]
pub struct Registry {
    slots: Vec<PluginSlot>,
}

impl Registry {
    /// Builds the registry. Each plugin is validated and built on its own: a broken one is
    /// reported (and kept, `failed`, so its status shows why) without stopping the others.
    /// Duplicate ids are refused.
    #[must_use]
    pub fn build(
        builtins: &[BuiltinPlugin],
        discovered: Vec<DiscoveredPlugin>,
        configs: &BTreeMap<PluginId, PluginConfig>,
    ) -> (Self, Vec<RegistryProblem>) {
        let mut registry = Self::default();
        let mut problems = Vec::new();
        for builtin in builtins {
            let manifest = (builtin.manifest)();
            let origin = format!("<builtin:{}>", manifest.id);
            let defaults = Map::new();
            match registry.add(manifest, PluginSource::Builtin, &defaults, configs, Some(builtin.build)) {
                Ok(()) => {}
                Err(messages) => problems.push(RegistryProblem { origin, messages }),
            }
        }
        for found in discovered {
            let origin = found.dir.display().to_string();
            let source = PluginSource::Dir(found.dir);
            if let Err(messages) = registry.add(found.manifest, source, &found.settings, configs, None) {
                problems.push(RegistryProblem { origin, messages });
            }
        }
        for id in configs.keys().filter(|id| registry.get(id).is_none()) {
            problems.push(RegistryProblem {
                origin: "zepix.toml".into(),
                messages: vec![format!("[plugins.{id}]: no plugin with this id was found")],
            });
        }
        (registry, problems)
    }

    fn add(
        &mut self,
        manifest: Manifest,
        source: PluginSource,
        file_settings: &Map<String, Value>,
        configs: &BTreeMap<PluginId, PluginConfig>,
        build: Option<BuildFn>,
    ) -> Result<(), Vec<String>> {
        let where_ = match &source {
            PluginSource::Builtin => format!("<builtin:{}>", manifest.id),
            PluginSource::Dir(d) => d.join("plugin.toml").display().to_string(),
        };
        if let Some(existing) = self.get(&manifest.id) {
            let other = match &existing.meta.source {
                PluginSource::Builtin => "a built-in plugin".to_owned(),
                PluginSource::Dir(d) => d.display().to_string(),
            };
            return Err(vec![format!(
                "{where_}: `id`: duplicate plugin id `{}`, already used by {other}",
                manifest.id
            )]);
        }
        if let Err(errors) = manifest.validate(Path::new(&where_)) {
            return Err(errors.iter().map(ToString::to_string).collect());
        }
        let config = configs.get(&manifest.id).cloned().unwrap_or_default();
        let mut given = file_settings.clone();
        given.extend(config.settings.clone());
        let settings = Settings::validate(&manifest.settings_schema, &given).map_err(|errors| {
            errors.into_iter().map(|e| format!("[plugins.{}.settings] {e}", manifest.id)).collect::<Vec<_>>()
        })?;
        let meta = PluginMeta {
            symbols: config.symbols.clone().unwrap_or_else(|| manifest.symbols.clone()),
            mode: config.mode,
            enabled_in_config: config.enabled,
            manifest,
            settings,
            source,
        };
        let mut slot = PluginSlot {
            meta,
            state: PluginState::Discovered,
            plugin: None,
            remote: None,
            metrics: ServiceMetrics::default(),
            counters: Counters::default(),
            last_error: None,
        };
        let mut result = Ok(());
        match (build, slot.meta.manifest.runtime) {
            (Some(build), _) => match build(&slot.meta.settings) {
                Ok(plugin) => {
                    slot.plugin = Some(plugin);
                    slot.state = PluginState::Loaded;
                }
                Err(e) => {
                    let message = format!("{where_}: cannot build: {e}");
                    slot.state = PluginState::Failed;
                    slot.last_error = Some(LastError { at: DateTime::UNIX_EPOCH, message: message.clone() });
                    result = Err(vec![message]);
                }
            },
            (None, runtime) => {
                slot.last_error = Some(LastError {
                    at: DateTime::UNIX_EPOCH,
                    message: format!(
                        "runtime `{}`: validated; the plugin host has not started it",
                        serde_json::to_value(runtime)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        self.slots.push(slot);
        result
    }

    /// A plugin by id.
    #[must_use]
    pub fn get(&self, id: &PluginId) -> Option<&PluginSlot> {
        self.slots.iter().find(|s| s.meta.id() == id)
    }

    /// Index of a plugin by id.
    #[must_use]
    pub fn index_of(&self, id: &PluginId) -> Option<usize> {
        self.slots.iter().position(|s| s.meta.id() == id)
    }

    /// Every slot, in registry order.
    #[must_use]
    pub fn slots(&self) -> &[PluginSlot] {
        &self.slots
    }

    /// Every slot, mutable.
    pub fn slots_mut(&mut self) -> &mut [PluginSlot] {
        &mut self.slots
    }

    /// Attaches a process plugin's link to its slot; the slot is then loaded like a built plugin.
    pub fn attach(&mut self, index: usize, link: Box<dyn RemoteLink>) {
        let slot = &mut self.slots[index];
        slot.remote = Some(Remote { link, info: None, signals_in_flight: HashSet::new() });
        slot.last_error = None;
        if slot.state == PluginState::Discovered {
            slot.state = PluginState::Loaded;
        }
    }

    /// Adds a slot built elsewhere (tests, future runtimes).
    pub fn push(&mut self, slot: PluginSlot) {
        self.slots.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{ScriptedPlugin, manifest};

    fn write(dir: &Path, name: &str, manifest: &str, config: Option<&str>) {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("plugin.toml"), manifest).unwrap();
        if let Some(c) = config {
            std::fs::write(d.join("config.toml"), c).unwrap();
        }
    }

    fn python(id: &str, strategy: &str) -> String {
        format!(
            "id = \"{id}\"\nname = \"{id}\"\nversion = \"1.0.0\"\nruntime = \"python\"\nstrategy = \"{strategy}\"\n\
             [settings_schema.level]\ntype = \"integer\"\ndefault = 3\nminimum = 1\n"
        )
    }

    fn exec_builtin() -> BuiltinPlugin {
        BuiltinPlugin {
            manifest: || manifest("exec", "EXEC", &[]),
            build: |_| Ok(Box::new(ScriptedPlugin::executor())),
        }
    }

    #[test]
    fn discovery_validates_skips_and_reports_without_stopping_others() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "_template", "id = \"{{id}}\"", None);
        write(dir, "good", &python("good", "GOOD"), Some("level = 5\n"));
        write(dir, "bad_settings", &python("bad_settings", "BAD"), Some("level = 0\ncolour = 1\n"));
        write(dir, "broken", "id = \"broken\"\nname = \"b\"\nversion = \"x\"\nruntime = \"python\"\n", None);
        write(dir, "twin", &python("exec", "TWIN"), None);
        std::fs::create_dir_all(dir.join("empty")).unwrap();

        let (found, mut problems) = discover(dir);
        let names: Vec<String> = found.iter().map(|f| f.manifest.id.to_string()).collect();
        assert_eq!(
            names,
            ["bad_settings", "good", "exec"],
            "by folder name; `_template` skipped, broken ones reported"
        );
        let (registry, more) = Registry::build(&[exec_builtin()], found, &BTreeMap::new());
        problems.extend(more);
        let all: Vec<String> = problems.iter().flat_map(|p| p.messages.clone()).collect();
        let text = all.join("\n");
        assert!(text.contains("broken/plugin.toml: `version`: `x` is not a version"), "{text}");
        assert!(text.contains("empty/plugin.toml: cannot read"), "{text}");
        assert!(text.contains("duplicate plugin id `exec`, already used by a built-in plugin"), "{text}");
        assert!(text.contains("[plugins.bad_settings.settings] setting `colour`: unknown setting"), "{text}");
        assert!(text.contains("setting `level`: 0 is below the minimum 1"), "{text}");

        let ids: Vec<&str> = registry.slots().iter().map(|s| s.meta.id().as_str()).collect();
        assert_eq!(ids, ["exec", "good"]);
        let good = registry.get(&PluginId::new("good").unwrap()).unwrap();
        assert_eq!(good.state, PluginState::Discovered, "python plugins are discovered and validated, not run yet");
        assert_eq!(good.meta.settings.as_map()["level"], serde_json::json!(5), "config.toml overrides the default");
        assert!(good.last_error.as_ref().unwrap().message.contains("runtime `python`"));
        assert_eq!(registry.get(&PluginId::new("exec").unwrap()).unwrap().state, PluginState::Loaded);
    }

    #[test]
    fn config_settings_override_files_and_unknown_ids_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "good", &python("good", "GOOD"), Some("level = 5\n"));
        let (found, _) = discover(tmp.path());
        let mut configs = BTreeMap::new();
        let mut good = PluginConfig::default();
        good.settings.insert("level".into(), serde_json::json!(9));
        configs.insert(PluginId::new("good").unwrap(), good);
        configs.insert(PluginId::new("ghost").unwrap(), PluginConfig::default());
        let (registry, problems) = Registry::build(&[], found, &configs);
        let slot = registry.get(&PluginId::new("good").unwrap()).unwrap();
        assert_eq!(slot.meta.settings.as_map()["level"], serde_json::json!(9));
        assert_eq!(problems[0].messages[0], "[plugins.ghost]: no plugin with this id was found");
    }
}
