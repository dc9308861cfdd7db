//! The Linux sandbox a plugin process runs in (DESIGN §4.6).
//!
//! A small launcher (`zepix-sandbox`, or the engine's hidden `zepix __sandbox`) is spawned with
//! the [`Policy`] as arguments ([`Policy::to_args`]), applies the sandbox to itself and execs the
//! plugin's program, which inherits it:
//!
//! - a new session, SIGKILL when the engine (the spawning thread) dies, lower priority;
//! - rlimits: address space, CPU seconds, open files, file size (1 GiB), no core dumps;
//! - every fd above stderr closed on exec, cwd `/`, an environment of only `LANG=C.UTF-8` and
//!   `PYTHONDONTWRITEBYTECODE=1`;
//! - no capabilities (even when the engine runs as root) and no new privileges;
//! - Landlock: read-only on the plugin folder and [`Policy::read_only`], execute only
//!   [`Policy::executables`] and the program (with their ELF loaders), read-write on the data
//!   folder and `/dev/null`, nothing else; no TCP; no signals or abstract unix sockets outside
//!   the sandbox;
//! - seccomp: no new processes (threads are fine), no sockets, no ptrace, no signals to other
//!   processes, no mounts or namespaces, and more (see `filter.rs`).
//!
//! An infinite loop is not stopped here: the host's per-call deadline kills the process.

use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use landlock::{RestrictionStatus, RulesetStatus};
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, Signal};
use rustix::thread::{CapabilitySet, CapabilitySets};

mod args;
mod filter;
mod python;
mod rules;

pub use args::{ArgsError, Invocation, USAGE};

/// Largest file a plugin may write.
const FILE_SIZE_LIMIT: u64 = 1 << 30;
/// How much lower the plugin's priority is than the engine's.
const NICE_INCREMENT: i32 = 5;
/// The environment the plugin starts with.
const ENVIRONMENT: &[(&str, &str)] = &[("LANG", "C.UTF-8"), ("PYTHONDONTWRITEBYTECODE", "1")];
/// The launcher's exit code when it cannot start the plugin (as a shell's "cannot execute").
const CANNOT_START: u8 = 126;

/// What a plugin process may touch, and its resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The plugin's folder: readable, not writable.
    pub plugin_dir: PathBuf,
    /// The plugin's own data folder: readable and writable, nothing in it executable.
    pub data_dir: PathBuf,
    /// Other read-only paths: the Python installation, the SDK, system libraries.
    pub read_only: Vec<PathBuf>,
    /// Files that may be executed: the interpreter. The launched program is always allowed, and
    /// each one's ELF interpreter (the dynamic loader) too.
    pub executables: Vec<PathBuf>,
    /// Address space limit, MiB.
    pub memory_mb: u32,
    /// CPU time limit, seconds (SIGXCPU, then SIGKILL a second later).
    pub cpu_seconds: u64,
    /// Most open file descriptors.
    pub open_files: u64,
    /// Refuse to start the plugin when the sandbox would be partial.
    pub require_full: bool,
}

impl Policy {
    /// A policy for a plugin folder and its data folder: 512 MiB, an hour of CPU, 64 files.
    #[must_use]
    pub fn new(plugin_dir: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            plugin_dir,
            data_dir,
            read_only: Vec::new(),
            executables: Vec::new(),
            memory_mb: 512,
            cpu_seconds: 3_600,
            open_files: 64,
            require_full: false,
        }
    }
}

/// How much of the sandbox this kernel supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// Landlock (ABI 6 or later) and seccomp filters.
    Full,
    /// Something is missing: what, and what follows from it.
    Partial(Vec<String>),
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("full"),
            Self::Partial(gaps) => write!(f, "partial: {}", gaps.join("; ")),
        }
    }
}

/// What this kernel supports, found without restricting the calling process.
struct Support {
    landlock: Vec<String>,
    seccomp: Option<String>,
}

impl Support {
    fn probe() -> Self {
        Self { landlock: rules::gaps(), seccomp: seccomp_gap() }
    }

    fn level(&self) -> Level {
        let gaps: Vec<String> = self.landlock.iter().chain(&self.seccomp).cloned().collect();
        if gaps.is_empty() { Level::Full } else { Level::Partial(gaps) }
    }
}

fn seccomp_gap() -> Option<String> {
    if filter::arch().is_none() {
        return Some(format!("seccomp filters are not built for {}", std::env::consts::ARCH));
    }
    // `Seccomp:` is there when the kernel has seccomp; 1 is strict mode, where nothing would run.
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let mode = status.as_deref().and_then(|s| s.lines().find_map(|l| l.strip_prefix("Seccomp:")).map(str::trim));
    match mode {
        Some("0" | "2") => None,
        Some(other) => Some(format!("seccomp unavailable (this process is in seccomp mode {other})")),
        None if rustix::thread::secure_computing_mode().is_ok() => None,
        None => Some("seccomp unavailable (not built into this kernel): system calls are not filtered".into()),
    }
}

/// What this kernel supports of the sandbox (Landlock ABI, seccomp filters), without
/// restricting the calling process.
#[must_use]
pub fn probe() -> Level {
    Support::probe().level()
}

/// The interpreter as it reports itself (`sys.executable`, resolving shims such as pyenv's),
/// for [`Policy::executables`], and the paths it needs to read, for [`Policy::read_only`]: its
/// installation prefixes and the system libraries (only those that exist, resolved).
///
/// # Errors
/// When the interpreter cannot be run or does not say where it is.
pub fn python_paths(python: &Path) -> io::Result<(PathBuf, Vec<PathBuf>)> {
    python::paths(python)
}

/// Applies `policy` to this process and execs `program` with `args`. Runs in the launcher, a
/// single-threaded process spawned for one plugin; returns only on failure.
///
/// When the kernel lacks part of the sandbox, it warns loudly on stderr and goes on, or refuses
/// when [`Policy::require_full`] is set.
#[must_use]
pub fn launch(policy: &Policy, program: &Path, args: &[OsString]) -> io::Error {
    match sandbox_and_exec(policy, program, args) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn sandbox_and_exec(policy: &Policy, program: &Path, args: &[OsString]) -> io::Result<Infallible> {
    let parent = rustix::process::getppid();
    let program = std::path::absolute(program)?;
    let support = Support::probe();
    let level = support.level();
    if level != Level::Full {
        if policy.require_full {
            return Err(io::Error::other(format!(
                "refusing to start the plugin: the sandbox would be {level}, and --require-full was given"
            )));
        }
        eprintln!(
            "zepix-sandbox: WARNING: THE SANDBOX IS PARTIAL, the plugin runs with weaker isolation: {level} \
             (--require-full refuses this)"
        );
    }

    // Everything that allocates or opens files, first.
    let executables: Vec<PathBuf> = policy.executables.iter().cloned().chain([program.clone()]).collect();
    let ruleset = rules::ruleset(policy, &executables)?;
    let own_pid = rustix::process::getpid().as_raw_nonzero().get().unsigned_abs();
    let filters = match filter::arch() {
        Some(arch) if support.seccomp.is_none() => Some(filter::programs(arch, own_pid)?),
        _ => None,
    };

    close_fds::set_fds_cloexec(3, &[]);
    match rustix::process::setsid() {
        // Already a process-group leader (started by hand from a shell): stays in that session.
        Ok(_) | Err(Errno::PERM) => {}
        Err(e) => return Err(context("setsid", e)),
    }
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).map_err(|e| context("PR_SET_PDEATHSIG", e))?;
    if rustix::process::getppid() != parent {
        return Err(io::Error::other("the engine exited before the plugin started"));
    }
    set_limits(policy)?;
    let nice = rustix::process::getpriority_process(None).map_err(|e| context("getpriority", e))?;
    rustix::process::setpriority_process(None, (nice + NICE_INCREMENT).min(19))
        .map_err(|e| context("setpriority", e))?;
    std::env::set_current_dir("/")?;
    drop_capabilities()?;
    rustix::thread::set_no_new_privs(true).map_err(|e| context("PR_SET_NO_NEW_PRIVS", e))?;

    let status = ruleset.restrict_self().map_err(|e| io::Error::other(format!("landlock: {e}")))?;
    check_landlock(&status, &support)?;
    if let Some(filters) = &filters {
        filter::apply(filters)?;
    }

    let error = Command::new(&program).args(args).env_clear().envs(ENVIRONMENT.iter().copied()).current_dir("/").exec();
    Err(io::Error::new(error.kind(), format!("cannot run {}: {error}", program.display())))
}

fn context(what: &str, e: Errno) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Lowers a limit (never raises it above the current hard limit).
fn limit(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let current = rustix::process::getrlimit(resource);
    let cap = |v: u64| current.maximum.map_or(v, |max| v.min(max));
    rustix::process::setrlimit(resource, Rlimit { current: Some(cap(soft)), maximum: Some(cap(hard)) })
        .map_err(|e| context(&format!("setrlimit({resource:?})"), e))
}

fn set_limits(policy: &Policy) -> io::Result<()> {
    let memory = u64::from(policy.memory_mb) << 20;
    limit(Resource::As, memory, memory)?;
    limit(Resource::Cpu, policy.cpu_seconds, policy.cpu_seconds.saturating_add(1))?;
    limit(Resource::Nofile, policy.open_files, policy.open_files)?;
    limit(Resource::Fsize, FILE_SIZE_LIMIT, FILE_SIZE_LIMIT)?;
    limit(Resource::Core, 0, 0)?;
    limit(Resource::Nice, 0, 0)?;
    limit(Resource::Rtprio, 0, 0)
}

/// Empties the capability sets (and the bounding set, when allowed), so a launcher started as
/// root execs the plugin without root's powers; with no-new-privileges it cannot regain them.
fn drop_capabilities() -> io::Result<()> {
    for bit in 0..64 {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        match rustix::thread::capability_is_in_bounding_set(cap) {
            Ok(true) => match rustix::thread::remove_capability_from_bounding_set(cap) {
                // Without CAP_SETPCAP the bounding set stays; the empty sets below still hold.
                Ok(()) | Err(Errno::PERM) => {}
                Err(e) => return Err(context("PR_CAPBSET_DROP", e)),
            },
            Ok(false) => {}
            // Past the last capability this kernel knows.
            Err(_) => break,
        }
    }
    match rustix::thread::clear_ambient_capability_set() {
        Ok(()) | Err(Errno::INVAL) => {}
        Err(e) => return Err(context("PR_CAP_AMBIENT_CLEAR_ALL", e)),
    }
    let none = CapabilitySet::empty();
    rustix::thread::set_capabilities(None, CapabilitySets { effective: none, permitted: none, inheritable: none })
        .map_err(|e| context("capset", e))
}

/// A kernel that supports the whole ruleset must have enforced all of it.
fn check_landlock(status: &RestrictionStatus, support: &Support) -> io::Result<()> {
    if support.landlock.is_empty() && status.ruleset != RulesetStatus::FullyEnforced {
        return Err(io::Error::other(format!(
            "landlock: the kernel supports the ruleset, yet it is {:?}",
            status.ruleset
        )));
    }
    Ok(())
}

/// The launcher's `main`: parses `args` (everything after the program name, or after
/// `__sandbox`) and launches. On failure prints `zepix-sandbox: <error>` and exits 126;
/// `--help` prints the usage.
pub fn launcher_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    if matches!(args.first().and_then(|a| a.to_str()), Some("-h" | "--help")) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let error = match Policy::from_args(args) {
        Ok(invocation) => launch(&invocation.policy, &invocation.program, &invocation.args),
        Err(e) => io::Error::new(io::ErrorKind::InvalidInput, format!("{e}\n{USAGE}")),
    };
    eprintln!("zepix-sandbox: {error}");
    ExitCode::from(CANNOT_START)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn policy_round_trips_through_launcher_arguments() {
        let mut policy = Policy::new("/plugins/a b".into(), "/data/plugins/a".into());
        policy.read_only = vec!["/usr/lib".into(), "/opt/python".into()];
        policy.executables = vec!["/opt/python/bin/python3".into()];
        policy.memory_mb = 256;
        policy.cpu_seconds = 7;
        policy.open_files = 32;
        policy.require_full = true;
        let mut args = policy.to_args();
        args.extend(os(&["--", "/opt/python/bin/python3", "-I", "--", "runner.py"]));
        let invocation = Policy::from_args(args).unwrap();
        assert_eq!(invocation.policy, policy);
        assert_eq!(invocation.program, PathBuf::from("/opt/python/bin/python3"));
        assert_eq!(invocation.args, os(&["-I", "--", "runner.py"]), "everything after the program is passed as is");

        let defaults = Policy::from_args(os(&["--plugin-dir", "/p", "--data-dir", "/d", "--", "x"])).unwrap();
        assert_eq!(defaults.policy, Policy::new("/p".into(), "/d".into()));
        assert!(defaults.args.is_empty());
    }

    #[test]
    fn bad_arguments_are_explained() {
        let error = |args: &[&str]| Policy::from_args(os(args)).unwrap_err().to_string();
        let base = ["--plugin-dir", "/p", "--data-dir", "/d"];
        let with = |extra: &[&'static str]| base.iter().chain(extra).copied().collect::<Vec<_>>();
        assert_eq!(
            error(&with(&["--memory-mb", "lots", "--", "x"])),
            "--memory-mb: `lots` is not a positive whole number"
        );
        assert_eq!(error(&with(&["--cpu-s", "0", "--", "x"])), "--cpu-s: `0` is not a positive whole number");
        assert_eq!(error(&with(&["--nofile", "-3", "--", "x"])), "--nofile: `-3` is not a positive whole number");
        assert_eq!(error(&with(&["--network", "--", "x"])), "unknown option `--network`");
        assert_eq!(error(&with(&["--ro", "--", "x"])), "--ro needs a value");
        assert_eq!(error(&with(&["--plugin-dir", "/q", "--", "x"])), "--plugin-dir is given twice");
        assert_eq!(error(&with(&["--"])), "no program after `--`");
        assert!(error(&with(&["/bin/true"])).starts_with("unknown option `/bin/true`"));
        assert!(error(&base).starts_with("no program to run"));
        assert_eq!(error(&["--data-dir", "/d", "--", "x"]), "--plugin-dir is required");
        assert_eq!(error(&["--plugin-dir", "/p", "--", "x"]), "--data-dir is required");
    }

    #[test]
    fn level_reads_well() {
        assert_eq!(Level::Full.to_string(), "full");
        let partial = Level::Partial(vec!["landlock unavailable (x)".into(), "seccomp unavailable (y)".into()]);
        assert_eq!(partial.to_string(), "partial: landlock unavailable (x); seccomp unavailable (y)");
    }

    #[test]
    fn seccomp_filters_compile() {
        let arch = filter::arch().expect("an architecture the filters are built for");
        let [guard, deny] = filter::programs(arch, 4242).unwrap();
        assert!(guard.len() > 4 && deny.len() > 50, "{} and {} instructions", guard.len(), deny.len());
    }

    #[test]
    fn finds_the_elf_loader() {
        let exe = std::env::current_exe().unwrap();
        let loader = rules::elf_interpreter(&exe).expect("a dynamically linked test binary names its loader");
        assert!(loader.is_absolute() && loader.exists(), "{}", loader.display());
        assert_eq!(rules::elf_interpreter(Path::new("/etc/hostname")), None);
    }
}
