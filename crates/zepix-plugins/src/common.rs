//! Small pieces every built-in shares: manifest and schema builders, reading decimals from
//! settings, and turning an entry signal into an order.

use std::collections::BTreeMap;

use serde_json::Value;
use zepix_model::{PluginId, Side, Signal, Timeframe};
use zepix_plugin::manifest::PROTOCOL_VERSION;
use zepix_plugin::{
    Capability, Decision, Limits, Manifest, OrderIntent, PluginContext, PluginResult, Role, Runtime, SettingSchema,
};

/// The version every built-in reports; they ship with the engine.
pub const BUILTIN_VERSION: &str = "1.0.0";

/// Who wrote the built-ins.
pub const BUILTIN_AUTHOR: &str = "zepix";

/// What differs between built-in manifests; everything else is the same for all of them.
pub struct ManifestSpec {
    /// Plugin id, a literal checked by the crate's table tests.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// One paragraph for `zepix plugin list` and the dashboard.
    pub description: String,
    /// Routing strategy name.
    pub strategy: &'static str,
    /// Routing timeframes; empty means any.
    pub timeframes: Vec<Timeframe>,
    /// Services the plugin calls.
    pub capabilities: &'static [Capability],
    /// Settings and their schema.
    pub settings_schema: BTreeMap<String, SettingSchema>,
}

impl ManifestSpec {
    /// The full manifest of a built-in logic plugin.
    ///
    /// # Panics
    /// When `id` is not a valid plugin id. The ids are string literals in this crate and the table
    /// tests build every manifest, so an invalid one never gets past `cargo test`.
    #[must_use]
    pub fn into_manifest(self) -> Manifest {
        Manifest {
            id: builtin_id(self.id),
            name: self.name.to_owned(),
            version: BUILTIN_VERSION.to_owned(),
            author: BUILTIN_AUTHOR.to_owned(),
            description: self.description,
            runtime: Runtime::Builtin,
            entry: None,
            command: None,
            protocol: PROTOCOL_VERSION,
            roles: vec![Role::Logic],
            strategy: Some(self.strategy.to_owned()),
            timeframes: self.timeframes,
            symbols: Vec::new(),
            capabilities: self.capabilities.to_vec(),
            priority: 100,
            limits: Limits::default(),
            settings_schema: self.settings_schema,
        }
    }
}

fn builtin_id(id: &'static str) -> PluginId {
    match PluginId::new(id) {
        Ok(id) => id,
        // Invariant: built-in ids are literals in this crate, and `tests::every_builtin_builds`
        // constructs every manifest, so this arm is unreachable in a tested build.
        Err(e) => panic!("built-in plugin id `{id}` is invalid: {e}"),
    }
}

/// A `number` setting with a default and an inclusive range.
#[must_use]
pub fn number(default: Value, minimum: f64, maximum: f64, description: &str) -> SettingSchema {
    SettingSchema {
        kind: "number".into(),
        default: Some(default),
        minimum: Some(minimum),
        maximum: Some(maximum),
        allowed: None,
        items: None,
        description: description.into(),
    }
}

/// A `boolean` setting with a default.
#[must_use]
pub fn boolean(default: bool, description: &str) -> SettingSchema {
    SettingSchema {
        kind: "boolean".into(),
        default: Some(Value::Bool(default)),
        minimum: None,
        maximum: None,
        allowed: None,
        items: None,
        description: description.into(),
    }
}

/// A `string` setting, one of `allowed`, with a default.
#[must_use]
pub fn choice(default: &str, allowed: &[&str], description: &str) -> SettingSchema {
    SettingSchema {
        kind: "string".into(),
        default: Some(Value::String(default.to_owned())),
        minimum: None,
        maximum: None,
        allowed: Some(allowed.iter().map(|s| Value::String((*s).to_owned())).collect()),
        items: None,
        description: description.into(),
    }
}

/// An `array` of whole numbers from `minimum` to `maximum`, with a default.
#[must_use]
pub fn integer_list(default: &[u32], minimum: f64, maximum: f64, description: &str) -> SettingSchema {
    SettingSchema {
        kind: "array".into(),
        default: Some(Value::Array(default.iter().map(|n| Value::from(*n)).collect())),
        minimum: Some(minimum),
        maximum: Some(maximum),
        allowed: None,
        items: Some("integer".into()),
        description: description.into(),
    }
}

/// An `array` of strings with a default.
#[must_use]
pub fn string_list(default: &[&str], description: &str) -> SettingSchema {
    SettingSchema {
        kind: "array".into(),
        default: Some(Value::Array(default.iter().map(|s| Value::String((*s).to_owned())).collect())),
        minimum: None,
        maximum: None,
        allowed: None,
        items: Some("string".into()),
        description: description.into(),
    }
}

/// `buy XAUUSD`, for reasons a trader reads.
#[must_use]
pub fn describe(signal: &Signal) -> String {
    let side = signal.side.map_or("?", Side::as_str);
    match &signal.symbol {
        Some(symbol) => format!("{side} {symbol}"),
        None => side.to_owned(),
    }
}

/// The order a signal asks for as given, or a rejection saying what the alert lacks.
///
/// # Errors
/// The rejection to return when the signal has no symbol or no direction.
pub fn entry_intent(signal: &Signal) -> Result<OrderIntent, Decision> {
    OrderIntent::from_signal(signal).ok_or_else(|| {
        let missing = match (&signal.symbol, signal.side) {
            (None, None) => "a symbol and a direction",
            (None, Some(_)) => "a symbol",
            _ => "a direction (buy or sell)",
        };
        Decision::rejected(format!("entry signal needs {missing}"))
    })
}

/// Places `intent` and reports the order as executed.
///
/// # Errors
/// The service error (capability, risk refusal) as the engine should record it.
pub fn place(intent: OrderIntent, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
    let placed = ctx.place_order(intent)?;
    Ok(Decision::executed(vec![placed.order.id], Vec::new()))
}
