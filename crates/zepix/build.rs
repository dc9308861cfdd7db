//! Embeds the Python SDK (`sdk/python/zepix_sdk/*.py`) so the binary can run Python plugins from
//! any folder: at start the engine writes it into its data directory.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python/zepix_sdk");
    println!("cargo::rerun-if-changed={}", sdk.display());
    let mut files: Vec<_> = std::fs::read_dir(&sdk)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "py"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut code = String::from("/// The SDK's files: name and contents.\npub const SDK_FILES: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo::rerun-if-changed={}", file.display());
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let _ = writeln!(code, "    ({name:?}, include_str!({:?})),", file.display().to_string());
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("sdk_files.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
