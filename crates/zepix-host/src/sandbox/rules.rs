//! Landlock: what the kernel supports, and the ruleset of a policy.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetError, Scope,
};

use super::Policy;

/// The Landlock ABI the sandbox is written and tested for: every filesystem right (including
/// truncate and device ioctls), TCP bind/connect, and the signal and abstract-socket scopes.
pub(super) const ABI_USED: ABI = ABI::V6;

/// What this kernel's Landlock lacks for a full sandbox (empty: nothing). Creates and drops
/// rulesets; restricts nothing.
pub(super) fn gaps() -> Vec<String> {
    let supports = |build: fn(Ruleset) -> Result<Ruleset, RulesetError>| {
        build(Ruleset::default().set_compatibility(CompatLevel::HardRequirement)).and_then(Ruleset::create).is_ok()
    };
    if !supports(|r| r.handle_access(AccessFs::from_all(ABI::V1))) {
        return vec![
            "landlock unavailable (not built into this kernel or not enabled at boot): \
                     the plugin can read and write every file its user can"
                .into(),
        ];
    }
    let mut gaps = Vec::new();
    if !supports(|r| r.handle_access(AccessFs::from_all(ABI_USED))) {
        gaps.push(
            "landlock ABI below 5: some file rights (rename across folders, truncate, device ioctls) are not handled"
                .into(),
        );
    }
    if !supports(|r| r.handle_access(AccessNet::from_all(ABI_USED))) {
        gaps.push("landlock ABI below 4: TCP is not restricted by landlock (seccomp still denies sockets)".into());
    }
    if !supports(|r| r.scope(Scope::from_all(ABI_USED))) {
        gaps.push(
            "landlock ABI below 6: signals and abstract unix sockets are not scoped \
             (seccomp still denies signals to other processes)"
                .into(),
        );
    }
    gaps
}

/// The ruleset of `policy`, best effort on older kernels: read-only on `read_only` and the
/// plugin folder, read and execute on `executables` (and each one's ELF interpreter),
/// read-write without execute on the data folder, read-write on `/dev/null`; all network
/// rights and both scopes handled with no exception. Opens every path now.
pub(super) fn ruleset(policy: &Policy, executables: &[PathBuf]) -> io::Result<RulesetCreated> {
    let all = AccessFs::from_all(ABI_USED);
    let read: BitFlags<AccessFs> = AccessFs::ReadFile | AccessFs::ReadDir;
    let exec: BitFlags<AccessFs> = AccessFs::ReadFile | AccessFs::Execute;
    let write = all & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::IoctlDev);
    let device: BitFlags<AccessFs> = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate;

    let mut rules = Vec::new();
    for path in policy.read_only.iter().chain([&policy.plugin_dir]) {
        rules.push(rule(path, read)?);
    }
    for path in executables {
        rules.push(rule(path, exec)?);
        if let Some(loader) = elf_interpreter(path) {
            rules.push(rule(&loader, exec)?);
        }
    }
    rules.push(rule(&policy.data_dir, write)?);
    rules.push(rule(Path::new("/dev/null"), device)?);

    let landlock = |e: RulesetError| io::Error::other(format!("landlock: {e}"));
    Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_USED)))
        .and_then(|r| r.scope(Scope::from_all(ABI_USED)))
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(rules.into_iter().map(Ok::<_, RulesetError>)))
        .map_err(landlock)
}

/// A rule for `path` (following symlinks); a file gets only the rights that apply to files.
fn rule(path: &Path, access: BitFlags<AccessFs>) -> io::Result<PathBeneath<PathFd>> {
    let context = |e: &dyn std::fmt::Display| io::Error::other(format!("sandbox path {}: {e}", path.display()));
    let fd = PathFd::new(path).map_err(|e| context(&e))?;
    let is_dir = std::fs::metadata(path).map_err(|e| context(&e))?.is_dir();
    let access = if is_dir { access } else { access & AccessFs::from_file(ABI_USED) };
    Ok(PathBeneath::new(fd, access))
}

/// The program interpreter (`PT_INTERP`, the dynamic loader) named by an ELF executable, which
/// the kernel opens for execution too. `None` for a static executable or anything unreadable.
pub(super) fn elf_interpreter(path: &Path) -> Option<PathBuf> {
    const PT_INTERP: u32 = 3;
    let mut file = File::open(path).ok()?;
    let mut header = [0u8; 64];
    file.read_exact(&mut header[..52]).ok()?;
    if header[..4] != *b"\x7fELF" {
        return None;
    }
    let wide = match header[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match header[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    if wide {
        file.read_exact(&mut header[52..]).ok()?;
    }
    let u16_at = |b: &[u8], at: usize| {
        let v = [b[at], b[at + 1]];
        if little { u16::from_le_bytes(v) } else { u16::from_be_bytes(v) }
    };
    let u32_at = |b: &[u8], at: usize| {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if little { u32::from_le_bytes(v) } else { u32::from_be_bytes(v) }
    };
    let u64_at = |b: &[u8], at: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        if little { u64::from_le_bytes(v) } else { u64::from_be_bytes(v) }
    };
    let (phoff, phentsize, phnum) = if wide {
        (u64_at(&header, 32), u16_at(&header, 54), u16_at(&header, 56))
    } else {
        (u64::from(u32_at(&header, 28)), u16_at(&header, 42), u16_at(&header, 44))
    };
    let entry = usize::from(phentsize);
    if entry < if wide { 56 } else { 32 } {
        return None;
    }
    let mut table = vec![0u8; entry * usize::from(phnum)];
    file.seek(SeekFrom::Start(phoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    let (offset, size) = table.chunks_exact(entry).find(|h| u32_at(h, 0) == PT_INTERP).map(|h| {
        if wide { (u64_at(h, 8), u64_at(h, 32)) } else { (u64::from(u32_at(h, 4)), u64::from(u32_at(h, 16))) }
    })?;
    let mut name = vec![0u8; usize::try_from(size).ok().filter(|n| (2..=4096).contains(n))?];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut name).ok()?;
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    let loader = PathBuf::from(std::ffi::OsStr::from_bytes(&name[..end]));
    loader.is_absolute().then_some(loader)
}
