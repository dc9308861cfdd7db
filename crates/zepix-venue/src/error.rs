//! Errors of the paper venue's configuration. Order-time refusals are the engine's `VenueError`.

use rust_decimal::Decimal;

/// A `[venue]` table that cannot run a paper venue; each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaperConfigError {
    /// `kind` is not `paper`.
    #[error("venue.kind `{0}` is not supported: expected \"paper\"")]
    Kind(String),
    /// `balance` is zero or negative.
    #[error("venue.balance {0} must be positive")]
    Balance(Decimal),
    /// A spread or slippage is negative, which would fill better than the mid price.
    #[error("venue.{field} {value} must not be negative")]
    Negative {
        /// The field, such as `spread_pips` or `spreads.XAUUSD`.
        field: String,
        /// The value found.
        value: Decimal,
    },
    /// A key of `spreads` is not a symbol.
    #[error("venue.spreads key `{0}` is not a symbol such as XAUUSD")]
    SpreadSymbol(String),
}
