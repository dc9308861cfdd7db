//! The hot path under CSV parsing and cache loading: numbers as a 64-bit mantissa and a scale,
//! and a bar checked with integer comparisons instead of decimal ones. Anything that does not
//! fit (more than 18 digits, an overflow when bringing prices to one scale) returns `None` and
//! the caller takes the general decimal path, which also words the errors.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use zepix_model::{Bar, Price};

/// The largest scale (and digit count) handled here: 10^18 fits in an `i64`.
const MAX_SCALE: u32 = 18;

/// A decimal as `mantissa × 10^-scale`, with `scale` ≤ 18.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fixed {
    mantissa: i64,
    scale: u32,
}

impl Fixed {
    /// `None` when the scale is beyond what this path handles.
    pub(crate) fn new(mantissa: i64, scale: u32) -> Option<Self> {
        (scale <= MAX_SCALE).then_some(Self { mantissa, scale })
    }

    /// Plain `[-+]digits[.digits]` with at most 18 digits; `None` for anything else.
    pub(crate) fn parse(s: &[u8]) -> Option<Self> {
        let (negative, digits) = match s.first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if digits.len() > MAX_SCALE as usize {
            return None;
        }
        let mut mantissa: i64 = 0;
        let mut scale = 0u32;
        let mut dot = false;
        let mut any = false;
        for &b in digits {
            match b {
                b'0'..=b'9' => {
                    mantissa = mantissa * 10 + i64::from(b - b'0');
                    scale += u32::from(dot);
                    any = true;
                }
                b'.' if !dot => dot = true,
                _ => return None,
            }
        }
        any.then_some(Self { mantissa: if negative { -mantissa } else { mantissa }, scale })
    }

    pub(crate) fn decimal(self) -> Decimal {
        // The scale is at most 18, so `Decimal::new` (which panics above 28) cannot fail.
        Decimal::new(self.mantissa, self.scale)
    }

    /// The mantissa at a larger scale, if it fits.
    fn at_scale(self, scale: u32) -> Option<i64> {
        10i64.checked_pow(scale - self.scale).and_then(|f| self.mantissa.checked_mul(f))
    }
}

/// The bar these numbers make when they make a valid one (positive prices, high and low
/// bounding open and close, volume not negative); `None` otherwise or when they do not fit.
pub(crate) fn bar(time: DateTime<Utc>, [o, h, l, c]: [Fixed; 4], volume: Fixed) -> Option<Bar> {
    let scale = o.scale.max(h.scale).max(l.scale).max(c.scale);
    let (open, high, low, close) = (o.at_scale(scale)?, h.at_scale(scale)?, l.at_scale(scale)?, c.at_scale(scale)?);
    let valid = low > 0 && high >= low && high >= open && high >= close && low <= open && low <= close;
    if !valid || volume.mantissa < 0 {
        return None;
    }
    let price = |f: Fixed| Price::new(f.decimal()).ok();
    // The same rules as `Bar::new`, checked above on integers.
    Some(Bar { time, open: price(o)?, high: price(h)?, low: price(l)?, close: price(c)?, volume: volume.decimal() })
}

/// [`bar`], or when the numbers do not fit its integers, the same checks on decimals.
pub(crate) fn any_bar(time: DateTime<Utc>, prices: [Fixed; 4], volume: Fixed) -> Option<Bar> {
    bar(time, prices, volume).or_else(|| {
        let [o, h, l, c] = prices.map(|f| Price::new(f.decimal()).ok());
        Bar::new(time, o?, h?, l?, c?, volume.decimal()).ok()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_bar_new(values in prop::array::uniform4((-5i64..1_000_000, 0u32..7)), volume in -2i64..5) {
            let time = DateTime::from_timestamp(0, 0).unwrap();
            let fixed = values.map(|(m, s)| Fixed::new(m, s).unwrap());
            let decimal = |i: usize| Price::new(fixed[i].decimal());
            let checked = match (decimal(0), decimal(1), decimal(2), decimal(3)) {
                (Ok(o), Ok(h), Ok(l), Ok(c)) => Bar::new(time, o, h, l, c, Decimal::from(volume)).ok(),
                _ => None,
            };
            prop_assert_eq!(bar(time, fixed, Fixed::new(volume, 0).unwrap()), checked);
        }
    }

    #[test]
    fn prices_too_far_apart_for_one_scale_take_the_decimal_path() {
        let time = DateTime::from_timestamp(0, 0).unwrap();
        let big = Fixed::new(900_000_000_000_000_000, 0).unwrap();
        let small = Fixed::new(1, 18).unwrap();
        let prices = [small, big, small, small];
        assert_eq!(bar(time, prices, small), None);
        assert_eq!(any_bar(time, prices, small).unwrap().high.to_string(), "900000000000000000");
    }

    #[test]
    fn parses_plain_decimals_only() {
        assert_eq!(Fixed::parse(b"100.25"), Fixed::new(10025, 2));
        assert_eq!(Fixed::parse(b"-0.5"), Fixed::new(-5, 1));
        assert_eq!(Fixed::parse(b"+7"), Fixed::new(7, 0));
        for other in [&b""[..], b".", b"1e3", b"1.2.3", b"12345678901234567890", b"1_0", b"-"] {
            assert_eq!(Fixed::parse(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
