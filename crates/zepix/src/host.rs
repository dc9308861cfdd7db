//! Process plugins in the wiring: the embedded Python SDK, the sandbox launcher (this binary's
//! hidden `__sandbox` command) and one supervised process per `python`/`process` plugin.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use anyhow::{Context, Result};
use chrono::DateTime;
use zepix_engine::registry::{LastError, PluginSource, Registry, RegistryProblem};
use zepix_engine::runtime::Command;
use zepix_engine::{PluginState, PluginSystemConfig};
use zepix_host::launch::{HostConfig, plugin_spec};
use zepix_host::{Launch, ProcessLink};
use zepix_plugin::Runtime;

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The argument that makes this binary the sandbox launcher.
pub const SANDBOX_COMMAND: &str = "__sandbox";
/// The argument that makes this binary a minimal Rust `process` plugin (benchmarks, tests).
pub const ECHO_PLUGIN_COMMAND: &str = "__echo_plugin";

/// Writes the embedded SDK into `<data_dir>/sdk/zepix_sdk` (only files whose contents changed)
/// and returns the folder holding the package.
///
/// # Errors
/// When the folder cannot be written.
pub fn install_sdk(data_dir: &Path) -> Result<PathBuf> {
    let root = data_dir.join("sdk");
    let package = root.join("zepix_sdk");
    std::fs::create_dir_all(&package).with_context(|| format!("creating {}", package.display()))?;
    for (name, contents) in SDK_FILES {
        let file = package.join(name);
        if std::fs::read_to_string(&file).ok().as_deref() != Some(*contents) {
            std::fs::write(&file, contents).with_context(|| format!("writing {}", file.display()))?;
        }
    }
    root.canonicalize().with_context(|| format!("resolving {}", root.display()))
}

/// The host configuration: the `zepix` binary as the sandbox launcher (this program unless
/// `zepix_binary` names it, as tests do), the SDK in the data directory.
///
/// # Errors
/// When the SDK cannot be written or the interpreter cannot be used.
pub fn host_config(system: &PluginSystemConfig, data_dir: &Path, zepix_binary: Option<&Path>) -> Result<HostConfig> {
    let exe = match zepix_binary {
        Some(path) => path.to_owned(),
        None => std::env::current_exe().context("finding this program's path (the sandbox launcher)")?,
    };
    let launcher = Launch { program: exe, args: vec![SANDBOX_COMMAND.into()] };
    let sdk_dir = install_sdk(data_dir)?;
    HostConfig::new(launcher, &system.python, sdk_dir, data_dir.join("plugins"), system.require_full_sandbox)
        .map_err(anyhow::Error::msg)
}

/// Starts a supervised process for every `python`/`process` plugin of the registry and attaches
/// it; a plugin that cannot start is marked failed with the reason (the others go on).
pub fn attach_process_plugins(
    registry: &mut Registry,
    system: &PluginSystemConfig,
    data_dir: &Path,
    zepix_binary: Option<&Path>,
    commands: &Sender<Command>,
) -> Vec<RegistryProblem> {
    let wanted: Vec<usize> = (0..registry.slots().len())
        .filter(|i| {
            let slot = &registry.slots()[*i];
            matches!(slot.meta.manifest.runtime, Runtime::Python | Runtime::Process)
                && slot.state == PluginState::Discovered
        })
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut problems = Vec::new();
    let config = match host_config(system, data_dir, zepix_binary) {
        Ok(config) => config,
        Err(e) => {
            for i in wanted {
                fail(registry, i, format!("{e:#}"), &mut problems);
            }
            return problems;
        }
    };
    if config.level != zepix_host::sandbox::Level::Full {
        tracing::warn!(
            "SANDBOX IS {}: process plugins run with weaker isolation on this kernel \
             (set [plugin_system] require_full_sandbox = true to refuse them)",
            config.level
        );
    }
    let runtime = tokio::runtime::Handle::current();
    for i in wanted {
        let slot = &registry.slots()[i];
        let PluginSource::Dir(dir) = &slot.meta.source else { continue };
        match plugin_spec(&config, dir, &slot.meta.manifest, slot.meta.settings.as_map()) {
            Ok(spec) => {
                let id = slot.meta.id().clone();
                let tx = commands.clone();
                let sink = std::sync::Arc::new(move |event| {
                    // After shutdown nobody listens; the event no longer matters.
                    let _ = tx.send(Command::Remote(id.clone(), event));
                });
                registry.attach(i, Box::new(ProcessLink::start(&runtime, spec, sink)));
            }
            Err(e) => fail(registry, i, e, &mut problems),
        }
    }
    problems
}

fn fail(registry: &mut Registry, index: usize, message: String, problems: &mut Vec<RegistryProblem>) {
    let slot = &mut registry.slots_mut()[index];
    let origin = match &slot.meta.source {
        PluginSource::Dir(d) => d.display().to_string(),
        PluginSource::Builtin => slot.meta.id().to_string(),
    };
    tracing::warn!(%origin, "process plugin not started: {message}");
    slot.state = PluginState::Failed;
    slot.last_error = Some(LastError { at: DateTime::UNIX_EPOCH, message: message.clone() });
    problems.push(RegistryProblem { origin, messages: vec![message] });
}
