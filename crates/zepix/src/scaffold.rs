//! `zepix plugin new`: a plugin folder from the template in `plugins/_template`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zepix_model::PluginId;

const FILES: [(&str, &str); 4] = [
    ("plugin.toml", include_str!("../../../plugins/_template/plugin.toml")),
    ("config.toml", include_str!("../../../plugins/_template/config.toml")),
    ("plugin.py", include_str!("../../../plugins/_template/plugin.py")),
    ("README.md", include_str!("../../../plugins/_template/README.md")),
];

/// Creates `<parent>/<name>/` from the template.
///
/// # Errors
/// A bad name, an existing folder, or a write failure.
pub fn create(parent: &Path, name: &str) -> Result<PathBuf> {
    let id = PluginId::new(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = parent.join(id.as_str());
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let title: String = id
        .as_str()
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let strategy = id.as_str().to_ascii_uppercase();
    for (file, text) in FILES {
        let text = text.replace("{{id}}", id.as_str()).replace("{{name}}", &title).replace("{{strategy}}", &strategy);
        std::fs::write(dir.join(file), text).with_context(|| format!("writing {}", dir.join(file).display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_plugin_validates() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = create(tmp.path(), "my_logic").unwrap();
        let manifest = zepix_plugin::Manifest::load(&dir).unwrap();
        assert_eq!(manifest.id.as_str(), "my_logic");
        assert_eq!(manifest.strategy.as_deref(), Some("MY_LOGIC"));
        assert!(create(tmp.path(), "my_logic").unwrap_err().to_string().contains("already exists"));
        assert!(create(tmp.path(), "My Logic").is_err());
    }
}
