//! {{name}}: what this plugin decides, kept free of I/O so it can be tested on its own
//! (`tests/decision.rs`). `main.rs` speaks the protocol and calls these functions.

use serde_json::{Map, Value, json};

/// The settings `initialize` sends (config.toml, then `[plugins.{{id}}.settings]` in zepix.toml),
/// already validated against the manifest's schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Entries whose `confidence` field is below this are rejected.
    pub min_confidence: f64,
}

impl Settings {
    /// Reads the settings object of `initialize`.
    pub fn from_json(settings: &Value) -> Self {
        Self { min_confidence: settings.get("min_confidence").and_then(number).unwrap_or(60.0) }
    }
}

/// What to do with an entry signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Place one order: the params of `orders.place`.
    Place(Value),
    /// Refuse the signal, saying why.
    Reject(String),
}

/// Decides on an entry signal (`S` in the protocol: prices and sizes are decimal strings, unknown
/// alert fields such as `confidence` come as given).
pub fn decide_entry(signal: &Value, settings: &Settings) -> Entry {
    let confidence = signal.get("confidence").and_then(number).unwrap_or(0.0);
    if confidence < settings.min_confidence {
        return Entry::Reject(format!("confidence {confidence} below {}", settings.min_confidence));
    }
    let mut order = Map::new();
    order.insert("symbol".into(), signal["symbol"].clone());
    order.insert("side".into(), signal["direction"].clone());
    // No size given: the engine uses this plugin's default lot.
    for key in ["lot", "risk_pct", "risk_amount", "price", "sl"] {
        if let Some(value) = signal.get(key).filter(|v| !v.is_null()) {
            order.insert(key.into(), value.clone());
        }
    }
    // `tp` is a list of targets; this plugin takes the first.
    let tp = match signal.get("tp") {
        Some(Value::Array(targets)) => targets.first().cloned(),
        Some(Value::Null) | None => None,
        Some(one) => Some(one.clone()),
    };
    if let Some(tp) = tp {
        order.insert("tp".into(), tp);
    }
    // Links the order to the signal in the engine's records.
    order.insert("signal_id".into(), signal["id"].clone());
    Entry::Place(Value::Object(order))
}

/// The params of `orders.close_all` for an exit signal: every position of this plugin on its symbol.
pub fn exit_params(signal: &Value) -> Value {
    json!({"symbol": signal["symbol"]})
}

/// A decision as the engine reads it (`D` in the protocol).
pub fn decision(kind: &str, reason: Option<&str>, orders: Vec<Value>, closed: Vec<Value>) -> Value {
    json!({"kind": kind, "reason": reason, "orders": orders, "closed": closed})
}

/// A JSON number or a numeric string as a float.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
