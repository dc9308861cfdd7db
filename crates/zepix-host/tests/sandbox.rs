//! The sandbox against a hostile Python plugin (`tests/hostile/probe.py`), run through the real
//! `zepix-sandbox` launcher with the system `python3`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use zepix_host::sandbox::{self, Level, Policy};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_zepix-sandbox");

/// A plugin folder holding the probe, its data folder, another plugin's database and the engine's
/// configuration, all under one temporary root.
struct World {
    _root: tempfile::TempDir,
    plugin_dir: PathBuf,
    data_dir: PathBuf,
    other_db: PathBuf,
    config: PathBuf,
}

impl World {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().canonicalize().unwrap();
        let plugin_dir = base.join("plugins").join("hostile");
        let other_dir = base.join("plugins").join("other");
        let data_dir = base.join("data").join("plugins").join("hostile");
        for dir in [&plugin_dir, &other_dir, &data_dir] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/probe.py");
        std::fs::copy(probe, plugin_dir.join("probe.py")).unwrap();
        let other_db = other_dir.join("plugin.db");
        std::fs::write(&other_db, b"SQLite format 3\0 another plugin's trades").unwrap();
        let config = base.join("zepix.toml");
        std::fs::write(&config, "[server]\nsecret = \"hunter2\"\n").unwrap();
        Self { _root: root, plugin_dir, data_dir, other_db, config }
    }

    /// The launcher command running the probe in `mode` under `policy`.
    fn command(&self, policy: &Policy, python: &Path, mode: &str, config: &Value) -> Command {
        let mut command = Command::new(LAUNCHER);
        command.args(policy.to_args()).arg("--").arg(python).args(["-I", "-S", "-B"]);
        command.arg(self.plugin_dir.join("probe.py")).arg(mode).arg(config.to_string());
        command
    }
}

/// The interpreter and a policy for the world's plugin that lets it run.
fn python_policy(world: &World) -> (PathBuf, Policy) {
    let (python, read_only) = sandbox::python_paths(Path::new("python3"))
        .expect("these tests need `python3` on PATH (the sandbox runs Python plugins)");
    let mut policy = Policy::new(world.plugin_dir.clone(), world.data_dir.clone());
    policy.read_only = read_only;
    policy.executables = vec![python.clone()];
    (python, policy)
}

/// Runs `command` to its end, or kills it after `limit` and fails.
fn run(command: &mut Command, limit: Duration) -> Output {
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match wait.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let output = wait.recv().unwrap().unwrap();
            panic!(
                "still running after {limit:?}, killed; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn this_kernel_supports_the_full_sandbox() {
    assert_eq!(sandbox::probe(), Level::Full, "this machine's kernel has Landlock ABI ≥ 6 and seccomp");
}

#[test]
fn hostile_plugin_is_contained() {
    let world = World::new();
    let (python, policy) = python_policy(&world);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A process outside the sandbox standing in for the engine, to receive SIGTERM if it can be sent.
    let mut standin = Command::new("sleep").arg("300").spawn().unwrap();
    let config = json!({
        "plugin_dir": world.plugin_dir,
        "data_dir": world.data_dir,
        "other_db": world.other_db,
        "config": world.config,
        "port": port,
        "engine_pid": std::process::id(),
        "standin_pid": standin.id(),
    });

    let output = run(&mut world.command(&policy, &python, "all", &config), Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let standin_alive = standin.try_wait().unwrap().is_none();
    let _ = standin.kill();
    let _ = standin.wait();

    let mut results: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a probe line ({e}): {line}"));
        let name = v["probe"].as_str().unwrap().to_owned();
        let denied = v["denied"].as_bool().unwrap();
        results.insert(name, (denied, v["detail"].as_str().unwrap_or_default().to_owned()));
    }

    let mut failures = Vec::new();
    let mut expect = |probe: &str, denied: bool, why: &str| match results.get(probe) {
        None => failures.push(format!("{probe}: no result line (the probe script stopped before it)")),
        Some((d, detail)) if *d != denied => {
            let verdict = if denied { "must be denied" } else { "must be allowed" };
            failures.push(format!("{probe}: {verdict} ({why}), but: {detail}"));
        }
        Some(_) => {}
    };
    expect("read_own_code", false, "a plugin reads its own folder");
    expect("read_other_plugin_db", true, "another plugin's database is outside its folders");
    expect("read_config", true, "the engine's zepix.toml holds secrets");
    expect("read_etc_passwd", true, "/etc is not readable");
    expect("read_engine_environ", true, "/proc of the engine holds its environment");
    expect("write_config", true, "the engine's configuration is not writable");
    expect("write_tmp", true, "only the data folder is writable");
    expect("write_plugin_dir", true, "the plugin folder is read-only");
    expect("write_data_dir", false, "the data folder is the plugin's own");
    expect("sqlite_data_dir", false, "a plugin keeps its SQLite database in its data folder");
    expect("threads", false, "threads stay allowed (clone with CLONE_THREAD)");
    expect("asyncio", false, "asyncio works (socketpair stays allowed)");
    expect("os_system", true, "no new processes");
    expect("subprocess", true, "no new processes");
    expect("tcp_connect", true, "no network");
    expect("udp_socket", true, "no network");
    expect("kill_engine", true, "no signals to processes outside the sandbox");
    expect("signal_parent", true, "not even a probe signal to the engine");
    expect("memory_1gib", true, "1 GiB does not fit in a 512 MiB address space");
    expect("raise_memory_limit", true, "limits cannot be raised");
    expect("ptrace_attach", true, "no tracing");
    expect("unshare_user_ns", true, "no namespaces");
    expect("exec_sh", true, "only the interpreter may be executed");
    if let Some((_, detail)) = results.get("memory_1gib") {
        if !detail.starts_with("MemoryError") {
            failures.push(format!("memory_1gib: expected a MemoryError, got: {detail}"));
        }
    }
    if !standin_alive {
        failures.push("kill_engine: the stand-in engine process died".into());
    }
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, from)) => failures.push(format!("tcp_connect: a connection arrived from {from}")),
        Err(e) => failures.push(format!("tcp_connect: accept failed: {e}")),
    }
    if world.data_dir.join("system-marker").exists() {
        failures.push("os_system: the shell wrote its marker in the data folder".into());
    }
    if world.plugin_dir.join("dropped.py").exists() {
        failures.push("write_plugin_dir: dropped.py is in the plugin folder".into());
    }
    if world.data_dir.join("plugin.db").metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        failures.push("sqlite_data_dir: no database in the data folder".into());
    }
    assert!(output.status.success(), "the probe exited with {}; stderr:\n{stderr}", output.status);
    assert!(failures.is_empty(), "{}\n\nstdout:\n{stdout}\nstderr:\n{stderr}", failures.join("\n"));
    assert!(!stderr.contains("PARTIAL"), "the launcher warned of a partial sandbox:\n{stderr}");
}

#[test]
fn the_cpu_limit_ends_a_busy_loop() {
    let world = World::new();
    let (python, mut policy) = python_policy(&world);
    policy.cpu_seconds = 1;
    let output = run(&mut world.command(&policy, &python, "busy", &json!({})), Duration::from_secs(30));
    let signal = output.status.signal();
    assert!(
        signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL),
        "the busy loop ended with {} (stderr: {})",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn bad_arguments_exit_126_with_the_reason() {
    let output =
        run(Command::new(LAUNCHER).args(["--plugin-dir", "/nonexistent", "--", "/bin/true"]), Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(126), "{stderr}");
    assert!(stderr.starts_with("zepix-sandbox: --data-dir is required"), "{stderr}");
}

#[test]
fn a_missing_plugin_folder_is_refused() {
    let world = World::new();
    let (python, mut policy) = python_policy(&world);
    policy.plugin_dir = world.plugin_dir.join("missing");
    let mut command = Command::new(LAUNCHER);
    command.args(policy.to_args()).arg("--").arg(&python).args([OsString::from("-c"), "print('ran')".into()]);
    let output = run(&mut command, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(126), "{stderr}");
    assert!(stderr.contains("missing") && output.stdout.is_empty(), "{stderr}");
}
