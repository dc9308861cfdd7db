//! Settings of `bollinger`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use zepix_model::{Lots, PluginId};
use zepix_plugin::{SettingSchema, Settings};

use crate::common::number;

/// Which side the strategy trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Buy below the lower band only.
    Long,
    /// Sell above the upper band only.
    Short,
    /// Both.
    Both,
}

/// The settings as configured under `[plugins.bollinger.settings]` (or `--set` in a backtest).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BollingerConfig {
    /// Bars in the moving window.
    pub period: usize,
    /// Band width in population standard deviations.
    pub k: f64,
    /// Which side to trade.
    pub direction: Direction,
    /// Stop loss as a percentage of the entry price; 0 means none.
    pub sl_pct: Decimal,
    /// Take profit as a percentage of the entry price; 0 means none.
    pub tp_pct: Decimal,
    /// Size of each entry.
    pub lot: Lots,
    /// The logic plugin that executes the signals.
    pub target: PluginId,
}

impl BollingerConfig {
    /// Parses validated settings.
    ///
    /// # Errors
    /// When a value does not fit: a period below 2, a target that is not a plugin id.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        if let Some(Value::String(target)) = settings.as_map().get("target") {
            PluginId::new(target).map_err(|e| format!("setting `target`: {e}"))?;
        }
        let config: Self = settings.parse()?;
        if config.period < 2 {
            return Err(format!("setting `period`: {} is too short; expected at least 2 bars", config.period));
        }
        Ok(config)
    }
}

/// The settings schema.
#[must_use]
pub fn schema() -> BTreeMap<String, SettingSchema> {
    let text = |default: &str, allowed: Option<&[&str]>, description: &str| SettingSchema {
        kind: "string".into(),
        default: Some(Value::String(default.into())),
        minimum: None,
        maximum: None,
        allowed: allowed.map(|a| a.iter().map(|s| Value::String((*s).into())).collect()),
        items: None,
        description: description.into(),
    };
    BTreeMap::from([
        (
            "period".to_owned(),
            SettingSchema {
                kind: "integer".into(),
                ..number(Value::from(20), 2.0, 10_000.0, "bars in the moving window")
            },
        ),
        ("k".to_owned(), number(Value::from(2.0), 0.1, 10.0, "band width in standard deviations")),
        ("direction".to_owned(), text("long", Some(&["long", "short", "both"]), "which side to trade")),
        ("sl_pct".to_owned(), number(Value::from(0), 0.0, 50.0, "stop loss, % of the entry price (0 = none)")),
        ("tp_pct".to_owned(), number(Value::from(0), 0.0, 100.0, "take profit, % of the entry price (0 = none)")),
        ("lot".to_owned(), number(Value::from(1), 0.000_001, 1_000_000.0, "size of each entry")),
        ("target".to_owned(), text("signal_executor", None, "the logic plugin that executes the signals")),
    ])
}
