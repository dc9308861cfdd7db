//! `zepix plugin new`: a plugin folder from one of the templates embedded in this binary
//! (`plugins/_template`: Python logic, `plugins/_template_strategy`: Python strategy,
//! `plugins/_template_rust`: a Rust `process` plugin). Placeholders: `{{id}}`, `{{name}}`,
//! `{{strategy}}`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zepix_model::PluginId;

/// The language a new plugin is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    /// Python through the `zepix_sdk` package (`runtime = "python"`).
    #[default]
    Python,
    /// A Rust program speaking protocol 1 (`runtime = "process"`).
    Rust,
}

/// What a new plugin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Template {
    /// Receives routed signals and decides (places orders, closes positions, rejects).
    #[default]
    Logic,
    /// Watches bars and emits signals.
    Strategy,
}

/// One file of a template: where it goes in the new folder and its text.
type File = (&'static str, &'static str);

const PYTHON_LOGIC: &[File] = &[
    ("plugin.toml", include_str!("../../../plugins/_template/plugin.toml")),
    ("config.toml", include_str!("../../../plugins/_template/config.toml")),
    ("plugin.py", include_str!("../../../plugins/_template/plugin.py")),
    ("test_plugin.py", include_str!("../../../plugins/_template/test_plugin.py")),
    ("README.md", include_str!("../../../plugins/_template/README.md")),
];

const PYTHON_STRATEGY: &[File] = &[
    ("plugin.toml", include_str!("../../../plugins/_template_strategy/plugin.toml")),
    ("config.toml", include_str!("../../../plugins/_template_strategy/config.toml")),
    ("plugin.py", include_str!("../../../plugins/_template_strategy/plugin.py")),
    ("test_plugin.py", include_str!("../../../plugins/_template_strategy/test_plugin.py")),
    ("README.md", include_str!("../../../plugins/_template_strategy/README.md")),
];

const RUST_LOGIC: &[File] = &[
    ("plugin.toml", include_str!("../../../plugins/_template_rust/plugin.toml")),
    ("config.toml", include_str!("../../../plugins/_template_rust/config.toml")),
    ("Cargo.toml", include_str!("../../../plugins/_template_rust/Cargo.toml")),
    ("src/lib.rs", include_str!("../../../plugins/_template_rust/src/lib.rs")),
    ("src/main.rs", include_str!("../../../plugins/_template_rust/src/main.rs")),
    ("tests/decision.rs", include_str!("../../../plugins/_template_rust/tests/decision.rs")),
    ("README.md", include_str!("../../../plugins/_template_rust/README.md")),
    (".gitignore", include_str!("../../../plugins/_template_rust/gitignore")),
];

/// Names a Rust package cannot take (keywords, and the standard crates it would shadow).
const RUST_RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// Creates `<parent>/<name>/` from the Python logic template.
///
/// # Errors
/// A bad name, an existing folder, or a write failure.
pub fn create(parent: &Path, name: &str) -> Result<PathBuf> {
    create_from(parent, name, Lang::Python, Template::Logic)
}

/// Creates `<parent>/<name>/` from the template for `lang` and `template`.
///
/// # Errors
/// A bad name, a combination without a template, an existing folder, or a write failure (the
/// half-written folder is then removed).
pub fn create_from(parent: &Path, name: &str, lang: Lang, template: Template) -> Result<PathBuf> {
    let id = PluginId::new(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let files = match (lang, template) {
        (Lang::Python, Template::Logic) => PYTHON_LOGIC,
        (Lang::Python, Template::Strategy) => PYTHON_STRATEGY,
        (Lang::Rust, Template::Logic) => RUST_LOGIC,
        (Lang::Rust, Template::Strategy) => {
            bail!("there is no Rust strategy template: use --lang python --template strategy, or a Rust logic plugin")
        }
    };
    if lang == Lang::Rust && RUST_RESERVED.contains(&id.as_str()) {
        bail!("`{id}` cannot name a Rust package (a keyword or a standard crate): choose another name");
    }
    let dir = parent.join(id.as_str());
    if dir.exists() {
        bail!("{} already exists: choose another name or remove it", dir.display());
    }
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let title = title_of(id.as_str());
    let strategy = id.as_str().to_ascii_uppercase();
    let written = files.iter().try_for_each(|(file, text)| {
        let text = text.replace("{{id}}", id.as_str()).replace("{{name}}", &title).replace("{{strategy}}", &strategy);
        let path = dir.join(file);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    });
    if let Err(e) = written {
        // A folder missing files would only confuse; nobody else has seen it yet.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(dir)
}

/// `my_logic` → `My Logic`.
fn title_of(id: &str) -> String {
    id.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
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

    #[test]
    fn every_template_gives_a_valid_manifest_with_no_placeholder_left() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, lang, template) in [
            ("py_logic", Lang::Python, Template::Logic),
            ("py_strategy", Lang::Python, Template::Strategy),
            ("rs_logic", Lang::Rust, Template::Logic),
        ] {
            let dir = create_from(tmp.path(), name, lang, template).unwrap();
            let manifest = zepix_plugin::Manifest::load(&dir).unwrap();
            assert_eq!(manifest.id.as_str(), name);
            let mut stack = vec![dir];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        let text = std::fs::read_to_string(&path).unwrap();
                        assert!(!text.contains("{{"), "{} keeps a placeholder", path.display());
                    }
                }
            }
        }
        let refused = create_from(tmp.path(), "type", Lang::Rust, Template::Logic).unwrap_err();
        assert!(refused.to_string().contains("cannot name a Rust package"), "{refused}");
        let refused = create_from(tmp.path(), "rs_strategy", Lang::Rust, Template::Strategy).unwrap_err();
        assert!(refused.to_string().contains("no Rust strategy template"), "{refused}");
        assert!(!tmp.path().join("rs_strategy").exists());
    }
}
