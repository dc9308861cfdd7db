//! `signal_executor`: trades `SIGNAL_EXECUTOR` alerts of any timeframe exactly as they are given.

pub mod config;
pub mod plugin;
#[cfg(test)]
mod tests;

use zepix_plugin::{Capability, Manifest, Plugin, Settings};

use crate::common::ManifestSpec;
pub use config::ExecutorConfig;
pub use plugin::SignalExecutor;

/// Plugin id.
pub const ID: &str = "signal_executor";
/// Routing strategy.
pub const STRATEGY: &str = "SIGNAL_EXECUTOR";
/// Services it calls.
pub const CAPABILITIES: &[Capability] = &[
    Capability::Orders,
    Capability::Positions,
    Capability::Risk,
    Capability::MarketData,
    Capability::DualOrder,
    Capability::ProfitBooking,
    Capability::Reentry,
    Capability::Safety,
];

/// The manifest, as code.
#[must_use]
pub fn manifest() -> Manifest {
    ManifestSpec {
        id: ID,
        name: "Signal Executor",
        description: "Executes alerts as given, with no filter: entries are placed with the alert's \
                      levels and size (the default lot when it has none), exits close the plugin's \
                      positions on the symbol, reversals close them and enter the other side. \
                      For strategies whose logic lives entirely in TradingView."
            .into(),
        strategy: STRATEGY,
        timeframes: Vec::new(),
        capabilities: CAPABILITIES,
        settings_schema: config::schema(),
    }
    .into_manifest()
}

/// Builds the plugin from its settings.
///
/// # Errors
/// When the settings do not fit or describe an invalid chain.
pub fn build(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    Ok(Box::new(SignalExecutor::new(ExecutorConfig::from_settings(settings)?)))
}
