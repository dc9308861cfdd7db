//! Market data: bars (OHLCV candles) and trades (ticks), and the feed they belong to.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::num::Price;
use crate::symbol::Symbol;
use crate::timeframe::Timeframe;

/// Which stream a bar belongs to: a symbol at a timeframe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Feed {
    /// The instrument.
    pub symbol: Symbol,
    /// The bar length.
    pub timeframe: Timeframe,
}

impl Feed {
    /// A feed.
    #[must_use]
    pub const fn new(symbol: Symbol, timeframe: Timeframe) -> Self {
        Self { symbol, timeframe }
    }
}

impl std::fmt::Display for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.symbol, self.timeframe)
    }
}

/// One closed candle. `time` is when the bar opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Open time.
    pub time: DateTime<Utc>,
    /// First price.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Last price.
    pub close: Price,
    /// Traded volume (zero when the source has none).
    pub volume: Decimal,
}

impl Bar {
    /// A bar, checked: the high is the highest of the four prices, the low the lowest, and the
    /// volume is not negative.
    ///
    /// # Errors
    /// When the prices contradict each other or the volume is negative.
    pub fn new(
        time: DateTime<Utc>,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Decimal,
    ) -> Result<Self, ModelError> {
        if high < open || high < close || high < low {
            return Err(ModelError::new("high", high.to_string(), "at least the open, low and close"));
        }
        if low > open || low > close {
            return Err(ModelError::new("low", low.to_string(), "at most the open and close"));
        }
        if volume.is_sign_negative() {
            return Err(ModelError::new("volume", volume.to_string(), "zero or more"));
        }
        Ok(Self { time, open, high, low, close, volume })
    }
}

/// One trade on an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Trade time.
    pub time: DateTime<Utc>,
    /// Trade price.
    pub price: Price,
    /// Traded quantity.
    pub quantity: Decimal,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(v: &str) -> Price {
        v.parse().unwrap()
    }

    #[test]
    fn a_bar_whose_prices_contradict_is_refused_with_the_field() {
        let t = "2024-01-01T00:00:00Z".parse().unwrap();
        assert!(Bar::new(t, p("10"), p("12"), p("9"), p("11"), Decimal::ONE).is_ok());
        let e = Bar::new(t, p("10"), p("10.5"), p("9"), p("11"), Decimal::ONE).unwrap_err();
        assert!(e.to_string().contains("high"), "{e}");
        let e = Bar::new(t, p("10"), p("12"), p("10.5"), p("11"), Decimal::ONE).unwrap_err();
        assert!(e.to_string().contains("low"), "{e}");
        let e = Bar::new(t, p("10"), p("12"), p("9"), p("11"), Decimal::NEGATIVE_ONE).unwrap_err();
        assert!(e.to_string().contains("volume"), "{e}");
    }
}
