//! zepix's built-in plugins, compiled into the engine and configured like any other plugin under
//! `[plugins.<id>]`.
//!
//! - [`builtins`]: the one ordered table the engine registers from.
//! - [`v3_combined`]: V3 alerts on 5m/15m/1h, traded when the higher timeframes' trends agree.
//! - [`v6_price_action`]: V6 alerts, one logic with four timeframe variants (1m, 5m, 15m, 1h):
//!   ADX, confidence and 15m-trend filters, default levels and risk per timeframe.
//! - [`signal_executor`]: executes alerts as given, for logic that lives in TradingView.
//! - [`bollinger`]: a strategy on closed bars whose signals go to `signal_executor`.
//! - [`_template`]: a commented example to copy when writing a new built-in (not in the table).
//!
//! Each plugin folder holds `mod.rs` (manifest and build), `config.rs` (settings schema and typed
//! config), `plugin.rs` (the logic), `tests.rs` and a `README.md` for traders.

pub mod _template;
pub mod bollinger;
mod common;
pub mod signal_executor;
pub mod v3_combined;
pub mod v6_price_action;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use zepix_plugin::BuiltinPlugin;

/// The built-ins, in the order the engine registers them (and lists them to operators).
static BUILTINS: [BuiltinPlugin; 7] = [
    BuiltinPlugin { manifest: v3_combined::manifest, build: v3_combined::build },
    BuiltinPlugin { manifest: v6_price_action::manifest_1m, build: v6_price_action::build_1m },
    BuiltinPlugin { manifest: v6_price_action::manifest_5m, build: v6_price_action::build_5m },
    BuiltinPlugin { manifest: v6_price_action::manifest_15m, build: v6_price_action::build_15m },
    BuiltinPlugin { manifest: v6_price_action::manifest_1h, build: v6_price_action::build_1h },
    BuiltinPlugin { manifest: signal_executor::manifest, build: signal_executor::build },
    BuiltinPlugin { manifest: bollinger::manifest, build: bollinger::build },
];

/// Every built-in plugin: its manifest and how to build it from validated settings.
#[must_use]
pub fn builtins() -> &'static [BuiltinPlugin] {
    &BUILTINS
}
