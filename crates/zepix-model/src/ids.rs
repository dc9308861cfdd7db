//! Typed ids. Each is validated when made and when deserialized, so a bad id cannot exist.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ModelError;

/// A plugin id: a lowercase letter, then up to 63 lowercase letters, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PluginId(String);

impl PluginId {
    /// Validates a plugin id.
    ///
    /// # Errors
    /// When the text is not a lowercase identifier of at most 64 characters.
    pub fn new(id: impl AsRef<str>) -> Result<Self, ModelError> {
        let id = id.as_ref();
        let mut chars = id.chars();
        let valid = id.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(ModelError::new(
                "plugin id",
                id,
                "a lowercase letter followed by lowercase letters, digits or `_` (at most 64)",
            ))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signal id: the idempotency key of an alert. 1 to 128 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SignalId(String);

impl SignalId {
    /// Validates a signal id.
    ///
    /// # Errors
    /// When the text is empty, longer than 128 characters or holds control characters.
    pub fn new(id: impl AsRef<str>) -> Result<Self, ModelError> {
        let id = id.as_ref().trim();
        let valid = !id.is_empty() && id.chars().count() <= 128 && !id.chars().any(char::is_control);
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(ModelError::new("signal id", id, "1 to 128 printable characters"))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! text_id_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_id_impls!(PluginId);
text_id_impls!(SignalId);

macro_rules! number_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

number_id!(
    /// An order id, assigned by the engine in sequence.
    OrderId
);
number_id!(
    /// A position id, assigned by the engine in sequence.
    PositionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_ids() {
        assert!(PluginId::new("v3_combined").is_ok());
        assert!(PluginId::new("V3").is_err());
        assert!(PluginId::new("3abc").is_err());
        assert!(PluginId::new("").is_err());
        assert!(PluginId::new("a-b").is_err());
        assert!(serde_json::from_str::<PluginId>("\"Bad Id\"").is_err());
    }

    #[test]
    fn signal_ids() {
        assert_eq!(SignalId::new(" tv-1 ").unwrap().as_str(), "tv-1");
        assert!(SignalId::new("Long Entry #3").is_ok());
        assert!(SignalId::new("").is_err());
        assert!(SignalId::new("a\nb").is_err());
        assert!(SignalId::new("x".repeat(129)).is_err());
    }
}
