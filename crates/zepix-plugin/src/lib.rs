//! What plugin authors see.
//!
//! - [`manifest`]: `plugin.toml` (and the same data in code for built-ins), validated with errors
//!   that name the file and the key; the settings schema and its validation.
//! - [`capability`]: the services a plugin may call.
//! - [`api`]: the [`Plugin`] trait, its [`PluginContext`] (the service API, scoped to one plugin),
//!   decisions, hook results and errors.
//! - [`remote`]: process plugins: protocol 1 messages and the kernel's link to the host.

pub mod api;
pub mod capability;
pub mod chain;
pub mod indicators;
pub mod manifest;
pub mod remote;
pub mod serve;
pub mod settings;

pub use api::{
    BuildFn, BuiltinPlugin, Decision, DecisionKind, DualPlaced, HookDecision, NotifyLevel, OrderIntent, Placed, Plugin,
    PluginContext, PluginError, PluginResult, RiskCode, ServiceError, ServiceErrorCode,
};
pub use capability::{Capability, Service};
pub use manifest::{Limits, Manifest, ManifestError, PROTOCOL_VERSION, Role, Runtime};
pub use remote::{CallId, InitInfo, Message, RemoteEvent, RemoteLink, RequestToken, RpcError};
pub use settings::{SettingSchema, Settings, SettingsError};
