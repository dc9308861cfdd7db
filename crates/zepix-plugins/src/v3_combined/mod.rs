//! `v3_combined`: trades V3 alerts on 5m, 15m and 1h when the higher timeframes' trends agree.
//!
//! [`manifest`] and [`build`] are what the built-in table holds; the filter is in [`plugin`], its
//! settings in [`config`].

pub mod config;
pub mod plugin;
#[cfg(test)]
mod tests;

use zepix_model::Timeframe;
use zepix_plugin::{Capability, Manifest, Plugin, Settings};

use crate::common::ManifestSpec;
pub use config::V3Config;
pub use plugin::V3Combined;

/// Plugin id.
pub const ID: &str = "v3_combined";
/// Routing strategy.
pub const STRATEGY: &str = "V3_COMBINED";
/// Routing timeframes.
pub const TIMEFRAMES: &[Timeframe] = &[Timeframe::M5, Timeframe::M15, Timeframe::H1];
/// Services it calls.
pub const CAPABILITIES: &[Capability] = &[
    Capability::Orders,
    Capability::Positions,
    Capability::Risk,
    Capability::Trend,
    Capability::MarketData,
    Capability::Notify,
];

/// The manifest, as code.
#[must_use]
pub fn manifest() -> Manifest {
    ManifestSpec {
        id: ID,
        name: "V3 Combined",
        description: "Multi-timeframe V3 logic for 5m, 15m and 1h alerts: an entry is traded as the alert \
                      gives it (levels and size) only when the trends of the alignment timeframes \
                      (15m and 1h by default) agree with its direction. Exits close the plugin's \
                      positions on the symbol; reversals close them and enter the other side."
            .into(),
        strategy: STRATEGY,
        timeframes: TIMEFRAMES.to_vec(),
        capabilities: CAPABILITIES,
        settings_schema: config::schema(),
    }
    .into_manifest()
}

/// Builds the plugin from settings the engine validated against [`config::schema`].
///
/// # Errors
/// When a setting is valid for the schema but not for the plugin (an unknown timeframe).
pub fn build(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    Ok(Box::new(V3Combined::new(V3Config::from_settings(settings)?)))
}
