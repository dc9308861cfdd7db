//! Bar timeframes, parsed from every spelling TradingView and traders use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;

/// A bar timeframe, held as a whole number of minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeframe(u32);

const EXPECTED: &str = "a timeframe such as 1m, 5m, 15m, 1h, 4h, 1d (or TradingView's 1, 5, 60, 240, 1D, 1H, 5min)";
const MINUTES_PER_DAY: u32 = 24 * 60;

impl Timeframe {
    /// One minute.
    pub const M1: Self = Self(1);
    /// Five minutes.
    pub const M5: Self = Self(5);
    /// Fifteen minutes.
    pub const M15: Self = Self(15);
    /// One hour.
    pub const H1: Self = Self(60);
    /// Four hours.
    pub const H4: Self = Self(240);
    /// One day.
    pub const D1: Self = Self(MINUTES_PER_DAY);

    /// A timeframe of this many minutes.
    ///
    /// # Errors
    /// When `minutes` is zero or longer than a week.
    pub fn from_minutes(minutes: u32) -> Result<Self, ModelError> {
        if (1..=7 * MINUTES_PER_DAY).contains(&minutes) {
            Ok(Self(minutes))
        } else {
            Err(ModelError::new("timeframe", minutes.to_string(), EXPECTED))
        }
    }

    /// Length in minutes.
    #[must_use]
    pub const fn minutes(self) -> u32 {
        self.0
    }

    /// The length of one bar.
    #[must_use]
    pub fn duration(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }
}

impl FromStr for Timeframe {
    type Err = ModelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ModelError::new("timeframe", text, EXPECTED);
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let count: u32 = if digits.is_empty() { 1 } else { digits.parse().map_err(|_| bad())? };
        let unit = unit.trim();
        // TradingView writes minutes as bare numbers and `M` for months; `m` is minutes.
        let per_unit = match unit {
            "" if !digits.is_empty() => 1,
            "m" | "min" | "mins" | "minute" | "minutes" | "T" => 1,
            "h" | "H" | "hr" | "hour" | "hours" => 60,
            "d" | "D" | "day" | "days" => MINUTES_PER_DAY,
            "w" | "W" | "week" | "weeks" => 7 * MINUTES_PER_DAY,
            _ => return Err(bad()),
        };
        let minutes = count.checked_mul(per_unit).ok_or_else(bad)?;
        Self::from_minutes(minutes).map_err(|_| bad())
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        if m.is_multiple_of(7 * MINUTES_PER_DAY) {
            write!(f, "{}w", m / (7 * MINUTES_PER_DAY))
        } else if m.is_multiple_of(MINUTES_PER_DAY) {
            write!(f, "{}d", m / MINUTES_PER_DAY)
        } else if m.is_multiple_of(60) {
            write!(f, "{}h", m / 60)
        } else {
            write!(f, "{m}m")
        }
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_tradingview_spelling() {
        let cases = [
            ("1", "1m"),
            ("5", "5m"),
            ("15", "15m"),
            ("60", "1h"),
            ("240", "4h"),
            ("1D", "1d"),
            ("D", "1d"),
            ("1H", "1h"),
            ("5m", "5m"),
            ("5min", "5m"),
            ("15 min", "15m"),
            ("1h", "1h"),
            ("4h", "4h"),
            ("1d", "1d"),
            ("1W", "1w"),
            ("W", "1w"),
            ("90", "90m"),
            ("120", "2h"),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Timeframe>().unwrap().to_string(), want, "input {input}");
        }
    }

    #[test]
    fn rejects_months_zero_and_junk() {
        for bad in ["1M", "0", "", "M", "5x", "-5", "99999999999", "2w"] {
            assert!(bad.parse::<Timeframe>().is_err(), "{bad} should fail");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(m in 1u32..=7 * 24 * 60) {
            let tf = Timeframe::from_minutes(m).unwrap();
            prop_assert_eq!(tf.to_string().parse::<Timeframe>().unwrap(), tf);
        }
    }
}
