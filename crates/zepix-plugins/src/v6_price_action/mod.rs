//! `v6_price_action_{1m,5m,15m,1h}`: one price-action logic, four built-ins that differ only in
//! their timeframe and default settings.
//!
//! Each timeframe is a [`Variant`]; the `manifest_*` and `build_*` functions are what the
//! built-in table holds (the table takes plain function pointers, so each variant has its pair).

pub mod config;
pub mod plugin;
#[cfg(test)]
mod tests;

use zepix_model::Timeframe;
use zepix_plugin::{Capability, Manifest, Plugin, Settings};

use crate::common::ManifestSpec;
pub use config::{Defaults, V6Config};
pub use plugin::V6PriceAction;

/// Routing strategy shared by the four variants.
pub const STRATEGY: &str = "V6_PRICE_ACTION";

/// Services every variant calls.
pub const CAPABILITIES: &[Capability] = &[
    Capability::Orders,
    Capability::Positions,
    Capability::Risk,
    Capability::Trend,
    Capability::MarketData,
    Capability::Notify,
];

/// One timeframe of the V6 logic: its id, routing timeframe and default settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant {
    /// Plugin id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What this timeframe is for.
    pub style: &'static str,
    /// The one timeframe it routes.
    pub timeframe: Timeframe,
    /// Its default settings.
    pub defaults: Defaults,
}

/// 1-minute scalping: tight levels, half the risk, needs the 15m trend.
pub const M1: Variant = Variant {
    id: "v6_price_action_1m",
    name: "V6 Price Action 1m",
    style: "1-minute scalping",
    timeframe: Timeframe::M1,
    defaults: Defaults { require_15m_alignment: true, sl_pips: 10, tp_pips: 15, risk_pct: 0.5 },
};

/// 5-minute momentum, needs the 15m trend.
pub const M5: Variant = Variant {
    id: "v6_price_action_5m",
    name: "V6 Price Action 5m",
    style: "5-minute momentum",
    timeframe: Timeframe::M5,
    defaults: Defaults { require_15m_alignment: true, sl_pips: 20, tp_pips: 40, risk_pct: 1.0 },
};

/// 15-minute swing; is itself the alignment timeframe, so it does not ask for it by default.
pub const M15: Variant = Variant {
    id: "v6_price_action_15m",
    name: "V6 Price Action 15m",
    style: "15-minute swing",
    timeframe: Timeframe::M15,
    defaults: Defaults { require_15m_alignment: false, sl_pips: 35, tp_pips: 70, risk_pct: 1.0 },
};

/// 1-hour position trading: wide levels, a little more risk.
pub const H1: Variant = Variant {
    id: "v6_price_action_1h",
    name: "V6 Price Action 1h",
    style: "1-hour position",
    timeframe: Timeframe::H1,
    defaults: Defaults { require_15m_alignment: false, sl_pips: 60, tp_pips: 120, risk_pct: 1.5 },
};

impl Variant {
    /// This variant's manifest.
    #[must_use]
    pub fn manifest(&self) -> Manifest {
        let description = format!(
            "V6 price action, {} ({tf} alerts of strategy {STRATEGY}). Enters only when the alert's `adx` \
             and `confidence` reach their thresholds{}; uses the alert's SL, TP and size when given, \
             else {} / {} pips and {}% risk. Exits and reversals close the plugin's positions on the symbol.",
            self.style,
            if self.defaults.require_15m_alignment { " and the 15m trend agrees (by default)" } else { "" },
            self.defaults.sl_pips,
            self.defaults.tp_pips,
            self.defaults.risk_pct,
            tf = self.timeframe,
        );
        ManifestSpec {
            id: self.id,
            name: self.name,
            description,
            strategy: STRATEGY,
            timeframes: vec![self.timeframe],
            capabilities: CAPABILITIES,
            settings_schema: config::schema(&self.defaults),
        }
        .into_manifest()
    }

    /// Builds this variant from settings validated against its schema.
    ///
    /// # Errors
    /// When a setting passes the schema but not the plugin (a zero pip distance or risk).
    pub fn build(&self, settings: &Settings) -> Result<Box<dyn Plugin>, String> {
        Ok(Box::new(V6PriceAction::new(self.timeframe, V6Config::from_settings(settings)?)))
    }
}

/// Manifest of `v6_price_action_1m`.
#[must_use]
pub fn manifest_1m() -> Manifest {
    M1.manifest()
}

/// Builds `v6_price_action_1m`.
///
/// # Errors
/// See [`Variant::build`].
pub fn build_1m(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    M1.build(settings)
}

/// Manifest of `v6_price_action_5m`.
#[must_use]
pub fn manifest_5m() -> Manifest {
    M5.manifest()
}

/// Builds `v6_price_action_5m`.
///
/// # Errors
/// See [`Variant::build`].
pub fn build_5m(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    M5.build(settings)
}

/// Manifest of `v6_price_action_15m`.
#[must_use]
pub fn manifest_15m() -> Manifest {
    M15.manifest()
}

/// Builds `v6_price_action_15m`.
///
/// # Errors
/// See [`Variant::build`].
pub fn build_15m(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    M15.build(settings)
}

/// Manifest of `v6_price_action_1h`.
#[must_use]
pub fn manifest_1h() -> Manifest {
    H1.manifest()
}

/// Builds `v6_price_action_1h`.
///
/// # Errors
/// See [`Variant::build`].
pub fn build_1h(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    H1.build(settings)
}
