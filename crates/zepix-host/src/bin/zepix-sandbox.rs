//! The sandbox launcher: applies a plugin's sandbox policy to itself, then execs the plugin.
//!
//! `zepix-sandbox --plugin-dir DIR --data-dir DIR [--ro PATH]... [--exec FILE]... [--memory-mb N]
//! [--cpu-s N] [--nofile N] [--require-full] -- PROGRAM [ARG]...`
//!
//! On failure it prints `zepix-sandbox: <error>` and exits 126.

use std::process::ExitCode;

fn main() -> ExitCode {
    zepix_host::sandbox::launcher_main(std::env::args_os().skip(1))
}
