//! Decimal value types for prices, sizes and money. Money is never a float.
//!
//! Each type wraps a [`Decimal`] and has one checked constructor that states its invariant;
//! they serialize as strings so no JSON reader turns them into floats.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;

macro_rules! decimal_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $expected:literal, |$v:ident| $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(Decimal);

        impl $name {
            /// Checked constructor.
            ///
            /// # Errors
            #[doc = concat!("When the value is not ", $expected, ".")]
            pub fn new(value: Decimal) -> Result<Self, ModelError> {
                let $v = value;
                if $valid {
                    Ok(Self(value.normalize()))
                } else {
                    Err(ModelError::new($what, value.to_string(), $expected))
                }
            }

            /// The underlying decimal.
            #[must_use]
            pub const fn value(self) -> Decimal {
                self.0
            }

            /// The nearest `f64`, as a float parser reads the decimal's text: for indicators
            /// and charts, never for arithmetic on amounts.
            #[must_use]
            pub fn as_f64(self) -> f64 {
                to_f64(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let value = Decimal::from_str(s.trim())
                    .or_else(|_| Decimal::from_scientific(s.trim()))
                    .map_err(|_| ModelError::new($what, s, $expected))?;
                Self::new(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <Decimal as Deserialize>::deserialize(deserializer)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The `f64` nearest to `d`. A mantissa below 2^53 and a power of ten up to 10^22 are both exact
/// in an `f64`, so their quotient is rounded once: the nearest value, and far cheaper than the
/// general conversion, which takes the rest.
fn to_f64(d: Decimal) -> f64 {
    let mantissa = d.mantissa();
    match (i64::try_from(mantissa), POW10.get(d.scale() as usize)) {
        #[allow(clippy::cast_precision_loss)] // Below 2^53 in magnitude: exact.
        (Ok(m), Some(power)) if m.unsigned_abs() < 1 << 53 => m as f64 / power,
        _ => rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(f64::NAN),
    }
}

decimal_type!(
    /// A price: strictly positive.
    Price, "price", "a positive number", |v| v > Decimal::ZERO
);
decimal_type!(
    /// A position or order size in lots: strictly positive.
    Lots, "lot size", "a positive number", |v| v > Decimal::ZERO
);
decimal_type!(
    /// An amount of account currency: any sign (P&L can be negative).
    Money, "amount", "a number", |_v| true
);
decimal_type!(
    /// A distance in pips: strictly positive.
    Pips, "pips", "a positive number", |v| v > Decimal::ZERO
);

impl Money {
    /// Zero money.
    pub const ZERO: Self = Self(Decimal::ZERO);

    /// Wraps any decimal; money has no invariant beyond being a decimal.
    #[must_use]
    pub fn from_decimal(value: Decimal) -> Self {
        Self(value.normalize())
    }
}

impl std::ops::Add for Money {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self::from_decimal(self.0 + rhs.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self::from_decimal(self.0 - rhs.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl std::ops::Neg for Money {
    type Output = Self;
    fn neg(self) -> Self {
        Self(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prices_must_be_positive() {
        assert!(Price::new(Decimal::ZERO).is_err());
        assert!(Price::new(Decimal::NEGATIVE_ONE).is_err());
        assert_eq!("2020.50".parse::<Price>().unwrap().to_string(), "2020.5");
    }

    #[test]
    fn bad_text_names_the_type() {
        let err = "abc".parse::<Lots>().unwrap_err();
        assert_eq!(err.to_string(), "invalid lot size `abc`: expected a positive number");
    }

    #[test]
    fn serializes_as_string() {
        let p: Price = "1.10005".parse().unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"1.10005\"");
        let back: Price = serde_json::from_str("\"1.10005\"").unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Price>("\"-1\"").is_err());
        let from_number: Price = serde_json::from_str("2020.5").unwrap();
        assert_eq!(from_number.to_string(), "2020.5", "config files write numbers");
    }

    proptest! {
        #[test]
        fn money_add_sub_inverse(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000, scale in 0u32..8) {
            let x = Money::from_decimal(Decimal::new(a, scale));
            let y = Money::from_decimal(Decimal::new(b, scale));
            prop_assert_eq!(x + y - y, x);
        }

        #[test]
        fn as_f64_is_what_a_float_parser_reads_from_the_text(m in 1i64..1 << 53, scale in 0u32..=22) {
            let p = Price::new(Decimal::new(m, scale)).unwrap();
            prop_assert_eq!(p.as_f64(), p.to_string().parse::<f64>().unwrap());
            let negative = Money::from_decimal(-Decimal::new(m, scale));
            prop_assert_eq!(negative.as_f64(), negative.to_string().parse::<f64>().unwrap());
        }

        #[test]
        fn as_f64_of_any_price_is_within_rounding(m in 1i64..i64::MAX, scale in 0u32..=28) {
            let p = Price::new(Decimal::new(m, scale)).unwrap();
            let parsed = p.to_string().parse::<f64>().unwrap();
            prop_assert!((p.as_f64() - parsed).abs() <= parsed * 1e-15, "{} vs {parsed}", p.as_f64());
        }

        #[test]
        fn price_text_round_trips(m in 1i64..i64::MAX, scale in 0u32..10) {
            let p = Price::new(Decimal::new(m, scale)).unwrap();
            prop_assert_eq!(p.to_string().parse::<Price>().unwrap(), p);
        }
    }
}
