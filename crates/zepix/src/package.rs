//! `.zpx` plugin archives: `zepix plugin package` and `zepix plugin install`.
//!
//! A `.zpx` is a tar archive holding every file of a plugin folder plus [`MANIFEST_FILE`], which
//! names the plugin and gives the SHA-256 of every file. Installing checks everything before it
//! writes anything: paths (relative, no `..`), that the files are exactly the listed ones, every
//! hash, and the plugin's own manifest. It then writes into a hidden folder beside the target and
//! renames it into place, so a plugin folder is either the old one or the whole new one.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zepix_plugin::Manifest;

/// The archive's own manifest: format, plugin id and version, and every file's SHA-256.
pub const MANIFEST_FILE: &str = "ZPX-MANIFEST.json";
/// The archive format written and read.
pub const FORMAT: u32 = 1;
/// Folders never packaged (caches, builds, version control, run-time data).
const SKIPPED_DIRS: [&str; 7] = ["__pycache__", ".git", "target", "data", ".venv", ".pytest_cache", ".mypy_cache"];
/// Largest archive content installed, all files together.
const MAX_TOTAL_BYTES: u64 = 256 << 20;
/// Most files installed from one archive.
const MAX_FILES: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZpxManifest {
    format: u32,
    id: String,
    version: String,
    files: BTreeMap<String, String>,
}

/// A written archive.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// The archive.
    pub file: PathBuf,
    /// Plugin id.
    pub id: String,
    /// Plugin version.
    pub version: String,
    /// Files packaged (besides [`MANIFEST_FILE`]).
    pub files: usize,
    /// Bytes of those files.
    pub bytes: u64,
}

/// An installed plugin.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Its folder.
    pub dir: PathBuf,
    /// Plugin id.
    pub id: String,
    /// Plugin version.
    pub version: String,
    /// Files written.
    pub files: usize,
    /// An older folder was replaced (`--force`).
    pub replaced: bool,
}

struct Member {
    bytes: Vec<u8>,
    executable: bool,
}

/// Packages the plugin folder `dir` into `out`, or `<id>-<version>.zpx` in the current folder.
///
/// # Errors
/// An invalid manifest, a file that cannot be read or is not a regular file or folder (a
/// symlink), a path that is not UTF-8, or an archive that cannot be written.
pub fn package(dir: &Path, out: Option<&Path>) -> Result<Packaged> {
    let manifest = Manifest::load(dir).map_err(|errors| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the plugin does not validate:\n  {}", shown.join("\n  "))
    })?;
    let out = out.map_or_else(|| PathBuf::from(format!("{}-{}.zpx", manifest.id, manifest.version)), Path::to_path_buf);
    let out_abs = std::path::absolute(&out).unwrap_or_else(|_| out.clone());
    let mut paths = Vec::new();
    collect(dir, "", &out_abs, &mut paths)?;
    paths.sort();

    let mut members = BTreeMap::new();
    let mut bytes = 0u64;
    for rel in &paths {
        let path = dir.join(rel);
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        bytes += data.len() as u64;
        let executable = is_executable(&path);
        members.insert(rel.clone(), Member { bytes: data, executable });
    }
    let listing = ZpxManifest {
        format: FORMAT,
        id: manifest.id.to_string(),
        version: manifest.version.clone(),
        files: members.iter().map(|(p, m)| (p.clone(), sha256_hex(&m.bytes))).collect(),
    };
    let listing_json = serde_json::to_vec_pretty(&listing).context("writing the archive manifest")?;

    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let temp = tempfile::Builder::new()
        .prefix(".zpx-")
        .tempfile_in(parent)
        .with_context(|| format!("creating a file in {}", parent.display()))?;
    {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(temp.as_file()));
        append(&mut builder, MANIFEST_FILE, &listing_json, false)?;
        for (rel, member) in &members {
            append(&mut builder, rel, &member.bytes, member.executable)?;
        }
        let mut writer = builder.into_inner().context("finishing the archive")?;
        writer.flush().context("writing the archive")?;
    }
    temp.as_file().sync_all().context("writing the archive")?;
    temp.persist(&out).with_context(|| format!("writing {}", out.display()))?;
    Ok(Packaged { file: out, id: listing.id, version: listing.version, files: members.len(), bytes })
}

/// Lists the files under `dir` (relative, `/`-separated) that belong in an archive.
fn collect(dir: &Path, prefix: &str, out: &Path, paths: &mut Vec<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            bail!("{}: the name is not UTF-8; rename it or remove it", path.display());
        };
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let kind = entry.file_type().with_context(|| format!("reading {}", path.display()))?;
        if kind.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                collect(&path, &rel, out, paths)?;
            }
        } else if kind.is_file() {
            let skipped = name.ends_with(".pyc")
                || name.ends_with(".zpx")
                || name.starts_with(".zpx-")
                || name == MANIFEST_FILE
                || std::path::absolute(&path).is_ok_and(|p| p == out);
            if !skipped {
                paths.push(rel);
            }
        } else {
            bail!(
                "{}: only regular files and folders are packaged (this is a symlink or a special file)",
                path.display()
            );
        }
    }
    Ok(())
}

fn append<W: Write>(builder: &mut tar::Builder<W>, path: &str, bytes: &[u8], executable: bool) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(if executable { 0o755 } else { 0o644 });
    // Fixed metadata: the same folder always gives the same archive.
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder.append_data(&mut header, path, bytes).with_context(|| format!("adding {path} to the archive"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that an archive member's path is a plain relative path, and returns it.
fn safe_path(raw: &[u8]) -> Result<String> {
    let shown = String::from_utf8_lossy(raw);
    let Ok(text) = std::str::from_utf8(raw) else {
        bail!("`{shown}`: the path is not UTF-8");
    };
    let path = text.strip_suffix('/').unwrap_or(text);
    let bad = path.is_empty()
        || path.contains('\\')
        || path.contains('\0')
        || path.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || !Path::new(path).components().all(|c| matches!(c, Component::Normal(_)));
    if bad {
        bail!("`{shown}`: an archive path must be relative, without `..`, `.` or empty parts");
    }
    Ok(path.to_owned())
}

/// Reads and verifies an archive; nothing is written.
fn verify(archive: &Path) -> Result<(ZpxManifest, Manifest, BTreeMap<String, Member>)> {
    let file = std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    let mut listing_bytes: Option<Vec<u8>> = None;
    let mut total = 0u64;
    let not_an_archive = || format!("{} is not a .zpx archive (a tar file)", archive.display());
    for entry in tar.entries().with_context(not_an_archive)? {
        let mut entry = entry.with_context(not_an_archive)?;
        let path = safe_path(&entry.path_bytes())?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            bail!("`{path}`: only regular files may be installed (this entry is a link or a special file)");
        }
        let size = entry.header().size().with_context(|| format!("`{path}`: bad size in the archive"))?;
        total = total.saturating_add(size);
        if total > MAX_TOTAL_BYTES || members.len() >= MAX_FILES {
            bail!("the archive holds more than {MAX_FILES} files or {} MiB", MAX_TOTAL_BYTES >> 20);
        }
        let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
        entry.read_to_end(&mut bytes).with_context(|| format!("`{path}`: cannot read it from the archive"))?;
        if path == MANIFEST_FILE {
            if listing_bytes.replace(bytes).is_some() {
                bail!("{MANIFEST_FILE} appears twice in the archive");
            }
        } else if members.insert(path.clone(), Member { bytes, executable }).is_some() {
            bail!("`{path}` appears twice in the archive");
        }
    }
    let listing_bytes = listing_bytes.with_context(|| format!("the archive has no {MANIFEST_FILE}: not a .zpx"))?;
    let listing: ZpxManifest =
        serde_json::from_slice(&listing_bytes).with_context(|| format!("{MANIFEST_FILE} is not valid"))?;
    if listing.format != FORMAT {
        bail!("{MANIFEST_FILE}: format {} is not one this zepix reads ({FORMAT})", listing.format);
    }
    for listed in listing.files.keys() {
        let clean = safe_path(listed.as_bytes()).with_context(|| format!("{MANIFEST_FILE} lists a bad path"))?;
        if clean != *listed {
            bail!("{MANIFEST_FILE} lists a bad path `{listed}`");
        }
    }
    for (path, expected) in &listing.files {
        let Some(member) = members.get(path) else {
            bail!("`{path}` is listed in {MANIFEST_FILE} but missing from the archive");
        };
        let actual = sha256_hex(&member.bytes);
        if !actual.eq_ignore_ascii_case(expected) {
            bail!(
                "`{path}`: its SHA-256 does not match {MANIFEST_FILE}: the archive was changed after it was packaged"
            );
        }
    }
    if let Some(extra) = members.keys().find(|p| !listing.files.contains_key(*p)) {
        bail!("`{extra}` is in the archive but not in {MANIFEST_FILE}: the archive was changed after it was packaged");
    }
    let manifest_text = members
        .get("plugin.toml")
        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
        .context("the archive has no plugin.toml")?;
    let manifest = Manifest::parse(&manifest_text, Path::new("plugin.toml (in the archive)")).map_err(|errors| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the archive's plugin does not validate:\n  {}", shown.join("\n  "))
    })?;
    if manifest.id.as_str() != listing.id || manifest.version != listing.version {
        bail!(
            "{MANIFEST_FILE} says {} {} but plugin.toml says {} {}",
            listing.id,
            listing.version,
            manifest.id,
            manifest.version
        );
    }
    Ok((listing, manifest, members))
}

/// Verifies `archive` and installs it as `<plugins_dir>/<id>`; an existing folder is replaced only
/// with `force`.
///
/// # Errors
/// Anything [`verify`] finds (nothing is then written), an existing folder without `force`, or a
/// write failure (the target is left as it was).
pub fn install(archive: &Path, plugins_dir: &Path, force: bool) -> Result<Installed> {
    let (listing, manifest, members) = verify(archive)?;
    let target = plugins_dir.join(manifest.id.as_str());
    let exists = target.symlink_metadata().is_ok();
    if exists && !force {
        bail!("{} already exists: remove it, or pass --force to replace it", target.display());
    }
    std::fs::create_dir_all(plugins_dir).with_context(|| format!("creating {}", plugins_dir.display()))?;
    // Hidden (a leading `.`), so plugin discovery never sees a half-written folder.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".zpx-install-{}-", manifest.id))
        .tempdir_in(plugins_dir)
        .with_context(|| format!("creating a folder in {}", plugins_dir.display()))?;
    for (path, member) in &members {
        let dest = staging.path().join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&dest, &member.bytes).with_context(|| format!("writing {}", dest.display()))?;
        set_executable(&dest, member.executable)?;
    }
    if exists {
        let old = tempfile::Builder::new()
            .prefix(&format!(".zpx-old-{}-", manifest.id))
            .tempdir_in(plugins_dir)
            .with_context(|| format!("creating a folder in {}", plugins_dir.display()))?;
        let old_dir = old.path().join("old");
        std::fs::rename(&target, &old_dir).with_context(|| format!("moving {} aside", target.display()))?;
        if let Err(e) = std::fs::rename(staging.path(), &target) {
            let _ = std::fs::rename(&old_dir, &target);
            return Err(e).with_context(|| format!("moving the new version to {}", target.display()));
        }
        // `old` is removed when dropped, with the replaced version inside.
    } else {
        std::fs::rename(staging.path(), &target).with_context(|| format!("moving into {}", target.display()))?;
    }
    // Already renamed: the staging path no longer exists, so dropping it removes nothing.
    drop(staging);
    Ok(Installed { dir: target, id: listing.id, version: listing.version, files: members.len(), replaced: exists })
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path, _executable: bool) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths_only() {
        assert_eq!(safe_path(b"src/main.rs").unwrap(), "src/main.rs");
        assert_eq!(safe_path(b"src/").unwrap(), "src");
        for bad in [&b"../x"[..], b"/etc/passwd", b"a/../b", b"./a", b"a//b", b"", b"a\\b", b"\xff"] {
            assert!(safe_path(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn round_trip_and_a_changed_byte_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::scaffold::create(tmp.path(), "packed").unwrap();
        std::fs::create_dir_all(dir.join("__pycache__")).unwrap();
        std::fs::write(dir.join("__pycache__/plugin.cpython-312.pyc"), b"x").unwrap();
        let out = tmp.path().join("out/packed.zpx");
        let packaged = package(&dir, Some(&out)).unwrap();
        assert_eq!((packaged.id.as_str(), packaged.version.as_str()), ("packed", "0.1.0"));
        let installed = install(&out, &tmp.path().join("installed"), false).unwrap();
        for name in ["plugin.toml", "plugin.py", "config.toml", "README.md"] {
            assert_eq!(std::fs::read(dir.join(name)).unwrap(), std::fs::read(installed.dir.join(name)).unwrap());
        }
        assert!(!installed.dir.join("__pycache__").exists());
        assert!(install(&out, &tmp.path().join("installed"), false).unwrap_err().to_string().contains("--force"));
        assert!(install(&out, &tmp.path().join("installed"), true).unwrap().replaced);

        let mut bytes = std::fs::read(&out).unwrap();
        let at = bytes.windows(12).position(|w| w == b"process_exit").unwrap();
        bytes[at] ^= 0x20;
        let bad = tmp.path().join("bad.zpx");
        std::fs::write(&bad, bytes).unwrap();
        let err = install(&bad, &tmp.path().join("other"), false).unwrap_err().to_string();
        assert!(err.contains("`plugin.py`: its SHA-256 does not match"), "{err}");
        assert!(!tmp.path().join("other/packed").exists());
    }
}
