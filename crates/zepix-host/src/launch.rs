//! How a plugin process is started: the sandbox launcher, the policy for the plugin's folders,
//! and the program (the SDK's runner under Python, or the manifest's `command`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};
use zepix_plugin::manifest::MAX_CALL_TIMEOUT_MS;
use zepix_plugin::{Manifest, PROTOCOL_VERSION, Runtime};

use crate::process::Launch;
use crate::sandbox::{self, Level, Policy};
use crate::supervisor::PluginSpec;

/// What every plugin process of this engine shares.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The sandbox launcher and its leading arguments (`zepix __sandbox`, or `zepix-sandbox`).
    pub launcher: Launch,
    /// The Python interpreter, as the interpreter itself reports it (`sys.executable`).
    pub python: PathBuf,
    /// Read-only paths Python needs (its installation, system libraries).
    pub python_paths: Vec<PathBuf>,
    /// The folder holding the `zepix_sdk` package.
    pub sdk_dir: PathBuf,
    /// Where plugins' data folders live (`<data_dir>/plugins`).
    pub data_root: PathBuf,
    /// Refuse to start a plugin when the sandbox would be partial.
    pub require_full: bool,
    /// What this kernel supports.
    pub level: Level,
}

impl HostConfig {
    /// Resolves the interpreter and what it needs to read, and probes the kernel's sandbox
    /// support.
    ///
    /// # Errors
    /// When the interpreter cannot be run.
    pub fn new(
        launcher: Launch,
        python: &Path,
        sdk_dir: PathBuf,
        data_root: PathBuf,
        require_full: bool,
    ) -> Result<Self, String> {
        let (python, python_paths) = sandbox::python_paths(python)
            .map_err(|e| format!("cannot use the Python interpreter `{}`: {e}", python.display()))?;
        Ok(Self { launcher, python, python_paths, sdk_dir, data_root, require_full, level: sandbox::probe() })
    }
}

/// Everything needed to start and initialize one plugin from its folder.
///
/// # Errors
/// A built-in manifest, a `process` plugin without a command, a data folder that cannot be made,
/// or a partial sandbox when the configuration requires a full one.
pub fn plugin_spec(
    config: &HostConfig,
    dir: &Path,
    manifest: &Manifest,
    settings: &Map<String, Value>,
) -> Result<PluginSpec, String> {
    if config.require_full && config.level != Level::Full {
        return Err(format!(
            "the sandbox would be {}, and [plugin_system] require_full_sandbox = true refuses that",
            config.level
        ));
    }
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let data_dir = config.data_root.join(manifest.id.as_str());
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize().map_err(|e| format!("{}: {e}", data_dir.display()))?;

    let mut policy = Policy::new(dir.clone(), data_dir.clone());
    policy.memory_mb = manifest.limits.memory_mb;
    policy.read_only.extend(config.python_paths.iter().cloned());
    policy.require_full = config.require_full;
    let (program, args): (PathBuf, Vec<OsString>) = match manifest.runtime {
        Runtime::Python => {
            policy.read_only.push(config.sdk_dir.clone());
            policy.executables.push(config.python.clone());
            let runner = config.sdk_dir.join("zepix_sdk").join("runner.py");
            let args = ["-I", "-S", "-B"].iter().map(OsString::from).chain([runner.into(), dir.clone().into()]);
            (config.python.clone(), args.collect())
        }
        Runtime::Process => {
            let command = manifest.command.as_deref().unwrap_or_default();
            let Some((first, rest)) = command.split_first() else {
                return Err("`command` is empty: a process plugin names the program to run".into());
            };
            let program = if first.contains('/') { Some(dir.join(first)) } else { on_path(first) };
            let program = program
                .and_then(|p| p.canonicalize().ok())
                .ok_or_else(|| format!("`command`: `{first}` is neither a file in the plugin folder nor on PATH"))?;
            policy.executables.push(program.clone());
            (program, rest.iter().map(OsString::from).collect())
        }
        Runtime::Builtin => return Err("a built-in plugin runs inside the engine".into()),
    };
    let mut launch_args = config.launcher.args.clone();
    launch_args.extend(policy.to_args());
    launch_args.push("--".into());
    launch_args.push(program.into());
    launch_args.extend(args);
    let timeout_ms = manifest.limits.call_timeout_ms.min(MAX_CALL_TIMEOUT_MS);
    Ok(PluginSpec {
        id: manifest.id.clone(),
        launch: Launch { program: config.launcher.program.clone(), args: launch_args },
        init: json!({
            "protocols": [PROTOCOL_VERSION],
            "plugin_id": manifest.id,
            "settings": settings,
            "data_dir": data_dir,
            "capabilities": manifest.capabilities,
            "engine": {"name": "zepix", "version": env!("CARGO_PKG_VERSION")},
        }),
        call_timeout: Duration::from_millis(u64::from(timeout_ms)),
        sandbox: config.level.to_string(),
    })
}

/// Finds a program on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}
