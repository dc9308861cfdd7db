//! The paper venue's settings: the `[venue]` table of `zepix.toml`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use zepix_model::Symbol;

use crate::error::PaperConfigError;

/// Starting balance, spread and slippage of the simulated broker. Spreads and slippage are in
/// pips of each symbol, so one setting fits gold and currencies alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Which venue the `[venue]` table selects; only `paper` is known.
    pub kind: String,
    /// Starting balance in account currency.
    pub balance: Decimal,
    /// Spread in pips for symbols without an entry in `spreads`.
    pub spread_pips: Decimal,
    /// Slippage in pips, always against the trader, on every market fill and close.
    pub slippage_pips: Decimal,
    /// Spread in pips by symbol, overriding `spread_pips`.
    pub spreads: BTreeMap<String, Decimal>,
    /// Commission in account currency per lot and per side (charged for both sides when the
    /// position closes).
    pub commission_per_lot: Decimal,
}

impl Default for PaperConfig {
    fn default() -> Self {
        Self {
            kind: "paper".to_owned(),
            balance: Decimal::from(10_000),
            spread_pips: Decimal::ZERO,
            slippage_pips: Decimal::ZERO,
            spreads: BTreeMap::new(),
            commission_per_lot: Decimal::ZERO,
        }
    }
}

impl PaperConfig {
    /// Checks the settings a paper venue cannot run with.
    ///
    /// # Errors
    /// The first bad field: a `kind` other than `paper`, a balance that is not positive, a
    /// negative spread or slippage, or a `spreads` key that is not a symbol.
    pub fn validate(&self) -> Result<(), PaperConfigError> {
        if !self.kind.eq_ignore_ascii_case("paper") {
            return Err(PaperConfigError::Kind(self.kind.clone()));
        }
        if self.balance <= Decimal::ZERO {
            return Err(PaperConfigError::Balance(self.balance));
        }
        let negative = |field: String, value: Decimal| {
            if value < Decimal::ZERO { Err(PaperConfigError::Negative { field, value }) } else { Ok(()) }
        };
        negative("spread_pips".to_owned(), self.spread_pips)?;
        negative("slippage_pips".to_owned(), self.slippage_pips)?;
        negative("commission_per_lot".to_owned(), self.commission_per_lot)?;
        for (name, spread) in &self.spreads {
            Symbol::new(name).map_err(|_| PaperConfigError::SpreadSymbol(name.clone()))?;
            negative(format!("spreads.{name}"), *spread)?;
        }
        Ok(())
    }

    /// The per-symbol spreads with their keys normalized (`oanda:xauusd` → `XAUUSD`); keys that
    /// are not symbols are left out ([`PaperConfig::validate`] reports them).
    #[must_use]
    pub fn symbol_spreads(&self) -> BTreeMap<Symbol, Decimal> {
        self.spreads.iter().filter_map(|(name, spread)| Symbol::new(name).ok().map(|s| (s, *spread))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PaperConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn an_empty_table_is_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, PaperConfig::default());
        assert_eq!(config.kind, "paper");
        assert_eq!(config.balance, Decimal::from(10_000));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn reads_the_venue_table() {
        let config = parse(
            r#"
            kind = "paper"
            balance = 2500
            spread_pips = 1.5
            slippage_pips = "0.5"
            [spreads]
            "oanda:xauusd" = 3
            "#,
        )
        .unwrap();
        assert_eq!(config.balance, Decimal::from(2_500));
        assert_eq!(config.spread_pips, Decimal::new(15, 1));
        assert_eq!(config.slippage_pips, Decimal::new(5, 1));
        let spreads = config.symbol_spreads();
        assert_eq!(spreads.get(&Symbol::new("XAUUSD").unwrap()), Some(&Decimal::from(3)));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse("spread = 2").unwrap_err();
        assert!(err.to_string().contains("unknown field `spread`"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |config: PaperConfig| config.validate().unwrap_err().to_string();
        let base = PaperConfig::default();
        assert_eq!(
            bad(PaperConfig { kind: "mt5".into(), ..base.clone() }),
            "venue.kind `mt5` is not supported: expected \"paper\""
        );
        assert_eq!(bad(PaperConfig { balance: Decimal::ZERO, ..base.clone() }), "venue.balance 0 must be positive");
        assert_eq!(
            bad(PaperConfig { slippage_pips: Decimal::NEGATIVE_ONE, ..base.clone() }),
            "venue.slippage_pips -1 must not be negative"
        );
        let spreads = BTreeMap::from([("XAU USD".to_owned(), Decimal::ONE)]);
        assert_eq!(
            bad(PaperConfig { spreads, ..base.clone() }),
            "venue.spreads key `XAU USD` is not a symbol such as XAUUSD"
        );
        let spreads = BTreeMap::from([("EURUSD".to_owned(), Decimal::NEGATIVE_ONE)]);
        assert_eq!(bad(PaperConfig { spreads, ..base }), "venue.spreads.EURUSD -1 must not be negative");
    }
}
