//! The trend manager: the trend of each (symbol, timeframe), set by `trend` signals or commands.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use zepix_model::{Side, Symbol, Timeframe, Trend};

/// One trend entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrendEntry {
    /// Symbol.
    pub symbol: Symbol,
    /// Timeframe.
    pub timeframe: Timeframe,
    /// Trend.
    pub trend: Trend,
    /// When it was set (`None` when restored without a time).
    pub at: Option<DateTime<Utc>>,
}

/// Trends by symbol and timeframe. Unknown pairs are neutral.
#[derive(Debug, Default)]
pub struct TrendManager(BTreeMap<TrendKey, (Trend, Option<DateTime<Utc>>)>);

type TrendKey = (Symbol, Timeframe);

impl TrendManager {
    /// Sets a trend; returns true when it changed.
    pub fn set(&mut self, symbol: Symbol, timeframe: Timeframe, trend: Trend, at: Option<DateTime<Utc>>) -> bool {
        let previous = self.0.insert((symbol, timeframe), (trend, at));
        previous.is_none_or(|(old, _)| old != trend)
    }

    /// The trend of a pair (neutral when never set).
    #[must_use]
    pub fn get(&self, symbol: &Symbol, timeframe: Timeframe) -> Trend {
        self.0.get(&(symbol.clone(), timeframe)).map_or(Trend::Neutral, |(t, _)| *t)
    }

    /// Whether every timeframe agrees with `side`.
    #[must_use]
    pub fn is_aligned(&self, symbol: &Symbol, side: Side, timeframes: &[Timeframe]) -> bool {
        timeframes.iter().all(|tf| self.get(symbol, *tf).agrees_with(side))
    }

    /// Every entry.
    #[must_use]
    pub fn entries(&self) -> Vec<TrendEntry> {
        self.0
            .iter()
            .map(|((symbol, timeframe), (trend, at))| TrendEntry {
                symbol: symbol.clone(),
                timeframe: *timeframe,
                trend: *trend,
                at: *at,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_needs_every_timeframe() {
        let mut t = TrendManager::default();
        let gold = Symbol::new("XAUUSD").unwrap();
        assert!(t.set(gold.clone(), Timeframe::M15, Trend::Bullish, None));
        assert!(!t.set(gold.clone(), Timeframe::M15, Trend::Bullish, None), "same trend is no change");
        assert!(!t.is_aligned(&gold, Side::Buy, &[Timeframe::M15, Timeframe::H1]));
        t.set(gold.clone(), Timeframe::H1, Trend::Bullish, None);
        assert!(t.is_aligned(&gold, Side::Buy, &[Timeframe::M15, Timeframe::H1]));
        assert!(!t.is_aligned(&gold, Side::Sell, &[Timeframe::M15]));
        assert_eq!(t.get(&Symbol::new("EURUSD").unwrap(), Timeframe::H1), Trend::Neutral);
    }
}
