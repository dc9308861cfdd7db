//! Settings of the `v6_price_action_*` plugins: one schema whose defaults depend on the timeframe,
//! and the typed config built from it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Number, Value};
use zepix_model::Pips;
use zepix_plugin::{SettingSchema, Settings};

use crate::common::{boolean, number};

/// Per-timeframe defaults. Plain numbers because they become JSON defaults in the schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    /// Whether entries need the 15m trend to agree.
    pub require_15m_alignment: bool,
    /// Stop-loss distance when the alert has none.
    pub sl_pips: u32,
    /// Take-profit distance when the alert has none.
    pub tp_pips: u32,
    /// Percent of the balance risked when the alert has no size.
    pub risk_pct: f64,
}

/// Default minimum ADX for an entry.
pub const DEFAULT_ADX_THRESHOLD: u32 = 25;
/// Default minimum confidence for an entry.
pub const DEFAULT_CONFIDENCE_THRESHOLD: u32 = 70;
/// Largest `risk_pct` the schema accepts: beyond this one trade can take a large share of the
/// account, which is a typo far more often than a plan.
pub const MAX_RISK_PCT: f64 = 10.0;

/// The settings as configured under `[plugins.v6_price_action_<tf>.settings]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V6Config {
    /// Minimum `adx` of an alert; lower is refused.
    pub adx_threshold: Decimal,
    /// Minimum `confidence` of an alert; lower is refused.
    pub confidence_threshold: Decimal,
    /// Refuse entries the 15m trend does not agree with.
    pub require_15m_alignment: bool,
    /// Stop-loss distance when the alert has none.
    pub sl_pips: Pips,
    /// Take-profit distance when the alert has none.
    pub tp_pips: Pips,
    /// Percent of the balance risked when the alert has no size; positive.
    pub risk_pct: Decimal,
}

impl V6Config {
    /// Parses validated settings.
    ///
    /// # Errors
    /// When the settings do not fit the config: a zero pip distance or a zero risk.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let config: Self = settings.parse()?;
        if config.risk_pct <= Decimal::ZERO {
            return Err(format!(
                "setting `risk_pct`: {} risks nothing; expected a positive percentage",
                config.risk_pct
            ));
        }
        Ok(config)
    }
}

/// The settings schema with `defaults` for one timeframe.
#[must_use]
pub fn schema(defaults: &Defaults) -> BTreeMap<String, SettingSchema> {
    let risk = Number::from_f64(defaults.risk_pct).map_or(Value::Null, Value::Number);
    BTreeMap::from([
        (
            "adx_threshold".to_owned(),
            number(
                Value::from(DEFAULT_ADX_THRESHOLD),
                0.0,
                100.0,
                "Minimum trend strength: entries whose `adx` is missing or below this are refused.",
            ),
        ),
        (
            "confidence_threshold".to_owned(),
            number(
                Value::from(DEFAULT_CONFIDENCE_THRESHOLD),
                0.0,
                100.0,
                "Minimum signal confidence (0-100): entries whose `confidence` is missing or below this are refused.",
            ),
        ),
        (
            "require_15m_alignment".to_owned(),
            boolean(defaults.require_15m_alignment, "Only enter when the 15m trend agrees with the alert's direction."),
        ),
        (
            "sl_pips".to_owned(),
            number(
                Value::from(defaults.sl_pips),
                0.0,
                100_000.0,
                "Stop-loss distance in pips, used when the alert gives no `sl`. Must be above 0.",
            ),
        ),
        (
            "tp_pips".to_owned(),
            number(
                Value::from(defaults.tp_pips),
                0.0,
                100_000.0,
                "Take-profit distance in pips, used when the alert gives no `tp`. Must be above 0.",
            ),
        ),
        (
            "risk_pct".to_owned(),
            number(
                risk,
                0.0,
                MAX_RISK_PCT,
                "Percent of the balance risked between entry and stop loss, used when the alert gives no size.",
            ),
        ),
    ])
}
