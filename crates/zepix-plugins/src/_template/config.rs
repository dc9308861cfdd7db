//! Settings of the template: the schema the engine validates `[plugins.my_logic.settings]`
//! against, and the typed config the plugin reads.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use zepix_model::Pips;
use zepix_plugin::{SettingSchema, Settings};

use crate::common::{boolean, number};

/// The typed config. Field names are the setting names; `deny_unknown_fields` keeps the struct
/// and the schema honest with each other (a setting in one but not the other fails the tests).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// Minimum `confidence` an alert must carry.
    // Settings hold JSON numbers; `Decimal` reads them exactly (no floats for anything compared
    // with market data or money).
    pub min_confidence: Decimal,
    /// How many of this plugin's positions may be open on one symbol.
    pub max_open_per_symbol: u32,
    /// Stop-loss distance for alerts without one.
    pub default_sl_pips: Decimal,
    /// Tell the operator (notifier bot) about every refused entry.
    pub notify_rejections: bool,
}

impl TemplateConfig {
    /// Parses validated settings, then checks what the schema cannot say.
    ///
    /// # Errors
    /// A message naming the setting.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let config: Self = settings.parse()?;
        // The schema's `minimum` is inclusive; a zero stop distance is meaningless, so refuse it
        // here with a message that says what to write instead.
        Pips::new(config.default_sl_pips)
            .map_err(|_| "setting `default_sl_pips`: must be above 0, e.g. 25".to_owned())?;
        Ok(config)
    }

    /// The default stop distance as pips (checked positive in [`Self::from_settings`]).
    #[must_use]
    pub fn default_sl(&self) -> Option<Pips> {
        Pips::new(self.default_sl_pips).ok()
    }
}

/// The schema: every setting has a type, a default and a description (shown by
/// `zepix plugin list` and the dashboard). A setting without a default is required.
#[must_use]
pub fn schema() -> BTreeMap<String, SettingSchema> {
    BTreeMap::from([
        (
            "min_confidence".to_owned(),
            number(Value::from(60), 0.0, 100.0, "Entries whose `confidence` is missing or below this are refused."),
        ),
        (
            "max_open_per_symbol".to_owned(),
            SettingSchema {
                kind: "integer".into(),
                default: Some(Value::from(1)),
                minimum: Some(1.0),
                maximum: Some(20.0),
                allowed: None,
                items: None,
                description: "How many of this plugin's positions may be open on one symbol at once.".into(),
            },
        ),
        (
            "default_sl_pips".to_owned(),
            number(Value::from(25), 0.0, 100_000.0, "Stop-loss distance in pips for alerts that give no `sl`."),
        ),
        ("notify_rejections".to_owned(), boolean(false, "Send a notification for every refused entry.")),
    ])
}
