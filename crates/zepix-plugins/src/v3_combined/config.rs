//! Settings of `v3_combined`: the schema the engine validates and the typed config built from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use zepix_model::Timeframe;
use zepix_plugin::{SettingSchema, Settings};

use crate::common::{boolean, string_list};

/// The settings as configured under `[plugins.v3_combined.settings]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V3Config {
    /// Refuse entries whose direction the alignment timeframes' trends do not agree with.
    pub require_trend_alignment: bool,
    /// The timeframes whose trends must agree; written in the config as `15m`, `1h`, `60`…
    #[serde(deserialize_with = "timeframe_list")]
    pub alignment_timeframes: Vec<Timeframe>,
}

impl V3Config {
    /// Parses validated settings.
    ///
    /// # Errors
    /// When the settings do not fit the config, a timeframe does not parse, or alignment is
    /// required with no timeframe to align with.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let config: Self = settings.parse()?;
        if config.require_trend_alignment && config.alignment_timeframes.is_empty() {
            return Err("setting `alignment_timeframes`: empty while `require_trend_alignment` is true; \
                        name at least one timeframe or set require_trend_alignment = false"
                .into());
        }
        Ok(config)
    }
}

/// Reads a list of timeframe strings, naming the first entry that does not parse.
fn timeframe_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Timeframe>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            text.parse::<Timeframe>()
                .map_err(|e| serde::de::Error::custom(format!("setting `alignment_timeframes[{i}]`: {e}")))
        })
        .collect()
}

/// The settings schema, with defaults.
#[must_use]
pub fn schema() -> BTreeMap<String, SettingSchema> {
    BTreeMap::from([
        (
            "require_trend_alignment".to_owned(),
            boolean(true, "Only enter when every alignment timeframe's trend agrees with the alert's direction."),
        ),
        (
            "alignment_timeframes".to_owned(),
            string_list(
                &["15m", "1h"],
                "Timeframes whose trend (from the trend manager) must agree with an entry, e.g. [\"15m\", \"1h\"].",
            ),
        ),
    ])
}
