//! Errors raised when a value cannot become one of the model's types.

/// A value that does not fit a model type, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: expected {expected}")]
pub struct ModelError {
    /// The kind of value (`price`, `plugin id`, `timeframe`…).
    pub what: &'static str,
    /// The offending value, shortened for display.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

impl ModelError {
    /// Builds an error, shortening long values so errors stay readable.
    pub fn new(what: &'static str, value: impl AsRef<str>, expected: &'static str) -> Self {
        Self { what, value: shorten(value.as_ref()), expected }
    }
}

/// Cuts a value to at most 64 characters for error messages.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
