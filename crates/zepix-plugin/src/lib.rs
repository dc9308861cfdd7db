//! What plugin authors see.
//!
//! - [`manifest`]: `plugin.toml` (and the same data in code for built-ins), validated with errors
//!   that name the file and the key; the settings schema and its validation.
//! - [`capability`]: the services a plugin may call.
//! - [`api`]: the [`Plugin`] trait, its [`PluginContext`] (the service API, scoped to one plugin),
//!   decisions, hook results and errors.

pub mod api;
pub mod capability;
pub mod manifest;
pub mod settings;

pub use api::{
    BuildFn, BuiltinPlugin, Decision, DecisionKind, HookDecision, NotifyLevel, OrderIntent, Placed, Plugin,
    PluginContext, PluginError, PluginResult, RiskCode, ServiceError, ServiceErrorCode,
};
pub use capability::{Capability, Service};
pub use manifest::{Limits, Manifest, ManifestError, Role, Runtime};
pub use settings::{SettingSchema, Settings, SettingsError};
