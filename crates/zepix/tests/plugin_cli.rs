//! `zepix plugin new|validate|test|package|install` as a user runs them: the real binary, its
//! output and exit code, in temporary folders. Python plugins run for real (sandbox, SDK).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest any one command may take before the test fails (and the command is killed).
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `command` to completion within [`LIMIT`].
fn run(mut command: Command) -> Output {
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || drop(tx.send(child.wait_with_output())));
    match rx.recv_timeout(LIMIT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{command:?} ran past {LIMIT:?}");
        }
    }
}

fn zepix(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zepix"));
    command.args(args).current_dir(dir).env("ZEPIX_LOG", "error");
    run(command)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn both(o: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", stdout(o), stderr(o))
}

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python")
}

/// Runs a generated Python plugin's own unit tests (`test_plugin.py`) against the SDK's harness.
fn python_unit_tests(plugin: &Path) -> Output {
    let mut command = Command::new("python3");
    command
        .args(["-B", "-m", "unittest", "discover", "-s"])
        .arg(plugin)
        .env("PYTHONPATH", sdk_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run(command)
}

#[test]
fn every_template_makes_a_folder_that_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    let out = zepix(t, &["plugin", "new", "py_logic", "--dir", "ps"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("created ps/py_logic (Python logic plugin)"), "{}", both(&out));
    let out = zepix(t, &["plugin", "validate", "ps/py_logic"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(stdout(&out).trim(), "ok: py_logic 0.1.0 (runtime python, strategy PY_LOGIC, 6 capabilities)");
    let shown = stderr(&out);
    assert!(shown.contains("handshake: \"Py Logic\" 0.1.0 answered initialize"), "{shown}");
    assert!(shown.contains("roles: logic") && shown.contains("sandbox: "), "{shown}");
    let out = python_unit_tests(&t.join("ps/py_logic"));
    assert!(out.status.success(), "{}", both(&out));
    assert!(stderr(&out).contains("Ran 2 tests"), "{}", both(&out));

    let out = zepix(t, &["plugin", "new", "py_strategy", "--template", "strategy", "--dir", "ps"]);
    assert!(out.status.success(), "{}", both(&out));
    let out = zepix(t, &["plugin", "validate", "ps/py_strategy"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stdout(&out).starts_with("ok: py_strategy 0.1.0 (runtime python"), "{}", both(&out));
    assert!(stderr(&out).contains("roles: strategy") && stderr(&out).contains("hooks: on_bar"), "{}", both(&out));
    let out = python_unit_tests(&t.join("ps/py_strategy"));
    assert!(out.status.success(), "{}", both(&out));

    // The Rust template is not built here: validate says what to do.
    let out = zepix(t, &["plugin", "new", "rs_logic", "--lang", "rust", "--dir", "ps"]);
    assert!(out.status.success(), "{}", both(&out));
    for file in
        ["plugin.toml", "config.toml", "Cargo.toml", "src/main.rs", "src/lib.rs", "tests/decision.rs", "README.md"]
    {
        assert!(t.join("ps/rs_logic").join(file).is_file(), "{file} missing");
    }
    let cargo = std::fs::read_to_string(t.join("ps/rs_logic/Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"rs_logic\"") && cargo.contains("[workspace]"), "{cargo}");
    let out = zepix(t, &["plugin", "validate", "ps/rs_logic"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains(
            "ps/rs_logic/target/release/rs_logic is not built yet: run `cargo build --release` in ps/rs_logic"
        ),
        "{}",
        both(&out)
    );

    // Refusals: an existing folder, a bad name, a Rust keyword, no Rust strategy template.
    for (args, needle) in [
        (&["plugin", "new", "py_logic", "--dir", "ps"][..], "already exists"),
        (&["plugin", "new", "Bad Name", "--dir", "ps"][..], "plugin id"),
        (&["plugin", "new", "match", "--lang", "rust", "--dir", "ps"][..], "cannot name a Rust package"),
        (
            &["plugin", "new", "rs_strat", "--lang", "rust", "--template", "strategy", "--dir", "ps"][..],
            "no Rust strategy",
        ),
    ] {
        let out = zepix(t, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", both(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", both(&out));
    }
    assert!(!t.join("ps/match").exists() && !t.join("ps/rs_strat").exists());
}

#[test]
fn a_broken_plugin_fails_the_handshake_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    assert!(zepix(t, &["plugin", "new", "broken", "--dir", "."]).status.success());
    std::fs::write(t.join("broken/plugin.py"), "raise RuntimeError('no luck today')\n").unwrap();
    let out = zepix(t, &["plugin", "validate", "broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(stdout(&out).contains("error: broken: handshake failed:"), "{}", both(&out));
    assert!(!stdout(&out).contains("ok:"), "{}", both(&out));
}

/// The archive with `change` applied to its raw bytes, written beside it.
fn altered(archive: &Path, name: &str, change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(archive).unwrap();
    change(&mut bytes);
    let out = archive.with_file_name(name);
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn package_and_install_round_trip_and_a_changed_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    assert!(zepix(t, &["plugin", "new", "shipped", "--dir", "src"]).status.success());
    // Caches and build output stay out of the archive.
    std::fs::create_dir_all(t.join("src/shipped/__pycache__")).unwrap();
    std::fs::write(t.join("src/shipped/__pycache__/plugin.cpython-312.pyc"), b"\0").unwrap();
    std::fs::create_dir_all(t.join("src/shipped/lib")).unwrap();
    std::fs::write(t.join("src/shipped/lib/helpers.py"), "def one():\n    return 1\n").unwrap();

    let out = zepix(t, &["plugin", "package", "src/shipped"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("packaged shipped 0.1.0: 6 files"), "{}", both(&out));
    let archive = t.join("shipped-0.1.0.zpx");
    assert!(archive.is_file());
    let names: Vec<String> = tar::Archive::new(std::fs::File::open(&archive).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "ZPX-MANIFEST.json",
            "README.md",
            "config.toml",
            "lib/helpers.py",
            "plugin.py",
            "plugin.toml",
            "test_plugin.py"
        ]
    );

    let out = zepix(t, &["plugin", "install", "shipped-0.1.0.zpx", "--dir", "installed"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("installed shipped 0.1.0 in installed/shipped (6 files"), "{}", both(&out));
    for file in ["plugin.toml", "plugin.py", "config.toml", "README.md", "test_plugin.py", "lib/helpers.py"] {
        assert_eq!(
            std::fs::read(t.join("src/shipped").join(file)).unwrap(),
            std::fs::read(t.join("installed/shipped").join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!t.join("installed/shipped/__pycache__").exists());
    let out = zepix(t, &["plugin", "validate", "installed/shipped"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));

    let out = zepix(t, &["plugin", "install", "shipped-0.1.0.zpx", "--dir", "installed"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(stderr(&out).contains("already exists: remove it, or pass --force"), "{}", both(&out));
    let out = zepix(t, &["plugin", "install", "shipped-0.1.0.zpx", "--dir", "installed", "--force"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("the previous folder was replaced"), "{}", both(&out));

    // One byte of plugin.py changed inside the archive.
    let one_byte = altered(&archive, "one-byte.zpx", |bytes| {
        // `process_exit_signal` appears in plugin.py only.
        let at = bytes.windows(19).position(|w| w == b"process_exit_signal").unwrap();
        bytes[at] = b'P';
    });
    let out = zepix(t, &["plugin", "install", one_byte.to_str().unwrap(), "--dir", "tampered"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(stderr(&out).contains("`plugin.py`: its SHA-256 does not match ZPX-MANIFEST.json"), "{}", both(&out));
    assert!(!t.join("tampered/shipped").exists(), "nothing installed");

    // A file added to the archive after packaging.
    let extra = t.join("extra.zpx");
    {
        let mut original = tar::Archive::new(std::fs::File::open(&archive).unwrap());
        let mut builder = tar::Builder::new(std::fs::File::create(&extra).unwrap());
        for entry in original.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut header = entry.header().clone();
            let path = entry.path().unwrap().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            builder.append_data(&mut header, path, data.as_slice()).unwrap();
        }
        let payload = b"import os\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(payload.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, "sitecustomize.py", &payload[..]).unwrap();
        builder.finish().unwrap();
    }
    let out = zepix(t, &["plugin", "install", "extra.zpx", "--dir", "tampered"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stderr(&out).contains("`sitecustomize.py` is in the archive but not in ZPX-MANIFEST.json"),
        "{}",
        both(&out)
    );
    assert!(!t.join("tampered/shipped").exists(), "nothing installed");
    let left: Vec<_> = std::fs::read_dir(t.join("tampered")).map(|d| d.collect()).unwrap_or_default();
    assert!(left.is_empty(), "no staging folder left behind: {left:?}");

    // Not an archive at all.
    std::fs::write(t.join("junk.zpx"), b"hello").unwrap();
    let out = zepix(t, &["plugin", "install", "junk.zpx", "--dir", "tampered"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(stderr(&out).contains("junk.zpx"), "{}", both(&out));
}

#[test]
fn a_bad_signals_file_is_refused_by_line_and_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let good = r#"{"id":"ok-1","strategy":"X","symbol":"XAUUSD","direction":"buy","price":2030}"#;
    std::fs::write(
        t.join("alerts.jsonl"),
        format!(
            "{good}\n\n{{not json\n{{\"type\":\"entry\",\"symbol\":\"XAUUSD\",\"direction\":\"sideways\"}}\n[1, 2]\n"
        ),
    )
    .unwrap();
    let out = zepix(t, &["plugin", "test", "v3_combined", "--signals", "alerts.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let shown = stderr(&out);
    for needle in [
        "alerts.jsonl: 3 bad alert(s); nothing was run",
        "line 3: not JSON",
        "line 4: field `direction`: got `sideways`",
        "line 5: an alert is a JSON object",
    ] {
        assert!(shown.contains(needle), "missing `{needle}` in:\n{shown}");
    }
    assert!(stdout(&out).is_empty(), "{}", both(&out));
    assert!(!t.join("data").exists(), "no engine was started");

    let out = zepix(t, &["plugin", "test", "ghost", "--signals", "alerts.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
}

#[test]
fn plugin_test_runs_the_python_template_on_the_paper_venue() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    assert!(zepix(t, &["plugin", "new", "my_logic"]).status.success());
    let alert = |id: &str, confidence: u32| {
        format!(
            r#"{{"id":"{id}","strategy":"MY_LOGIC","timeframe":"5m","symbol":"XAUUSD","direction":"buy","price":2030.5,"sl":2025,"tp":2040,"lot":0.1,"confidence":{confidence},"timestamp":"2020-01-01T00:00:00Z","max_lag":5}}"#
        )
    };
    std::fs::write(t.join("alerts.jsonl"), format!("{}\n{}\n", alert("rec-1", 80), alert("rec-2", 40))).unwrap();
    let out = zepix(t, &["plugin", "test", "my_logic", "--signals", "alerts.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("my_logic against 2 signal(s) from alerts.jsonl on the paper venue"), "{text}");
    let header: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(header, ["#", "signal", "type", "symbol", "side", "status", "code/reason", "orders"], "{text}");
    let row = |n: usize| lines[n].split_whitespace().collect::<Vec<_>>();
    assert_eq!(row(2), ["1", "rec-1", "entry", "XAUUSD", "buy", "executed", "-", "#1"], "{text}");
    assert_eq!(
        row(3),
        [
            "2",
            "rec-2",
            "entry",
            "XAUUSD",
            "buy",
            "rejected",
            "plugin_rejected:",
            "confidence",
            "40",
            "below",
            "60",
            "-"
        ],
        "{text}"
    );
    assert_eq!(lines[4], "1 executed, 1 rejected", "{text}");
    assert!(!t.join("data").exists(), "the run used a temporary data folder");
}
