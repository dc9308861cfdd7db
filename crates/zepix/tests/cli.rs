//! The command line as a user runs it: the real `zepix` binary, its output and exit code.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::path::Path;
use std::process::{Command, Output};

fn zepix(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zepix")).args(args).current_dir(dir).env("ZEPIX_LOG", "error").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn config_check_lists_every_problem_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = "[server]\nbnd = 1\nsecret = \"\"\n[risk]\nmax_open_positions = \"x\"\n\
               [plugins.v3_combined.settings]\nalignment_timeframes = [\"7x\"]\n[plugins.ghost]\n";
    std::fs::write(tmp.path().join("bad.toml"), bad).unwrap();
    let out = zepix(tmp.path(), &["config", "check", "bad.toml"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "[server] unknown key `bnd`",
        "[server] secret: is empty",
        "[risk] invalid type: string \"x\"",
        "alignment_timeframes[0]`: invalid timeframe `7x`",
        "[plugins.ghost]: no plugin with this id was found",
        "bad.toml: 5 problem(s)",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    std::fs::write(tmp.path().join("good.toml"), "[venue]\nbalance = 2500\n").unwrap();
    let out = zepix(tmp.path(), &["config", "check", "good.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("good.toml: ok (7 plugins"));
}

#[test]
fn a_new_plugin_validates_and_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = zepix(tmp.path(), &["plugin", "new", "my_logic"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = zepix(tmp.path(), &["plugin", "validate", "plugins/my_logic"]);
    assert_eq!(stdout(&out).trim(), "ok: my_logic 0.1.0 (runtime python, strategy MY_LOGIC, 6 capabilities)");
    let list = stdout(&zepix(tmp.path(), &["plugin", "list"]));
    assert!(list.lines().any(|l| l.starts_with("my_logic") && l.contains("discovered")), "{list}");
    assert!(list.lines().any(|l| l.starts_with("v3_combined") && l.contains("loaded")), "{list}");

    std::fs::write(tmp.path().join("plugins/my_logic/config.toml"), "min_confidence = 150\n").unwrap();
    let out = zepix(tmp.path(), &["plugin", "validate", "plugins/my_logic"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("setting `min_confidence`: 150 is above the maximum 100"), "{}", stdout(&out));
    let out = zepix(tmp.path(), &["plugin", "new", "my_logic"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `zepix plugin list | head -0`: the reader is gone before the first line is written.
    let tmp = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_zepix"))
        .args(["plugin", "list"])
        .current_dir(tmp.path())
        .env("ZEPIX_LOG", "error")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
