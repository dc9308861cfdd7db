//! Order sides and trend directions, with the aliases alerts use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Long.
    Buy,
    /// Short.
    Sell,
}

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// `+1` for buy, `-1` for sell: the sign of a position's P&L per unit of price rise.
    #[must_use]
    pub fn sign(self) -> rust_decimal::Decimal {
        match self {
            Self::Buy => rust_decimal::Decimal::ONE,
            Self::Sell => rust_decimal::Decimal::NEGATIVE_ONE,
        }
    }

    /// Lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

impl FromStr for Side {
    type Err = ModelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "buy" | "long" | "bull" | "bullish" | "b" => Ok(Self::Buy),
            "sell" | "short" | "bear" | "bearish" | "s" => Ok(Self::Sell),
            _ => Err(ModelError::new("direction", text, "buy/long or sell/short")),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A market trend, as kept by the trend manager per symbol and timeframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// Rising.
    Bullish,
    /// Falling.
    Bearish,
    /// No trend known or set.
    #[default]
    Neutral,
}

impl Trend {
    /// Whether a position on `side` goes with this trend.
    #[must_use]
    pub fn agrees_with(self, side: Side) -> bool {
        matches!((self, side), (Self::Bullish, Side::Buy) | (Self::Bearish, Side::Sell))
    }
}

impl From<Option<Side>> for Trend {
    fn from(side: Option<Side>) -> Self {
        match side {
            Some(Side::Buy) => Self::Bullish,
            Some(Side::Sell) => Self::Bearish,
            None => Self::Neutral,
        }
    }
}

impl fmt::Display for Trend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bullish => "bullish",
            Self::Bearish => "bearish",
            Self::Neutral => "neutral",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        for t in ["buy", "LONG", " Long ", "bullish"] {
            assert_eq!(t.parse::<Side>().unwrap(), Side::Buy);
        }
        for t in ["sell", "short", "SHORT", "bearish"] {
            assert_eq!(t.parse::<Side>().unwrap(), Side::Sell);
        }
        assert!("up".parse::<Side>().is_err());
    }

    #[test]
    fn trend_agreement() {
        assert!(Trend::Bullish.agrees_with(Side::Buy));
        assert!(!Trend::Bullish.agrees_with(Side::Sell));
        assert!(!Trend::Neutral.agrees_with(Side::Buy));
    }
}
