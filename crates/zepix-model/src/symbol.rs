//! Symbols, normalized from the ways alerts spell them, and the symbol table of contract specs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ModelError;
use crate::num::{Lots, Money, Price};

/// A normalized instrument name: `OANDA:XAUUSD` → `XAUUSD`, `eur/usd` → `EURUSD`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Symbol(String);

impl Symbol {
    /// Normalizes and validates a symbol: the exchange prefix before `:` is dropped, `/` removed,
    /// letters upper-cased.
    ///
    /// # Errors
    /// When nothing is left, or characters other than letters, digits, `.`, `_`, `-` and `!` remain.
    pub fn new(text: impl AsRef<str>) -> Result<Self, ModelError> {
        let raw = text.as_ref();
        let name = raw.rsplit(':').next().unwrap_or(raw).trim();
        let normalized: String = name.chars().filter(|c| *c != '/').map(|c| c.to_ascii_uppercase()).collect();
        let valid = !normalized.is_empty()
            && normalized.len() <= 32
            && normalized.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '!'));
        if valid {
            Ok(Self(normalized))
        } else {
            Err(ModelError::new("symbol", raw, "a ticker such as XAUUSD or OANDA:XAUUSD (letters, digits, . _ - !)"))
        }
    }

    /// The normalized name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// How a P&L computed in the quote currency becomes account currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PnlConversion {
    /// The quote currency is the account currency (XAUUSD, EURUSD for a USD account).
    #[default]
    Direct,
    /// The base currency is the account currency (USDJPY for a USD account): divide by the price.
    DivideByPrice,
}

/// The contract specification of one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolSpec {
    /// Price distance of one pip.
    pub pip_size: Decimal,
    /// Units of the instrument in one lot.
    pub contract_size: Decimal,
    /// Smallest order size.
    pub lot_min: Decimal,
    /// Largest order size.
    pub lot_max: Decimal,
    /// Order sizes are multiples of this.
    pub lot_step: Decimal,
    /// How P&L reaches account currency.
    #[serde(default)]
    pub pnl: PnlConversion,
}

impl SymbolSpec {
    fn new(pip: Decimal, contract: Decimal, min: Decimal, max: Decimal, step: Decimal, pnl: PnlConversion) -> Self {
        Self { pip_size: pip, contract_size: contract, lot_min: min, lot_max: max, lot_step: step, pnl }
    }

    /// The profit or loss of `lots` moved from `entry` to `exit` on `side`, in account currency.
    #[must_use]
    pub fn pnl(&self, side: crate::Side, lots: Lots, entry: Price, exit: Price) -> Money {
        let quote = (exit.value() - entry.value()) * side.sign() * lots.value() * self.contract_size;
        let account = match self.pnl {
            PnlConversion::Direct => quote,
            PnlConversion::DivideByPrice => quote / exit.value(),
        };
        Money::from_decimal(account.round_dp(8))
    }

    /// Money at risk per lot for a price distance `distance`, in account currency at `price`.
    #[must_use]
    pub fn value_per_lot(&self, distance: Decimal, price: Price) -> Decimal {
        let quote = distance * self.contract_size;
        match self.pnl {
            PnlConversion::Direct => quote,
            PnlConversion::DivideByPrice => quote / price.value(),
        }
    }

    /// Rounds `lots` down to the lot step; `None` when that falls below the minimum.
    #[must_use]
    pub fn round_lots(&self, lots: Decimal) -> Option<Lots> {
        if self.lot_step <= Decimal::ZERO {
            return Lots::new(lots).ok();
        }
        let steps = (lots / self.lot_step).floor();
        let rounded = (steps * self.lot_step).min(self.lot_max);
        if rounded < self.lot_min { None } else { Lots::new(rounded).ok() }
    }

    /// Whether `lots` is within min/max and a multiple of the step.
    #[must_use]
    pub fn lots_valid(&self, lots: Lots) -> bool {
        let v = lots.value();
        v >= self.lot_min && v <= self.lot_max && (self.lot_step <= Decimal::ZERO || (v % self.lot_step).is_zero())
    }
}

/// Contract specs by symbol; starts from built-in defaults that config can extend or replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolTable(BTreeMap<Symbol, SymbolSpec>);

impl Default for SymbolTable {
    fn default() -> Self {
        use PnlConversion::{Direct, DivideByPrice};
        let d = |m: i64, s: u32| Decimal::new(m, s);
        let fx = |pnl| SymbolSpec::new(d(1, 4), d(100_000, 0), d(1, 2), d(100, 0), d(1, 2), pnl);
        let rows = [
            ("XAUUSD", SymbolSpec::new(d(1, 1), d(100, 0), d(1, 2), d(100, 0), d(1, 2), Direct)),
            ("XAGUSD", SymbolSpec::new(d(1, 2), d(5_000, 0), d(1, 2), d(100, 0), d(1, 2), Direct)),
            ("EURUSD", fx(Direct)),
            ("GBPUSD", fx(Direct)),
            ("AUDUSD", fx(Direct)),
            ("USDJPY", SymbolSpec::new(d(1, 2), d(100_000, 0), d(1, 2), d(100, 0), d(1, 2), DivideByPrice)),
            ("US30", SymbolSpec::new(d(1, 0), d(1, 0), d(1, 2), d(100, 0), d(1, 2), Direct)),
            ("BTCUSDT", SymbolSpec::new(d(1, 0), d(1, 0), d(1, 3), d(100, 0), d(1, 3), Direct)),
            ("ETHUSDT", SymbolSpec::new(d(1, 1), d(1, 0), d(1, 3), d(1_000, 0), d(1, 3), Direct)),
        ];
        Self(rows.into_iter().filter_map(|(name, spec)| Symbol::new(name).ok().map(|s| (s, spec))).collect())
    }
}

impl SymbolTable {
    /// The spec of a symbol, if known.
    #[must_use]
    pub fn get(&self, symbol: &Symbol) -> Option<&SymbolSpec> {
        self.0.get(symbol)
    }

    /// Adds or replaces a symbol's spec.
    pub fn insert(&mut self, symbol: Symbol, spec: SymbolSpec) {
        self.0.insert(symbol, spec);
    }

    /// Every known symbol.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.0.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    #[test]
    fn normalization() {
        assert_eq!(Symbol::new("OANDA:XAUUSD").unwrap().as_str(), "XAUUSD");
        assert_eq!(Symbol::new("eur/usd").unwrap().as_str(), "EURUSD");
        assert_eq!(Symbol::new("BINANCE:BTCUSDT.P").unwrap().as_str(), "BTCUSDT.P");
        assert_eq!(Symbol::new("CME_MINI:NQ1!").unwrap().as_str(), "NQ1!");
        assert!(Symbol::new("OANDA:").is_err());
        assert!(Symbol::new("XAU USD").is_err());
    }

    #[test]
    fn gold_pnl_and_lot_rounding() {
        let table = SymbolTable::default();
        let gold = table.get(&Symbol::new("XAUUSD").unwrap()).unwrap();
        let pnl = gold.pnl(Side::Buy, "0.1".parse().unwrap(), "2000".parse().unwrap(), "2005".parse().unwrap());
        assert_eq!(pnl.to_string(), "50");
        let short = gold.pnl(Side::Sell, "1".parse().unwrap(), "2000".parse().unwrap(), "2005".parse().unwrap());
        assert_eq!(short.to_string(), "-500");
        assert_eq!(gold.round_lots(Decimal::new(1234, 4)).unwrap().to_string(), "0.12");
        assert!(gold.round_lots(Decimal::new(5, 3)).is_none());
        assert!(gold.lots_valid("0.05".parse().unwrap()));
        assert!(!gold.lots_valid("0.055".parse().unwrap()));
    }

    #[test]
    fn yen_pnl_converts_to_account_currency() {
        let table = SymbolTable::default();
        let jpy = table.get(&Symbol::new("USDJPY").unwrap()).unwrap();
        let pnl = jpy.pnl(Side::Buy, "1".parse().unwrap(), "150".parse().unwrap(), "151".parse().unwrap());
        assert_eq!(pnl.value().round_dp(2).to_string(), "662.25");
    }
}
