//! Errors of the Telegram bots.

/// What can go wrong with the bots.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// The `[telegram]` section is invalid; every problem is listed.
    #[error("[telegram] {}", .0.join("; "))]
    Config(Vec<String>),
    /// The HTTP client could not be built.
    #[error("cannot build the Telegram HTTP client: {0}")]
    Client(String),
    /// The equity chart could not be drawn.
    #[error("cannot draw the chart: {0}")]
    Chart(String),
}
