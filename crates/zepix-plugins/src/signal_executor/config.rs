//! Settings of `signal_executor`: none. The empty config still goes through the same parse so a
//! stray key is an error rather than silently ignored.

use std::collections::BTreeMap;

use serde::Deserialize;
use zepix_plugin::{SettingSchema, Settings};

/// The (empty) settings of `signal_executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {}

impl ExecutorConfig {
    /// Parses validated settings.
    ///
    /// # Errors
    /// When any setting is given.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        settings.parse()
    }
}

/// The settings schema: empty.
#[must_use]
pub fn schema() -> BTreeMap<String, SettingSchema> {
    BTreeMap::new()
}
