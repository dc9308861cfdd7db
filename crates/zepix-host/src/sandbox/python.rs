//! What a Python interpreter needs to read inside the sandbox.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Asks the interpreter itself where it lives: its executable and installation prefixes,
/// NUL-separated (paths may be any bytes).
const WHERE: &str = "import os, sys; sys.stdout.buffer.write(b'\\0'.join(os.fsencode(p) for p in \
(sys.executable, sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix)))";

/// System paths the interpreter and its extension modules read: shared libraries, the loader's
/// cache, time zones.
const SYSTEM: &[&str] =
    &["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache", "/usr/share/zoneinfo", "/etc/localtime"];

pub(super) fn paths(python: &Path) -> io::Result<(PathBuf, Vec<PathBuf>)> {
    let output = Command::new(python)
        .args(["-I", "-S", "-c", WHERE])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", python.display())))?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "`{} -I -S -c …` failed ({}): {}",
            python.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut fields = output.stdout.split(|b| *b == 0).map(|f| PathBuf::from(OsStr::from_bytes(f)));
    let executable = fields.next().filter(|p| p.is_absolute()).ok_or_else(|| {
        io::Error::other(format!("{} does not report where its executable is (sys.executable)", python.display()))
    })?;
    let mut read_only: Vec<PathBuf> = Vec::new();
    let prefixes = fields.filter(|p| p.is_absolute());
    for path in prefixes.chain(SYSTEM.iter().map(PathBuf::from)) {
        // Only what exists, once, as the kernel resolves it (`/lib` is often `/usr/lib`).
        if let Ok(path) = path.canonicalize()
            && !read_only.contains(&path)
        {
            read_only.push(path);
        }
    }
    Ok((executable, read_only))
}
