//! The opt-in file watcher (`[plugin_system] watch = true`): a change to a file in a process
//! plugin's folder reloads that plugin, once the folder has been quiet for half a second (an
//! editor's save is several writes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use zepix_engine::EngineHandle;
use zepix_model::PluginId;

/// How long a folder must be quiet before its plugin is reloaded.
const QUIET: Duration = Duration::from_millis(500);

/// Watches each plugin's folder; returns the watcher (dropping it stops watching).
///
/// # Errors
/// When the platform's watcher cannot start or a folder cannot be watched.
pub fn watch(handle: EngineHandle, plugins: Vec<(PluginId, PathBuf)>) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PluginId>();
    let dirs: Vec<(PluginId, PathBuf)> =
        plugins.into_iter().filter_map(|(id, dir)| dir.canonicalize().ok().map(|d| (id, d))).collect();
    let owners = dirs.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !(event.kind.is_create() || event.kind.is_modify() || event.kind.is_remove()) {
            return;
        }
        for path in &event.paths {
            // Bytecode caches and editor swap files are not code changes.
            let noise = path.components().any(|c| c.as_os_str() == "__pycache__")
                || path.extension().is_some_and(|x| x == "pyc" || x == "swp");
            if noise {
                continue;
            }
            if let Some((id, _)) = owners.iter().find(|(_, dir)| path.starts_with(dir)) {
                let _ = tx.send(id.clone());
            }
        }
    })?;
    for (id, dir) in &dirs {
        watcher.watch(dir, RecursiveMode::Recursive)?;
        tracing::info!(plugin = %id, "watching {} for changes", dir.display());
    }
    tokio::spawn(async move {
        let mut due: BTreeMap<PluginId, tokio::time::Instant> = BTreeMap::new();
        loop {
            let next = due.values().min().copied();
            tokio::select! {
                changed = rx.recv() => match changed {
                    Some(id) => { due.insert(id, tokio::time::Instant::now() + QUIET); }
                    None => return,
                },
                () = async { tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)).await }, if next.is_some() => {
                    let now = tokio::time::Instant::now();
                    let ready: Vec<PluginId> = due.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
                    for id in ready {
                        due.remove(&id);
                        match handle.reload(id.clone()).await {
                            Ok(info) => tracing::info!(plugin = %id, "files changed: reloaded, version {} running", info.version),
                            Err(e) => tracing::warn!(plugin = %id, "files changed: {e}"),
                        }
                    }
                }
            }
        }
    });
    Ok(watcher)
}
