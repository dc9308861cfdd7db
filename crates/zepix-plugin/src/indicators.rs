//! Streaming technical indicators for strategy plugins.
//!
//! Every indicator takes one value (or one bar) at a time through `update`, answers `None` until
//! it has seen enough input ([`warm_up`](Sma::warm_up) updates) and a value after that, and starts
//! over with `reset`. Each update is O(1) and allocates nothing: the windowed indicators keep a
//! ring buffer allocated once by the constructor, the Wilder indicators keep a few running numbers.
//!
//! Indicators compute in `f64`: they are signals, not money. Inputs must be finite; a NaN or an
//! infinity poisons the values until the next `reset`.
//!
//! | indicator | input | first value after | value |
//! |---|---|---|---|
//! | [`Sma`] | a price | `period` updates | mean of the last `period` prices |
//! | [`Ema`] | a price | `period` updates | seeded with the SMA of the first `period`, then `α = 2 / (period + 1)` |
//! | [`StdDev`] | a price | `period` updates | population (÷ n) or sample (÷ n − 1) deviation of the window |
//! | [`Bollinger`] | a price | `period` updates | SMA ± k · population deviation |
//! | [`Atr`] | high, low, close | `period + 1` bars | Wilder's average true range |
//! | [`Adx`] | high, low, close | `2 · period` bars | Wilder's ADX with +DI and −DI |
//! | [`Rsi`] | a price | `period + 1` updates | Wilder's relative strength index |
//!
//! The Wilder indicators follow Welles Wilder's definitions as TA-Lib computes them: the first bar
//! only provides the previous close (a true range, a directional move and a price change all need
//! one), the first average is the plain mean of the first `period` values, and every later one is
//! `(previous · (period − 1) + value) / period`.
//!
//! # Numerics of the rolling window
//! A running sum over a sliding window is cheap but drifts: every add and subtract rounds, and
//! the errors never leave. A running sum of squares is worse, because the variance
//! `Σx²/n − (Σx/n)²` cancels catastrophically when the prices are large next to their spread
//! (gold at 2000 moving by cents). [`Window`]'s answer is the *shifted-data* method with exact
//! recomputation: it keeps `S1 = Σ(x − K)` and `S2 = Σ(x − K)²` around a shift `K`, and every time
//! the ring buffer wraps (once per `period` updates) it recomputes both exactly from the window (two
//! passes) with `K` set to the window's mean. So at most `period` rounding errors accumulate, each
//! relative to `(x − K)²` rather than `x²`, and `K` is never more than one window away from the
//! values, which keeps the subtraction in `S2 − S1²/n` from cancelling the variance of a quiet
//! window. (Recomputing less often was tried: with a shift a thousand updates old, a window of two
//! nearly equal prices lost half its digits.) The recomputation costs `O(period)` once per
//! `period` updates: O(1) per update.

use thiserror::Error;

/// A constructor argument an indicator cannot work with.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IndicatorError {
    /// The period is smaller than the indicator needs.
    #[error("{indicator}: period {period} is too small: expected at least {minimum}")]
    Period {
        /// Which indicator.
        indicator: &'static str,
        /// The period given.
        period: usize,
        /// The smallest period it accepts.
        minimum: usize,
    },
    /// The band multiplier is negative or not finite.
    #[error("{indicator}: multiplier {k} is invalid: expected a finite number of at least 0")]
    Multiplier {
        /// Which indicator.
        indicator: &'static str,
        /// The multiplier given.
        k: f64,
    },
}

fn check_period(indicator: &'static str, period: usize, minimum: usize) -> Result<(), IndicatorError> {
    if period < minimum { Err(IndicatorError::Period { indicator, period, minimum }) } else { Ok(()) }
}

/// A sliding window of the last `period` values with shifted running sums (see the module doc).
#[derive(Debug, Clone)]
struct Window {
    values: Box<[f64]>,
    /// Where the next value goes; also the oldest value once the window is full.
    next: usize,
    full: bool,
    /// `1 / period`: a multiplication where a division would cost several times more.
    inv_len: f64,
    shift: f64,
    /// `Σ(x − shift)` over the window.
    s1: f64,
    /// `Σ(x − shift)²` over the window.
    s2: f64,
}

impl Window {
    fn new(period: usize) -> Self {
        Self {
            values: vec![0.0; period].into_boxed_slice(),
            next: 0,
            full: false,
            inv_len: 1.0 / period as f64,
            shift: 0.0,
            s1: 0.0,
            s2: 0.0,
        }
    }

    fn reset(&mut self) {
        self.next = 0;
        self.full = false;
        self.shift = 0.0;
        self.s1 = 0.0;
        self.s2 = 0.0;
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    /// Adds a value (dropping the oldest once full); true when the window is full.
    #[inline]
    fn push(&mut self, x: f64) -> bool {
        let Some(slot) = self.values.get_mut(self.next) else {
            // `next` is kept below `len` by the wrap below; an empty window cannot be made.
            return false;
        };
        let d = x - self.shift;
        if self.full {
            let old = *slot - self.shift;
            self.s1 += d - old;
            self.s2 += (d - old) * (d + old);
        } else if self.next == 0 {
            // The first value of a fresh window is the shift: its sums start at exactly zero.
            self.shift = x;
            self.s1 = 0.0;
            self.s2 = 0.0;
        } else {
            self.s1 += d;
            self.s2 += d * d;
        }
        *slot = x;
        self.next += 1;
        if self.next == self.values.len() {
            self.next = 0;
            self.full = true;
            self.recompute();
        }
        self.full
    }

    /// Two-pass recomputation of the sums around the window's mean.
    fn recompute(&mut self) {
        let shift = self.values.iter().sum::<f64>() * self.inv_len;
        let (mut s1, mut s2) = (0.0, 0.0);
        for &x in self.values.iter() {
            let d = x - shift;
            s1 += d;
            s2 += d * d;
        }
        self.shift = shift;
        self.s1 = s1;
        self.s2 = s2;
    }

    #[inline]
    fn mean(&self) -> f64 {
        self.shift + self.s1 * self.inv_len
    }

    /// `Σ(x − mean)²`, never negative.
    #[inline]
    fn sum_sq_dev(&self) -> f64 {
        let m2 = self.s2 - self.s1 * self.s1 * self.inv_len;
        m2.max(0.0)
    }
}

/// Simple moving average of the last `period` values.
#[derive(Debug, Clone)]
pub struct Sma {
    window: Window,
}

impl Sma {
    /// An SMA over `period` values.
    ///
    /// # Errors
    /// When `period` is 0.
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("SMA", period, 1)?;
        Ok(Self { window: Window::new(period) })
    }

    /// Adds a value; the mean of the last `period` values once there are that many.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x).then(|| self.window.mean())
    }

    /// Updates before the first value.
    #[must_use]
    pub fn warm_up(&self) -> usize {
        self.window.len()
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.window.reset();
    }
}

/// Exponential moving average: `α = 2 / (period + 1)`, seeded with the SMA of the first `period`
/// values (the first value comes with the `period`-th update).
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    alpha: f64,
    seen: usize,
    /// The sum of the seed values while warming up, the average after.
    value: f64,
}

impl Ema {
    /// An EMA over `period` values.
    ///
    /// # Errors
    /// When `period` is 0.
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("EMA", period, 1)?;
        Ok(Self { period, alpha: 2.0 / (period as f64 + 1.0), seen: 0, value: 0.0 })
    }

    /// Adds a value; the average once `period` values have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.seen >= self.period {
            self.value += self.alpha * (x - self.value);
            return Some(self.value);
        }
        self.seen += 1;
        self.value += x;
        if self.seen == self.period {
            self.value /= self.period as f64;
            Some(self.value)
        } else {
            None
        }
    }

    /// Updates before the first value.
    #[must_use]
    pub const fn warm_up(&self) -> usize {
        self.period
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.seen = 0;
        self.value = 0.0;
    }
}

/// Which variance a [`StdDev`] takes the root of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variance {
    /// `Σ(x − mean)² / n`: the whole population is the window (Bollinger's choice).
    Population,
    /// `Σ(x − mean)² / (n − 1)`: the window is a sample of something larger.
    Sample,
}

/// Standard deviation of the last `period` values.
#[derive(Debug, Clone)]
pub struct StdDev {
    window: Window,
    /// `1 / n` or `1 / (n − 1)`.
    inv_divisor: f64,
}

impl StdDev {
    /// A rolling standard deviation over `period` values.
    ///
    /// # Errors
    /// When `period` is 0, or 1 for the sample deviation (which divides by `period − 1`).
    pub fn new(period: usize, variance: Variance) -> Result<Self, IndicatorError> {
        let divisor: f64 = match variance {
            Variance::Population => {
                check_period("population standard deviation", period, 1)?;
                period as f64
            }
            Variance::Sample => {
                check_period("sample standard deviation", period, 2)?;
                (period - 1) as f64
            }
        };
        Ok(Self { window: Window::new(period), inv_divisor: divisor.recip() })
    }

    /// Adds a value; the deviation of the last `period` values once there are that many.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push(x).then(|| (self.window.sum_sq_dev() * self.inv_divisor).sqrt())
    }

    /// Updates before the first value.
    #[must_use]
    pub fn warm_up(&self) -> usize {
        self.window.len()
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.window.reset();
    }
}

/// One reading of [`Bollinger`] bands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// The SMA.
    pub middle: f64,
    /// `middle + k · σ`.
    pub upper: f64,
    /// `middle − k · σ`.
    pub lower: f64,
    /// `σ`, the population standard deviation of the window.
    pub std_dev: f64,
}

/// Bollinger bands: the SMA of the last `period` values ± `k` population standard deviations.
#[derive(Debug, Clone)]
pub struct Bollinger {
    window: Window,
    k: f64,
}

impl Bollinger {
    /// Bands over `period` values, `k` deviations wide (the classic is 20 and 2.0).
    ///
    /// # Errors
    /// When `period` is 0 or `k` is negative or not finite.
    pub fn new(period: usize, k: f64) -> Result<Self, IndicatorError> {
        check_period("Bollinger", period, 1)?;
        if !k.is_finite() || k < 0.0 {
            return Err(IndicatorError::Multiplier { indicator: "Bollinger", k });
        }
        Ok(Self { window: Window::new(period), k })
    }

    /// Adds a value; the bands once `period` values have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<Bands> {
        if !self.window.push(x) {
            return None;
        }
        let middle = self.window.mean();
        let std_dev = (self.window.sum_sq_dev() * self.window.inv_len).sqrt();
        let width = self.k * std_dev;
        Some(Bands { middle, upper: middle + width, lower: middle - width, std_dev })
    }

    /// Updates before the first value.
    #[must_use]
    pub fn warm_up(&self) -> usize {
        self.window.len()
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.window.reset();
    }
}

/// Wilder's smoothing: the mean of the first `period` values, then
/// `(previous · (period − 1) + value) / period`.
#[derive(Debug, Clone)]
struct Wilder {
    period: f64,
    needed: usize,
    seen: usize,
    /// The sum while warming up, the average after.
    value: f64,
}

impl Wilder {
    fn new(period: usize) -> Self {
        Self { period: period as f64, needed: period, seen: 0, value: 0.0 }
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.value = 0.0;
    }

    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        if self.seen >= self.needed {
            self.value = (self.value * (self.period - 1.0) + x) / self.period;
            return Some(self.value);
        }
        self.seen += 1;
        self.value += x;
        if self.seen == self.needed {
            self.value /= self.period;
            Some(self.value)
        } else {
            None
        }
    }
}

#[inline]
fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    (high - low).max((high - prev_close).abs()).max((low - prev_close).abs())
}

/// Wilder's average true range. The true range of a bar is the largest of high − low,
/// |high − previous close| and |low − previous close|, so the first bar only provides a close: the
/// first value comes with bar `period + 1`.
#[derive(Debug, Clone)]
pub struct Atr {
    prev_close: Option<f64>,
    average: Wilder,
}

impl Atr {
    /// An ATR over `period` bars (Wilder used 14).
    ///
    /// # Errors
    /// When `period` is 0.
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("ATR", period, 1)?;
        Ok(Self { prev_close: None, average: Wilder::new(period) })
    }

    /// Adds a bar; the average true range once `period` true ranges have been seen.
    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let prev = self.prev_close.replace(close)?;
        self.average.update(true_range(high, low, prev))
    }

    /// Bars before the first value.
    #[must_use]
    pub const fn warm_up(&self) -> usize {
        self.average.needed + 1
    }

    /// Forgets every bar.
    pub fn reset(&mut self) {
        self.prev_close = None;
        self.average.reset();
    }
}

/// One reading of [`Adx`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdxValue {
    /// Average directional index, 0 to 100.
    pub adx: f64,
    /// Positive directional indicator, 0 to 100.
    pub plus_di: f64,
    /// Negative directional indicator, 0 to 100.
    pub minus_di: f64,
}

/// Wilder's average directional index.
///
/// For each bar after the first: `up = high − previous high`, `down = previous low − low`;
/// `+DM = up` when `up > down` and `up > 0`, else 0; `−DM = down` when `down > up` and `down > 0`,
/// else 0; TR is the true range. Wilder's running sums (the first is the sum of `period` values,
/// then `sum − sum / period + value`) of TR, +DM and −DM give `±DI = 100 · ±DM sum / TR sum`,
/// `DX = 100 · |+DI − −DI| / (+DI + −DI)` (0 when both are 0), and the ADX is the Wilder average
/// of DX. The first DX comes with bar `period + 1`, the first ADX with bar `2 · period`.
#[derive(Debug, Clone)]
pub struct Adx {
    period: usize,
    prev: Option<(f64, f64, f64)>,
    /// Directional moves seen, up to `period`.
    seen: usize,
    tr_sum: f64,
    plus_sum: f64,
    minus_sum: f64,
    dx_average: Wilder,
}

impl Adx {
    /// An ADX over `period` bars (Wilder used 14).
    ///
    /// # Errors
    /// When `period` is 0.
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("ADX", period, 1)?;
        Ok(Self {
            period,
            prev: None,
            seen: 0,
            tr_sum: 0.0,
            plus_sum: 0.0,
            minus_sum: 0.0,
            dx_average: Wilder::new(period),
        })
    }

    /// Adds a bar; the ADX with the directional indicators once the ADX is warmed up.
    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<AdxValue> {
        let (prev_high, prev_low, prev_close) = self.prev.replace((high, low, close))?;
        let up = high - prev_high;
        let down = prev_low - low;
        let plus_dm = if up > down && up > 0.0 { up } else { 0.0 };
        let minus_dm = if down > up && down > 0.0 { down } else { 0.0 };
        let tr = true_range(high, low, prev_close);
        if self.seen < self.period {
            self.seen += 1;
            self.tr_sum += tr;
            self.plus_sum += plus_dm;
            self.minus_sum += minus_dm;
            if self.seen < self.period {
                return None;
            }
        } else {
            let n = self.period as f64;
            self.tr_sum += tr - self.tr_sum / n;
            self.plus_sum += plus_dm - self.plus_sum / n;
            self.minus_sum += minus_dm - self.minus_sum / n;
        }
        // A directional move is never larger than the true range, but the running sums round
        // separately: the ratios are clamped so ±DI stays within 0 to 100.
        let (plus_di, minus_di) = if self.tr_sum > 0.0 {
            (100.0 * (self.plus_sum / self.tr_sum).min(1.0), 100.0 * (self.minus_sum / self.tr_sum).min(1.0))
        } else {
            (0.0, 0.0)
        };
        let di_sum = plus_di + minus_di;
        // Dividing before scaling keeps DX at most 100: |a − b| ≤ a + b survives rounding.
        let dx = if di_sum > 0.0 { 100.0 * ((plus_di - minus_di).abs() / di_sum) } else { 0.0 };
        let adx = self.dx_average.update(dx)?;
        Some(AdxValue { adx, plus_di, minus_di })
    }

    /// Bars before the first value.
    #[must_use]
    pub const fn warm_up(&self) -> usize {
        2 * self.period
    }

    /// Forgets every bar.
    pub fn reset(&mut self) {
        self.prev = None;
        self.seen = 0;
        self.tr_sum = 0.0;
        self.plus_sum = 0.0;
        self.minus_sum = 0.0;
        self.dx_average.reset();
    }
}

/// Wilder's relative strength index: the Wilder averages of the gains and of the losses between
/// consecutive values give `RSI = 100 − 100 / (1 + gain / loss)`; 100 when there is no loss, 50
/// when there is neither gain nor loss. The first value comes with update `period + 1`.
#[derive(Debug, Clone)]
pub struct Rsi {
    prev: Option<f64>,
    gain: Wilder,
    loss: Wilder,
}

impl Rsi {
    /// An RSI over `period` changes (Wilder used 14).
    ///
    /// # Errors
    /// When `period` is 0.
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        check_period("RSI", period, 1)?;
        Ok(Self { prev: None, gain: Wilder::new(period), loss: Wilder::new(period) })
    }

    /// Adds a value; the RSI once `period` changes have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let change = x - prev;
        let gain = self.gain.update(change.max(0.0));
        let loss = self.loss.update((-change).max(0.0));
        let (gain, loss) = (gain?, loss?);
        Some(if loss > 0.0 {
            100.0 - 100.0 / (1.0 + gain / loss)
        } else if gain > 0.0 {
            100.0
        } else {
            50.0
        })
    }

    /// Updates before the first value.
    #[must_use]
    pub const fn warm_up(&self) -> usize {
        self.gain.needed + 1
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.prev = None;
        self.gain.reset();
        self.loss.reset();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap constructors with valid periods")]

    use super::*;
    use proptest::prelude::*;

    /// splitmix64: a seeded generator small enough to keep the tests free of extra crates.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    const N: usize = 3000;

    /// A random walk around 2000 (gold-like: large prices, small moves).
    fn prices(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = Rng(seed);
        let mut price = 2000.0;
        (0..n)
            .map(|_| {
                price += rng.unit() * 2.0 - 1.0;
                price
            })
            .collect()
    }

    #[derive(Clone, Copy)]
    struct Hlc {
        high: f64,
        low: f64,
        close: f64,
    }

    fn bars(seed: u64, n: usize) -> Vec<Hlc> {
        let mut rng = Rng(seed);
        let mut close = 2000.0;
        (0..n)
            .map(|_| {
                let open = close;
                close = open + rng.unit() * 4.0 - 2.0;
                let high = open.max(close) + rng.unit();
                let low = open.min(close) - rng.unit();
                Hlc { high, low, close }
            })
            .collect()
    }

    fn assert_close(actual: f64, expected: f64, what: &str, at: usize) {
        let scale = actual.abs().max(expected.abs());
        assert!((actual - expected).abs() <= 1e-9 * scale, "{what} at {at}: got {actual}, reference {expected}");
    }

    fn naive_mean(w: &[f64]) -> f64 {
        w.iter().sum::<f64>() / w.len() as f64
    }

    fn naive_sum_sq_dev(w: &[f64]) -> f64 {
        let m = naive_mean(w);
        w.iter().map(|x| (x - m) * (x - m)).sum()
    }

    /// An exponentially weighted average seeded with the mean of the first `period` values, as an
    /// explicit weighted sum rather than a recursion: for t ≥ period − 1,
    /// `avg_t = (1 − α)^(t − p + 1) · seed + Σ_{j = p}^{t} α (1 − α)^(t − j) · x_j`.
    fn seeded_average(values: &[f64], period: usize, alpha: f64) -> Vec<Option<f64>> {
        let seed = naive_mean(&values[..period]);
        (0..values.len())
            .map(|t| {
                (t + 1 >= period).then(|| {
                    // Newest first: the weight of x_j is α (1 − α)^(t − j), the seed's what is left.
                    let mut weight = alpha;
                    let mut sum = 0.0;
                    for x in values[period..=t].iter().rev() {
                        sum += weight * x;
                        weight *= 1.0 - alpha;
                    }
                    sum + weight / alpha * seed
                })
            })
            .collect()
    }

    fn reference_true_ranges(bars: &[Hlc]) -> Vec<f64> {
        bars.windows(2)
            .map(|w| {
                let (prev, bar) = (w[0], w[1]);
                [bar.high - bar.low, (bar.high - prev.close).abs(), (bar.low - prev.close).abs()]
                    .into_iter()
                    .fold(f64::MIN, f64::max)
            })
            .collect()
    }

    #[test]
    fn sma_matches_the_window_mean() {
        for period in [1, 2, 20, 50] {
            let xs = prices(1, N);
            let mut sma = Sma::new(period).unwrap();
            for (i, &x) in xs.iter().enumerate() {
                let got = sma.update(x);
                if i + 1 < period {
                    assert_eq!(got, None);
                } else {
                    assert_close(got.unwrap(), naive_mean(&xs[i + 1 - period..=i]), "SMA", i);
                }
            }
        }
    }

    #[test]
    fn std_dev_matches_two_pass_population_and_sample() {
        for period in [2, 3, 20, 100] {
            let xs = prices(2, N);
            let mut population = StdDev::new(period, Variance::Population).unwrap();
            let mut sample = StdDev::new(period, Variance::Sample).unwrap();
            for (i, &x) in xs.iter().enumerate() {
                let (p, s) = (population.update(x), sample.update(x));
                if i + 1 < period {
                    assert_eq!((p, s), (None, None));
                    continue;
                }
                let m2 = naive_sum_sq_dev(&xs[i + 1 - period..=i]);
                assert_close(p.unwrap(), (m2 / period as f64).sqrt(), "population σ", i);
                assert_close(s.unwrap(), (m2 / (period - 1) as f64).sqrt(), "sample σ", i);
            }
        }
    }

    #[test]
    fn bollinger_matches_mean_plus_minus_k_population_sigma() {
        let (period, k) = (20, 2.0);
        let xs = prices(3, N);
        let mut bands = Bollinger::new(period, k).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let got = bands.update(x);
            if i + 1 < period {
                assert_eq!(got, None);
                continue;
            }
            let got = got.unwrap();
            let w = &xs[i + 1 - period..=i];
            let sigma = (naive_sum_sq_dev(w) / period as f64).sqrt();
            let mean = naive_mean(w);
            assert_close(got.middle, mean, "middle", i);
            assert_close(got.std_dev, sigma, "σ", i);
            assert_close(got.upper, mean + k * sigma, "upper", i);
            assert_close(got.lower, mean - k * sigma, "lower", i);
        }
    }

    #[test]
    fn ema_matches_the_explicit_weighted_sum() {
        for period in [1, 2, 10, 30] {
            let xs = prices(4, N);
            let reference = seeded_average(&xs, period, 2.0 / (period as f64 + 1.0));
            let mut ema = Ema::new(period).unwrap();
            for (i, &x) in xs.iter().enumerate() {
                match (ema.update(x), reference[i]) {
                    (Some(got), Some(want)) => assert_close(got, want, "EMA", i),
                    (got, want) => assert_eq!(got, want, "EMA warm-up at {i}"),
                }
            }
        }
    }

    #[test]
    fn atr_matches_wilder_average_of_true_ranges() {
        for period in [1, 14, 30] {
            let bars = bars(5, N);
            let reference = seeded_average(&reference_true_ranges(&bars), period, 1.0 / period as f64);
            let mut atr = Atr::new(period).unwrap();
            for (i, bar) in bars.iter().enumerate() {
                let got = atr.update(bar.high, bar.low, bar.close);
                let want = i.checked_sub(1).and_then(|j| reference[j]);
                match (got, want) {
                    (Some(got), Some(want)) => assert_close(got, want, "ATR", i),
                    (got, want) => assert_eq!(got, want, "ATR warm-up at {i}"),
                }
            }
        }
    }

    #[test]
    fn adx_matches_wilder_averages_of_directional_movement() {
        for period in [1, 5, 14] {
            let bars = bars(6, N);
            let alpha = 1.0 / period as f64;
            let (plus_dm, minus_dm): (Vec<f64>, Vec<f64>) = bars
                .windows(2)
                .map(|w| {
                    let up = w[1].high - w[0].high;
                    let down = w[0].low - w[1].low;
                    (if up > down && up > 0.0 { up } else { 0.0 }, if down > up && down > 0.0 { down } else { 0.0 })
                })
                .unzip();
            // Wilder's running sums are `period` times his averages; the ratios are the same.
            let tr = seeded_average(&reference_true_ranges(&bars), period, alpha);
            let plus = seeded_average(&plus_dm, period, alpha);
            let minus = seeded_average(&minus_dm, period, alpha);
            let mut di = Vec::new();
            let mut dx = Vec::new();
            for j in period - 1..tr.len() {
                let (tr, plus, minus) = (tr[j].unwrap(), plus[j].unwrap(), minus[j].unwrap());
                let (p, m) = (100.0 * plus / tr, 100.0 * minus / tr);
                di.push((p, m));
                dx.push(if p + m > 0.0 { 100.0 * (p - m).abs() / (p + m) } else { 0.0 });
            }
            let adx = seeded_average(&dx, period, alpha);
            let mut indicator = Adx::new(period).unwrap();
            for (i, bar) in bars.iter().enumerate() {
                let got = indicator.update(bar.high, bar.low, bar.close);
                // Bar i gives the DX with index i − period.
                let want = (i >= period).then(|| i - period).and_then(|d| adx[d].map(|a| (a, di[d])));
                match (got, want) {
                    (Some(got), Some((adx, (plus, minus)))) => {
                        assert_close(got.adx, adx, "ADX", i);
                        assert_close(got.plus_di, plus, "+DI", i);
                        assert_close(got.minus_di, minus, "−DI", i);
                    }
                    (got, want) => assert_eq!(got.is_some(), want.is_some(), "ADX warm-up at {i}"),
                }
            }
        }
    }

    #[test]
    fn rsi_matches_wilder_averages_of_gains_and_losses() {
        for period in [1, 14, 30] {
            let xs = prices(7, N);
            let changes: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
            let gains: Vec<f64> = changes.iter().map(|c| c.max(0.0)).collect();
            let losses: Vec<f64> = changes.iter().map(|c| (-c).max(0.0)).collect();
            let alpha = 1.0 / period as f64;
            let (gain, loss) = (seeded_average(&gains, period, alpha), seeded_average(&losses, period, alpha));
            let mut rsi = Rsi::new(period).unwrap();
            for (i, &x) in xs.iter().enumerate() {
                let got = rsi.update(x);
                let want = i.checked_sub(1).and_then(|j| Some(100.0 * gain[j]? / (gain[j]? + loss[j]?)));
                match (got, want) {
                    (Some(got), Some(want)) => assert_close(got, want, "RSI", i),
                    (got, want) => assert_eq!(got, want, "RSI warm-up at {i}"),
                }
            }
        }
    }

    #[test]
    fn rsi_of_a_flat_or_rising_series() {
        let mut flat = Rsi::new(3).unwrap();
        let mut rising = Rsi::new(3).unwrap();
        let got: Vec<_> = (0..5).map(|i| (flat.update(7.0), rising.update(f64::from(i)))).collect();
        assert_eq!(got[3], (Some(50.0), Some(100.0)));
    }

    /// Number of updates before the first value, counted by feeding the indicator.
    fn first_value_after(mut update: impl FnMut(usize) -> bool) -> usize {
        (1..=1000).find(|&i| update(i)).unwrap()
    }

    #[test]
    fn warm_up_lengths_are_as_documented_and_reset_starts_over() {
        let bar = |i: usize| {
            let c = 100.0 + (i % 7) as f64;
            (c + 1.0, c - 1.0 - (i % 3) as f64, c)
        };
        for period in [1, 2, 14, 20] {
            let mut sma = Sma::new(period).unwrap();
            let mut ema = Ema::new(period).unwrap();
            let mut sd = StdDev::new(period.max(2), Variance::Sample).unwrap();
            let mut bb = Bollinger::new(period, 2.0).unwrap();
            let mut atr = Atr::new(period).unwrap();
            let mut adx = Adx::new(period).unwrap();
            let mut rsi = Rsi::new(period).unwrap();
            for round in 0..2 {
                let p = period;
                assert_eq!(first_value_after(|i| sma.update(i as f64).is_some()), p, "SMA round {round}");
                assert_eq!(first_value_after(|i| ema.update(i as f64).is_some()), p, "EMA round {round}");
                assert_eq!(first_value_after(|i| sd.update(i as f64).is_some()), p.max(2), "σ round {round}");
                assert_eq!(first_value_after(|i| bb.update(i as f64).is_some()), p, "Bollinger round {round}");
                let f = |(h, l, c): (f64, f64, f64), a: &mut Atr| a.update(h, l, c).is_some();
                assert_eq!(first_value_after(|i| f(bar(i), &mut atr)), p + 1, "ATR round {round}");
                let g = |(h, l, c): (f64, f64, f64), a: &mut Adx| a.update(h, l, c).is_some();
                assert_eq!(first_value_after(|i| g(bar(i), &mut adx)), 2 * p, "ADX round {round}");
                assert_eq!(first_value_after(|i| rsi.update((i % 5) as f64).is_some()), p + 1, "RSI round {round}");
                assert_eq!(
                    [
                        sma.warm_up(),
                        ema.warm_up(),
                        sd.warm_up(),
                        bb.warm_up(),
                        atr.warm_up(),
                        adx.warm_up(),
                        rsi.warm_up()
                    ],
                    [p, p, p.max(2), p, p + 1, 2 * p, p + 1]
                );
                sma.reset();
                ema.reset();
                sd.reset();
                bb.reset();
                atr.reset();
                adx.reset();
                rsi.reset();
            }
        }
    }

    #[test]
    fn constructors_refuse_bad_arguments() {
        assert_eq!(Sma::new(0).unwrap_err().to_string(), "SMA: period 0 is too small: expected at least 1");
        assert!(Ema::new(0).is_err() && Atr::new(0).is_err() && Adx::new(0).is_err() && Rsi::new(0).is_err());
        assert!(StdDev::new(1, Variance::Population).is_ok());
        assert_eq!(
            StdDev::new(1, Variance::Sample).unwrap_err(),
            IndicatorError::Period { indicator: "sample standard deviation", period: 1, minimum: 2 }
        );
        for k in [-0.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(Bollinger::new(20, k), Err(IndicatorError::Multiplier { .. })), "k = {k}");
        }
    }

    /// The shifted sums stay exact over a long run of large prices with a tiny spread, where a
    /// plain running sum of squares loses every digit of the variance.
    #[test]
    fn long_runs_of_large_prices_keep_the_variance() {
        let period = 20;
        let mut rng = Rng(8);
        let xs: Vec<f64> = (0..200_000).map(|_| 1e6 + rng.unit() * 1e-3).collect();
        let mut sd = StdDev::new(period, Variance::Population).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let Some(got) = sd.update(x) else { continue };
            if i.is_multiple_of(9973) || i + 1 == xs.len() {
                let want = (naive_sum_sq_dev(&xs[i + 1 - period..=i]) / period as f64).sqrt();
                assert!((got - want).abs() <= 1e-6 * want, "at {i}: {got} vs {want}");
            }
        }
    }

    /// A strong trend moves the window away from the shift between two recomputations; the
    /// deviation stays within the reference tolerance at every update.
    #[test]
    fn trending_prices_keep_the_variance_between_recomputations() {
        let period = 20;
        let mut rng = Rng(9);
        let xs: Vec<f64> = (0..20_000).map(|i| 1e5 + 0.25 * i as f64 + rng.unit() * 1e-2).collect();
        let mut sd = StdDev::new(period, Variance::Sample).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let Some(got) = sd.update(x) else { continue };
            let want = (naive_sum_sq_dev(&xs[i + 1 - period..=i]) / (period - 1) as f64).sqrt();
            assert_close(got, want, "σ", i);
        }
    }

    proptest! {
        #[test]
        fn windowed_indicators_agree_with_two_pass(
            xs in prop::collection::vec(-1e6f64..1e6, 1..300),
            period in 1usize..40,
            k in 0.0f64..4.0,
        ) {
            let mut sma = Sma::new(period).unwrap();
            let mut sd = StdDev::new(period, Variance::Population).unwrap();
            let mut bb = Bollinger::new(period, k).unwrap();
            for (i, &x) in xs.iter().enumerate() {
                let (m, s, b) = (sma.update(x), sd.update(x), bb.update(x));
                prop_assert_eq!(m.is_some(), i + 1 >= period);
                let (Some(m), Some(s), Some(b)) = (m, s, b) else { continue };
                let w = &xs[i + 1 - period..=i];
                // Rounding is relative to the magnitude of the values, not of the answer.
                let scale = w.iter().fold(1.0f64, |a, x| a.max(x.abs()));
                let sigma = (naive_sum_sq_dev(w) / period as f64).sqrt();
                prop_assert!((m - naive_mean(w)).abs() <= 1e-9 * scale);
                prop_assert!((s - sigma).abs() <= 1e-6 * scale.sqrt().max(sigma));
                prop_assert_eq!(b.middle, m);
                prop_assert_eq!(b.std_dev, s);
                prop_assert!(b.lower <= b.middle && b.middle <= b.upper);
            }
        }

        #[test]
        fn oscillators_stay_in_range_and_reset_replays(
            moves in prop::collection::vec((-5.0f64..5.0, 0.0f64..3.0, 0.0f64..3.0), 1..200),
            period in 1usize..20,
        ) {
            let mut close = 1000.0;
            let bars: Vec<(f64, f64, f64)> = moves
                .iter()
                .map(|&(step, up, down)| {
                    let open = close;
                    close += step;
                    (open.max(close) + up, open.min(close) - down, close)
                })
                .collect();
            let mut atr = Atr::new(period).unwrap();
            let mut adx = Adx::new(period).unwrap();
            let mut rsi = Rsi::new(period).unwrap();
            let run = |atr: &mut Atr, adx: &mut Adx, rsi: &mut Rsi| -> Vec<_> {
                bars.iter().map(|&(h, l, c)| (atr.update(h, l, c), adx.update(h, l, c), rsi.update(c))).collect()
            };
            let first = run(&mut atr, &mut adx, &mut rsi);
            for (a, d, r) in &first {
                prop_assert!(a.is_none_or(|a| a >= 0.0));
                prop_assert!(r.is_none_or(|r| (0.0..=100.0).contains(&r)));
                prop_assert!(d.is_none_or(|d| [d.adx, d.plus_di, d.minus_di].iter().all(|v| (0.0..=100.0).contains(v))));
            }
            atr.reset();
            adx.reset();
            rsi.reset();
            prop_assert_eq!(run(&mut atr, &mut adx, &mut rsi), first);
        }
    }
}
