//! The `zepix` binary's library: wiring of every crate ([`app`]), configuration ([`config`]),
//! the CLI commands ([`commands`]), ready alerts ([`examples`]), plugin scaffolding
//! ([`scaffold`]), an HTTP client ([`client`]) and the whole-program benchmarks ([`bench`]).

pub mod app;
pub mod backtest;
pub mod bench;
pub mod client;
pub mod commands;
pub mod config;
pub mod examples;
pub mod host;
pub mod market;
pub mod out;
pub mod package;
pub mod scaffold;
pub mod shadow;
pub mod telegram;
pub mod watch;
