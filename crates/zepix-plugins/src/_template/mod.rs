//! `_template`: a commented example built-in to copy when writing a new one. It is compiled and
//! tested so it never rots, but it is not in the built-in table, so the engine never runs it.
//!
//! A built-in is four pieces, one per file:
//! - `mod.rs` (this file): the manifest (who the plugin is, what it routes, what it may call)
//!   and `build`, which turns validated settings into a running plugin;
//! - [`config`]: the settings schema (what `zepix.toml` may say) and the typed config;
//! - [`plugin`]: the logic, an implementation of [`zepix_plugin::Plugin`];
//! - `tests.rs`: what a trader would see, against the crate's fake context.
//!
//! See `README.md` in this folder for the copy-and-register steps.

pub mod config;
pub mod plugin;
#[cfg(test)]
mod tests;

use zepix_plugin::{Capability, Manifest, Plugin, Settings};

use crate::common::ManifestSpec;
pub use config::TemplateConfig;
pub use plugin::TemplatePlugin;

/// Plugin id: lowercase letters, digits and `_`, unique among all plugins. It is also the key of
/// the plugin's section in `zepix.toml`: `[plugins.my_logic]`.
pub const ID: &str = "my_logic";

/// The strategy name alerts use to reach this plugin (`"strategy": "MY_LOGIC"`); upper-case.
pub const STRATEGY: &str = "MY_LOGIC";

/// Every service the plugin calls, and nothing more: the engine refuses any call outside this
/// list, and operators read it to know what the plugin can do to their account. This example
/// opens orders, counts its positions, reads last prices and sends notifications.
pub const CAPABILITIES: &[Capability] =
    &[Capability::Orders, Capability::Positions, Capability::MarketData, Capability::Notify];

/// The manifest, as code: the same data a process plugin's `plugin.toml` holds.
#[must_use]
pub fn manifest() -> Manifest {
    ManifestSpec {
        id: ID,
        name: "My logic (template)",
        // Written for the operator reading `zepix plugin list`: what it trades and when.
        description: "Example logic: enters when the alert's `confidence` reaches a threshold and the \
                      symbol has room for another position, filling a missing price from the last \
                      known price and a missing stop loss from a default distance."
            .into(),
        strategy: STRATEGY,
        // Empty means any timeframe; list them to take part in timeframe routing.
        timeframes: Vec::new(),
        capabilities: CAPABILITIES,
        settings_schema: config::schema(),
    }
    .into_manifest()
}

/// Builds the plugin. The engine has already checked the settings against [`config::schema`] and
/// filled in defaults, so only checks the schema cannot express belong here.
///
/// # Errors
/// A message naming the setting and what is wrong with it; the plugin then does not start.
pub fn build(settings: &Settings) -> Result<Box<dyn Plugin>, String> {
    Ok(Box::new(TemplatePlugin::new(TemplateConfig::from_settings(settings)?)))
}
