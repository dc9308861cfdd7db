//! Aggregation of ticks into bars and of bars into a longer timeframe, on UTC boundaries.
//!
//! Periods tile the UTC day: a 4h bar opens at 00:00, 04:00, … UTC and a 1d bar at midnight
//! UTC, so the timeframes are those that divide a day (1m, 5m, 15m, 1h, 4h, 1d…). A bar is
//! emitted once its period is known to be complete: for bars, when the last sub-bar of the
//! period arrives or when a bar of a later period does; for ticks, when a tick of a later period
//! arrives. A period without any input yields no bar.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use zepix_model::{Bar, Price, Tick, Timeframe};

use crate::error::DataError;

const DAY_SECS: i64 = 86_400;

fn period_secs(timeframe: Timeframe, what: &'static str) -> Result<i64, DataError> {
    let secs = i64::from(timeframe.minutes()) * 60;
    if DAY_SECS % secs == 0 {
        Ok(secs)
    } else {
        Err(DataError::Unsupported {
            what,
            value: timeframe.to_string(),
            expected: "a timeframe that divides a day (1m, 5m, 15m, 1h, 4h, 1d, …)",
        })
    }
}

/// The open time of the period of `secs` seconds holding `time`.
fn period_start(time: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    let start = time.timestamp().div_euclid(secs) * secs;
    // A multiple of a period at or before a valid time is itself a valid time.
    DateTime::from_timestamp(start, 0).unwrap_or(time)
}

/// The bar being built for one period.
#[derive(Debug, Clone, Copy)]
struct Partial(Bar);

impl Partial {
    fn merge(&mut self, high: Price, low: Price, close: Price, volume: Decimal) {
        let bar = &mut self.0;
        bar.high = bar.high.max(high);
        bar.low = bar.low.min(low);
        bar.close = close;
        bar.volume += volume;
    }
}

/// Builds bars of one timeframe from trades.
#[derive(Debug, Clone)]
pub struct TickAggregator {
    secs: i64,
    current: Option<Partial>,
}

impl TickAggregator {
    /// Bars of `timeframe`.
    ///
    /// # Errors
    /// When the timeframe does not divide a day.
    pub fn new(timeframe: Timeframe) -> Result<Self, DataError> {
        Ok(Self { secs: period_secs(timeframe, "bar timeframe")?, current: None })
    }

    /// Adds a trade; returns the previous period's bar when this trade starts a later period.
    /// A trade older than the current period is ignored (its period was already emitted).
    pub fn push(&mut self, tick: Tick) -> Option<Bar> {
        let start = period_start(tick.time, self.secs);
        match &mut self.current {
            Some(partial) if partial.0.time == start => {
                partial.merge(tick.price, tick.price, tick.price, tick.quantity);
                None
            }
            Some(partial) if partial.0.time > start => None,
            current => {
                let fresh = Partial(Bar {
                    time: start,
                    open: tick.price,
                    high: tick.price,
                    low: tick.price,
                    close: tick.price,
                    volume: tick.quantity,
                });
                current.replace(fresh).map(|done| done.0)
            }
        }
    }

    /// The bar of the current, unfinished period, if any trade fell in it.
    #[must_use]
    pub fn current(&self) -> Option<Bar> {
        self.current.map(|p| p.0)
    }
}

/// Builds bars of a longer timeframe from bars of a shorter one.
#[derive(Debug, Clone)]
pub struct BarAggregator {
    from_secs: i64,
    secs: i64,
    current: Option<Partial>,
}

impl BarAggregator {
    /// Turns `from` bars into `to` bars.
    ///
    /// # Errors
    /// When either timeframe does not divide a day, or `to` is not a whole multiple of `from`.
    pub fn new(from: Timeframe, to: Timeframe) -> Result<Self, DataError> {
        let from_secs = period_secs(from, "source timeframe")?;
        let secs = period_secs(to, "target timeframe")?;
        if secs % from_secs != 0 {
            return Err(DataError::Unsupported {
                what: "target timeframe",
                value: format!("{to} from {from}"),
                expected: "a whole multiple of the source timeframe",
            });
        }
        Ok(Self { from_secs, secs, current: None })
    }

    /// Adds a bar (of the source timeframe, in time order). Returns at most two finished bars:
    /// the previous period's when this bar starts a later one, and this period's when this bar
    /// is its last. A bar older than the current period is ignored.
    pub fn push(&mut self, bar: &Bar) -> impl Iterator<Item = Bar> + use<> {
        let start = period_start(bar.time, self.secs);
        let mut done = [None, None];
        match &mut self.current {
            Some(partial) if partial.0.time == start => partial.merge(bar.high, bar.low, bar.close, bar.volume),
            Some(partial) if partial.0.time > start => return done.into_iter().flatten(),
            current => done[0] = current.replace(Partial(Bar { time: start, ..*bar })).map(|p| p.0),
        }
        if bar.time.timestamp() + self.from_secs >= start.timestamp() + self.secs {
            done[1] = self.current.take().map(|p| p.0);
        }
        done.into_iter().flatten()
    }

    /// The bar of the current, unfinished period, if any.
    #[must_use]
    pub fn current(&self) -> Option<Bar> {
        self.current.map(|p| p.0)
    }
}

/// Aggregates a whole series of `from` bars into the finished `to` bars.
///
/// # Errors
/// As [`BarAggregator::new`].
pub fn aggregate_bars(bars: &[Bar], from: Timeframe, to: Timeframe) -> Result<Vec<Bar>, DataError> {
    let mut aggregator = BarAggregator::new(from, to)?;
    Ok(bars.iter().flat_map(|bar| aggregator.push(bar)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::time::format_timestamp;

    fn t(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn p(v: i64) -> Price {
        Price::new(Decimal::from(v)).unwrap()
    }

    fn bar(time: &str, o: i64, h: i64, l: i64, c: i64, v: i64) -> Bar {
        Bar::new(t(time), p(o), p(h), p(l), p(c), Decimal::from(v)).unwrap()
    }

    fn tick(time: &str, price: i64, qty: i64) -> Tick {
        Tick { time: t(time), price: p(price), quantity: Decimal::from(qty) }
    }

    fn ohlcv(b: &Bar) -> (String, String, String, String, String, String) {
        let s = |p: Price| p.to_string();
        (format_timestamp(b.time), s(b.open), s(b.high), s(b.low), s(b.close), b.volume.to_string())
    }

    #[test]
    fn ticks_become_a_bar_when_a_later_minute_starts() {
        let mut agg = TickAggregator::new(Timeframe::M1).unwrap();
        assert_eq!(agg.push(tick("2024-01-01T00:00:05Z", 10, 1)), None);
        assert_eq!(agg.push(tick("2024-01-01T00:00:30Z", 12, 2)), None);
        assert_eq!(agg.push(tick("2024-01-01T00:00:59.999Z", 9, 3)), None);
        assert_eq!(agg.push(tick("2024-01-01T00:00:59.999Z", 11, 1)), None);
        let done = agg.push(tick("2024-01-01T00:03:00Z", 20, 1)).unwrap();
        assert_eq!(ohlcv(&done), ohlcv(&bar("2024-01-01T00:00:00Z", 10, 12, 9, 11, 7)));
        // Late trade for a finished minute: ignored; the 00:03 bar is still open.
        assert_eq!(agg.push(tick("2024-01-01T00:02:00Z", 99, 1)), None);
        assert_eq!(ohlcv(&agg.current().unwrap()), ohlcv(&bar("2024-01-01T00:03:00Z", 20, 20, 20, 20, 1)));
    }

    #[test]
    fn five_one_minute_bars_make_a_five_minute_bar_as_soon_as_the_last_arrives() {
        let mut agg = BarAggregator::new(Timeframe::M1, Timeframe::M5).unwrap();
        let minutes = [(10, 11, 9, 10), (10, 14, 10, 13), (13, 13, 8, 9), (9, 10, 9, 10), (10, 12, 10, 11)];
        for (i, (o, h, l, c)) in minutes.into_iter().enumerate() {
            let out: Vec<Bar> = agg.push(&bar(&format!("2024-01-01T00:0{i}:00Z"), o, h, l, c, 1)).collect();
            if i < 4 {
                assert!(out.is_empty(), "minute {i} emitted {out:?}");
            } else {
                assert_eq!(
                    out.iter().map(ohlcv).collect::<Vec<_>>(),
                    [ohlcv(&bar("2024-01-01T00:00:00Z", 10, 14, 8, 11, 5))]
                );
            }
        }
        assert!(agg.current().is_none());
    }

    #[test]
    fn a_period_with_missing_minutes_is_emitted_when_a_later_period_starts() {
        let mut agg = BarAggregator::new(Timeframe::M1, Timeframe::M5).unwrap();
        assert_eq!(agg.push(&bar("2024-01-01T00:06:00Z", 5, 6, 4, 5, 1)).count(), 0);
        let out: Vec<Bar> = agg.push(&bar("2024-01-01T00:12:00Z", 7, 7, 7, 7, 1)).collect();
        assert_eq!(out.iter().map(ohlcv).collect::<Vec<_>>(), [ohlcv(&bar("2024-01-01T00:05:00Z", 5, 6, 4, 5, 1))]);
        // A bar that both closes the old period and is the last of its own yields two bars.
        let out: Vec<Bar> = agg.push(&bar("2024-01-01T00:19:00Z", 8, 8, 8, 8, 2)).collect();
        let times: Vec<String> = out.iter().map(|b| format_timestamp(b.time)).collect();
        assert_eq!(times, ["2024-01-01T00:10:00Z", "2024-01-01T00:15:00Z"]);
    }

    #[test]
    fn every_standard_timeframe_aligns_on_utc_boundaries() {
        let bars = crate::generate::generate(3 * 1440, 5, t("2024-01-01T00:00:00Z"));
        for (tf, count) in [
            (Timeframe::M1, 3 * 1440),
            (Timeframe::M5, 3 * 288),
            (Timeframe::M15, 3 * 96),
            (Timeframe::H1, 72),
            (Timeframe::H4, 18),
            (Timeframe::D1, 3),
        ] {
            let out = aggregate_bars(&bars, Timeframe::M1, tf).unwrap();
            assert_eq!(out.len(), count, "{tf}");
            let secs = i64::from(tf.minutes()) * 60;
            assert!(out.iter().all(|b| b.time.timestamp() % secs == 0), "{tf}");
            let total: Decimal = out.iter().map(|b| b.volume).sum();
            assert_eq!(total, bars.iter().map(|b| b.volume).sum::<Decimal>(), "{tf}");
        }
        let days = aggregate_bars(&bars, Timeframe::M1, Timeframe::D1).unwrap();
        let first_day = &bars[..1440];
        assert_eq!(days[0].open, first_day[0].open);
        assert_eq!(days[0].close, first_day[1439].close);
        assert_eq!(days[0].high, first_day.iter().map(|b| b.high).max().unwrap());
        assert_eq!(days[0].low, first_day.iter().map(|b| b.low).min().unwrap());
        // Aggregating in steps gives the same as in one go.
        let hours = aggregate_bars(&bars, Timeframe::M1, Timeframe::H1).unwrap();
        assert_eq!(aggregate_bars(&hours, Timeframe::H1, Timeframe::D1).unwrap(), days);
    }

    #[test]
    fn timeframes_that_do_not_tile_a_day_or_do_not_divide_are_refused() {
        let seven = Timeframe::from_minutes(7).unwrap();
        let e = BarAggregator::new(Timeframe::M1, seven).unwrap_err();
        assert!(e.to_string().contains("divides a day"), "{e}");
        let e = BarAggregator::new(Timeframe::M15, Timeframe::from_minutes(20).unwrap()).unwrap_err();
        assert!(e.to_string().contains("whole multiple"), "{e}");
        assert!(TickAggregator::new(Timeframe::from_minutes(7 * 1440).unwrap()).is_err());
    }
}
