//! Plugin settings and the JSON-Schema subset that validates them.
//!
//! A manifest's `[settings_schema]` maps each setting to a schema: `type` (`string`, `integer`,
//! `number`, `boolean`, `array`), optional `default`, `minimum`, `maximum`, `enum`, `items` (the
//! element type of an array) and `description`. A setting without a default is required.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema of one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSchema {
    /// `string`, `integer`, `number`, `boolean` or `array`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Used when the setting is not given; without one the setting is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Smallest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest allowed number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Allowed values.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    /// Element type of an array.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// For humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

const TYPES: [&str; 5] = ["string", "integer", "number", "boolean", "array"];

/// A setting that does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting `{key}`: {message}")]
pub struct SettingsError {
    /// The setting's name.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Validated settings with defaults filled in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Settings(Map<String, Value>);

impl Settings {
    /// Validates `given` against `schema`, filling defaults. Lists every problem.
    ///
    /// # Errors
    /// Every setting that is unknown, missing or of the wrong type or range.
    pub fn validate(
        schema: &BTreeMap<String, SettingSchema>,
        given: &Map<String, Value>,
    ) -> Result<Self, Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut out = Map::new();
        for key in given.keys().filter(|k| !schema.contains_key(*k)) {
            let known: Vec<&str> = schema.keys().map(String::as_str).collect();
            errors.push(SettingsError {
                key: key.clone(),
                message: if known.is_empty() {
                    "unknown setting: this plugin takes no settings".into()
                } else {
                    format!("unknown setting: expected one of {}", known.join(", "))
                },
            });
        }
        for (key, rule) in schema {
            match given.get(key).or(rule.default.as_ref()) {
                Some(value) => match check(rule, value) {
                    Ok(()) => {
                        out.insert(key.clone(), value.clone());
                    }
                    Err(message) => errors.push(SettingsError { key: key.clone(), message }),
                },
                None => errors.push(SettingsError {
                    key: key.clone(),
                    message: format!("missing: a {} is required (no default)", rule.kind),
                }),
            }
        }
        if errors.is_empty() { Ok(Self(out)) } else { Err(errors) }
    }

    /// Deserializes the settings into a plugin's typed config.
    ///
    /// # Errors
    /// When the settings do not fit the type (a schema and a config struct that disagree).
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(Value::Object(self.0.clone())).map_err(|e| e.to_string())
    }

    /// The settings as a JSON object.
    #[must_use]
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// Checks a schema's own shape: a known type, a default that fits.
///
/// # Errors
/// A message naming what is wrong.
pub fn check_schema(rule: &SettingSchema) -> Result<(), String> {
    if !TYPES.contains(&rule.kind.as_str()) {
        return Err(format!("type `{}` is not one of {}", rule.kind, TYPES.join(", ")));
    }
    if let Some(items) = &rule.items
        && (rule.kind != "array" || !TYPES[..4].contains(&items.as_str()))
    {
        return Err(format!("items `{items}` needs type = \"array\" and one of string, integer, number, boolean"));
    }
    if let Some(default) = &rule.default {
        check(rule, default).map_err(|m| format!("default does not fit: {m}"))?;
    }
    Ok(())
}

fn check(rule: &SettingSchema, value: &Value) -> Result<(), String> {
    check_type(&rule.kind, value)?;
    if let Value::Array(items) = value
        && let Some(item_kind) = &rule.items
    {
        for (i, item) in items.iter().enumerate() {
            check_type(item_kind, item).map_err(|m| format!("item {i}: {m}"))?;
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = rule.minimum
            && n < min
        {
            return Err(format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = rule.maximum
            && n > max
        {
            return Err(format!("{n} is above the maximum {max}"));
        }
    }
    if let Some(allowed) = &rule.allowed
        && !allowed.contains(value)
    {
        let shown: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(format!("{value} is not one of {}", shown.join(", ")));
    }
    Ok(())
}

fn check_type(kind: &str, value: &Value) -> Result<(), String> {
    let ok = match kind {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        _ => false,
    };
    if ok { Ok(()) } else { Err(format!("expected a {kind}, got {value}")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> BTreeMap<String, SettingSchema> {
        let text = r#"
            [adx_threshold]
            type = "number"
            default = 25
            minimum = 0
            maximum = 100
            [mode]
            type = "string"
            enum = ["strict", "loose"]
            [symbols]
            type = "array"
            items = "string"
            default = []
        "#;
        toml::from_str(text).unwrap()
    }

    #[test]
    fn fills_defaults_and_accepts_valid() {
        let given = json!({"mode": "strict"}).as_object().unwrap().clone();
        let s = Settings::validate(&schema(), &given).unwrap();
        assert_eq!(s.as_map()["adx_threshold"], json!(25));
        assert_eq!(s.as_map()["mode"], json!("strict"));
    }

    #[test]
    fn lists_every_problem() {
        let given =
            json!({"adx_threshold": 300, "symbols": ["XAUUSD", 3], "colour": "red"}).as_object().unwrap().clone();
        let errors = Settings::validate(&schema(), &given).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["colour", "adx_threshold", "mode", "symbols"]);
        assert!(errors[1].message.contains("above the maximum 100"));
        assert!(errors[2].message.contains("missing"));
    }

    #[test]
    fn schema_defaults_must_fit() {
        let rule: SettingSchema = toml::from_str("type = \"integer\"\ndefault = \"x\"").unwrap();
        assert!(check_schema(&rule).unwrap_err().contains("default does not fit"));
        let rule: SettingSchema = toml::from_str("type = \"float\"").unwrap();
        assert!(check_schema(&rule).is_err());
    }
}
