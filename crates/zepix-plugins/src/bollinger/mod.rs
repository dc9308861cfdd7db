//! `bollinger`: a strategy plugin. It watches closed bars and emits entry and exit signals when
//! the close leaves and comes back through Bollinger bands; the signals go through the router to
//! a logic plugin (by default `signal_executor`), the risk gate and the venue like any alert.

pub mod config;
pub mod plugin;
#[cfg(test)]
mod tests;

use zepix_plugin::{Capability, Manifest, Plugin, Role, Settings};

use crate::common::ManifestSpec;
pub use config::BollingerConfig;
pub use plugin::Bollinger;

/// Plugin id.
pub const ID: &str = "bollinger";
/// Services it calls: it only emits signals.
pub const CAPABILITIES: &[Capability] = &[Capability::Signals];

/// The manifest, as code: a strategy plugin taking bars of any symbol and timeframe (restrict
/// with `symbols` under `[plugins.bollinger]`).
#[must_use]
pub fn manifest() -> Manifest {
    let mut manifest = ManifestSpec {
        id: ID,
        name: "Bollinger Bands",
        description: "Strategy on closed bars: enters long when the close falls below the lower band \
                      (short above the upper band) and exits when the close crosses back over the \
                      middle band. Signals go to the `target` plugin (signal_executor by default)."
            .into(),
        strategy: "BOLLINGER",
        timeframes: Vec::new(),
        capabilities: CAPABILITIES,
        settings_schema: config::schema(),
    }
    .into_manifest();
    manifest.roles = vec![Role::Strategy];
    manifest.strategy = None;
    manifest
}

/// Builds the plugin from its validated settings.
///
/// # Errors
/// When the settings do not fit (e.g. a target that is not a plugin id).
pub fn build(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    Ok(Box::new(Bollinger::new(BollingerConfig::from_settings(settings)?)?))
}
