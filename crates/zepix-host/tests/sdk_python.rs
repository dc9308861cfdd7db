//! The Python SDK's own tests (runner over real pipes, the test harness, the example plugins), run
//! as part of `cargo test --workspace` so one command tests everything.

use std::path::Path;
use std::process::Command;

#[test]
fn the_python_sdk_and_example_plugins_pass_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("python3")
        .args(["-B", "-m", "unittest", "discover", "-s", "sdk/python/tests", "-t", "sdk/python"])
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed for the SDK's tests: {e}"));
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python3 -m unittest failed:\n{report}");
    assert!(report.contains("\nOK"), "no test ran:\n{report}");
}
