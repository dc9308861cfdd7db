//! Parameter sweeps: `--sweep NAME=SPEC` parsing, the combinations of several sweeps, and the
//! table of their results.
//!
//! A spec is a range `START..END[:STEP]` (inclusive of `END` when a step lands on it; the step is
//! 1 when left out) or a list `A,B,C`. Range bounds are decimals, so `1.5..2.5:0.25` gives exactly
//! 1.5, 1.75, 2, 2.25 and 2.5 with no float drift. Values are JSON: integers when every number of
//! the spec is whole, floats otherwise, `true`/`false` as booleans, any other list item as a
//! string (`side=long,short`); the plugin's settings schema validates them later.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Number, Value};
use thiserror::Error;

use crate::metrics::Metrics;

/// The most values one sweep may produce.
pub const MAX_VALUES: usize = 10_000;

/// The metric names [`format_table`] sorts by.
pub const METRIC_NAMES: [&str; 6] = ["net_pnl", "win_rate", "profit_factor", "sharpe", "max_drawdown", "trades"];

/// What is wrong with a sweep, a set of sweeps or a sort key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SweepError {
    /// A `--sweep` spec that cannot be read.
    #[error("bad sweep `{spec}`: {reason}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What is wrong, and what was expected.
        reason: String,
    },
    /// The same setting is swept more than once.
    #[error("setting `{0}` is swept twice: give all its values in one --sweep")]
    Repeated(String),
    /// A sort key that is not a metric.
    #[error("unknown metric `{0}`: expected one of {names}", names = METRIC_NAMES.join(", "))]
    UnknownMetric(String),
}

/// One setting and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// The setting's name.
    pub name: String,
    /// Its values, in the order of the spec.
    pub values: Vec<Value>,
}

/// Reads `NAME=START..END[:STEP]` or `NAME=A,B,C`.
///
/// # Errors
/// When the spec has no `=`, the name is empty or has characters other than letters, digits,
/// `_`, `-` and `.`, a range bound or step is not a number, the step is not positive, the start is
/// after the end, a range gives more than [`MAX_VALUES`] values, or a list has an empty or a
/// repeated item.
pub fn parse_sweep(spec: &str) -> Result<Sweep, SweepError> {
    let bad = |reason: String| SweepError::Spec { spec: spec.to_owned(), reason };
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=VALUES, as in period=10..40:5 or k=1.5,2,2.5".to_owned()))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the setting name before `=` is empty".to_owned()));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(bad(format!("setting name `{name}` may only have letters, digits, `_`, `-` and `.`")));
    }
    let values = values.trim();
    if values.is_empty() {
        return Err(bad("no values after `=`".to_owned()));
    }
    let values = if values.contains("..") { range(values) } else { list(values) }.map_err(bad)?;
    Ok(Sweep { name: name.to_owned(), values })
}

fn number(text: &str, what: &str) -> Result<Decimal, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the range needs {what}, as in 10..40:5"));
    }
    Decimal::from_str(text).map_err(|_| format!("{what} `{text}` is not a number"))
}

/// A JSON number: an integer when the spec's numbers are all `whole`, else a float.
fn json_number(d: Decimal, whole: bool) -> Result<Value, String> {
    let n = if whole { d.to_i64().map(Number::from) } else { d.to_f64().and_then(Number::from_f64) };
    n.map(Value::Number).ok_or_else(|| format!("`{d}` is out of range"))
}

fn range(text: &str) -> Result<Vec<Value>, String> {
    let (bounds, step) = text.split_once(':').map_or((text, None), |(bounds, step)| (bounds, Some(step)));
    let (start, end) =
        bounds.split_once("..").ok_or_else(|| "the step goes after the range, as in 10..40:5".to_owned())?;
    let step = step.map_or(Ok(Decimal::ONE), |step| number(step, "a step after `:`"))?;
    let (start, end) = (number(start, "a start before `..`")?, number(end, "an end after `..`")?);
    if step <= Decimal::ZERO {
        return Err(format!("the step must be greater than 0, not {step}"));
    }
    if start > end {
        return Err(format!("the start {start} is after the end {end}"));
    }
    let steps = (end - start).checked_div(step).map(|q| q.floor()).and_then(|q| q.to_usize());
    let count = steps
        .and_then(|s| s.checked_add(1))
        .filter(|&c| c <= MAX_VALUES)
        .ok_or_else(|| format!("the range gives more than {MAX_VALUES} values: use a larger step"))?;
    let whole = [start, end, step].iter().all(|d| d.fract().is_zero());
    (0..count).map(|i| json_number(start + step * Decimal::from(i), whole)).collect()
}

fn list(text: &str) -> Result<Vec<Value>, String> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err("the list has an empty item: separate values with single commas".to_owned());
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(format!("`{item}` is listed twice"));
        }
    }
    let numbers: Vec<Option<Decimal>> = items.iter().map(|item| Decimal::from_str(item).ok()).collect();
    let whole = numbers.iter().flatten().all(|d| d.fract().is_zero());
    items
        .iter()
        .zip(numbers)
        .map(|(item, number)| match (number, *item) {
            (Some(d), _) => json_number(d, whole),
            (None, "true") => Ok(Value::Bool(true)),
            (None, "false") => Ok(Value::Bool(false)),
            (None, text) => Ok(Value::String(text.to_owned())),
        })
        .collect()
}

/// Every combination of the sweeps' values, the first sweep varying slowest (as nested loops in
/// the order given). No sweep gives one empty combination: a single run with the defaults.
///
/// # Errors
/// When two sweeps name the same setting.
pub fn combinations(sweeps: &[Sweep]) -> Result<Vec<BTreeMap<String, Value>>, SweepError> {
    for (i, sweep) in sweeps.iter().enumerate() {
        if sweeps[..i].iter().any(|s| s.name == sweep.name) {
            return Err(SweepError::Repeated(sweep.name.clone()));
        }
    }
    let mut out = vec![BTreeMap::new()];
    for sweep in sweeps {
        out = out
            .iter()
            .flat_map(|combination| {
                sweep.values.iter().map(move |value| {
                    let mut next = combination.clone();
                    next.insert(sweep.name.clone(), value.clone());
                    next
                })
            })
            .collect();
    }
    Ok(out)
}

/// A metric to sort by.
#[derive(Debug, Clone, Copy)]
enum SortKey {
    NetPnl,
    WinRate,
    ProfitFactor,
    Sharpe,
    MaxDrawdown,
    Trades,
}

impl SortKey {
    fn parse(name: &str) -> Result<Self, SweepError> {
        Ok(match name {
            "net_pnl" => Self::NetPnl,
            "win_rate" => Self::WinRate,
            "profit_factor" => Self::ProfitFactor,
            "sharpe" => Self::Sharpe,
            "max_drawdown" => Self::MaxDrawdown,
            "trades" => Self::Trades,
            other => return Err(SweepError::UnknownMetric(other.to_owned())),
        })
    }

    /// How two runs compare, better first: the most net P&L, win rate, profit factor, Sharpe and
    /// trades, the least drawdown; a missing value (`None`) comes last.
    fn compare(self, a: &Metrics, b: &Metrics) -> Ordering {
        fn higher_first(a: Option<f64>, b: Option<f64>) -> Ordering {
            match (a, b) {
                (Some(a), Some(b)) => b.total_cmp(&a),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        match self {
            Self::NetPnl => b.net_pnl.cmp(&a.net_pnl),
            Self::WinRate => higher_first(a.win_rate, b.win_rate),
            Self::ProfitFactor => higher_first(a.profit_factor, b.profit_factor),
            Self::Sharpe => higher_first(a.sharpe, b.sharpe),
            Self::MaxDrawdown => a.max_drawdown.cmp(&b.max_drawdown),
            Self::Trades => b.trades.cmp(&a.trades),
        }
    }
}

/// Money with two decimals, midpoints away from zero (12.125 → 12.13).
fn cents(value: Decimal) -> String {
    format!("{:.2}", value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// A table of sweep results, one row per run, best first by `sort_by` (one of
/// [`METRIC_NAMES`]; runs that tie keep their order). Columns: every swept setting, then trades,
/// net P&L, win rate, profit factor, Sharpe, max drawdown in money and in percent. Setting columns
/// are left-aligned, metric columns right-aligned; `-` marks a missing value.
///
/// # Errors
/// When `sort_by` is not a metric name.
pub fn format_table(rows: &[(BTreeMap<String, Value>, Metrics)], sort_by: &str) -> Result<String, SweepError> {
    let key = SortKey::parse(sort_by)?;
    let mut order: Vec<&(BTreeMap<String, Value>, Metrics)> = rows.iter().collect();
    order.sort_by(|a, b| key.compare(&a.1, &b.1));

    let mut settings: Vec<&str> = rows.iter().flat_map(|(s, _)| s.keys().map(String::as_str)).collect();
    settings.sort_unstable();
    settings.dedup();
    let metric_headers = ["trades", "net_pnl", "win_rate", "profit_factor", "sharpe", "max_drawdown", "max_drawdown_%"];
    let header: Vec<String> =
        settings.iter().map(|s| (*s).to_owned()).chain(metric_headers.map(str::to_owned)).collect();
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "-".to_owned(), f);
    let cells: Vec<Vec<String>> = order
        .iter()
        .map(|(values, m)| {
            let setting_cells = settings.iter().map(|name| match values.get(*name) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "-".to_owned(),
            });
            setting_cells
                .chain([
                    m.trades.to_string(),
                    cents(m.net_pnl.value()),
                    opt(m.win_rate, |r| format!("{:.2}%", r * 100.0)),
                    opt(m.profit_factor, |p| format!("{p:.2}")),
                    opt(m.sharpe, |s| format!("{s:.2}")),
                    cents(m.max_drawdown.value()),
                    format!("{:.2}%", m.max_drawdown_pct),
                ])
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| cells.iter().map(|row| &row[c]).chain([&header[c]]).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let sep = if c == 0 { "" } else { "  " };
            let width = widths[c];
            let _ = if c < settings.len() {
                write!(line, "{sep}{cell:<width$}")
            } else {
                write!(line, "{sep}{cell:>width$}")
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap what they just built")]

    use serde_json::json;
    use zepix_model::Money;

    use super::*;

    fn values(spec: &str) -> Vec<Value> {
        parse_sweep(spec).unwrap().values
    }

    #[test]
    fn integer_ranges_include_the_end_when_a_step_lands_on_it() {
        let sweep = parse_sweep("period=10..40:5").unwrap();
        assert_eq!(sweep.name, "period");
        assert_eq!(sweep.values, [10, 15, 20, 25, 30, 35, 40].map(|v| json!(v)));
        assert_eq!(values("period=10..21:5"), [10, 15, 20].map(|v| json!(v)));
        assert_eq!(values("n=3..5"), [3, 4, 5].map(|v| json!(v)), "the step defaults to 1");
        assert_eq!(values("n=7..7:3"), [json!(7)]);
        assert_eq!(values("n=-2..2:2"), [-2, 0, 2].map(|v| json!(v)));
    }

    #[test]
    fn decimal_ranges_do_not_drift() {
        assert_eq!(values("k=1.5..2.5:0.25"), [1.5, 1.75, 2.0, 2.25, 2.5].map(|v| json!(v)));
        // 0.1 added in floats ten times is 0.9999999999999999; in decimals it is 1.
        let tenths = values("x=0..1:0.1");
        assert_eq!(tenths.len(), 11);
        assert_eq!(tenths[3], json!(0.3));
        assert_eq!(tenths[10], json!(1.0));
    }

    #[test]
    fn lists_keep_their_order_and_type() {
        assert_eq!(values("k=1.5,2,2.5"), [1.5, 2.0, 2.5].map(|v| json!(v)), "one float makes every number a float");
        assert_eq!(values("period=20, 10,30"), [20, 10, 30].map(|v| json!(v)));
        assert_eq!(values("side=long,short,both"), ["long", "short", "both"].map(|v| json!(v)));
        assert_eq!(values("trend=true,false"), [json!(true), json!(false)]);
        assert_eq!(values(" k = 2 "), [json!(2)]);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let cases = [
            ("period", "expected NAME=VALUES, as in period=10..40:5 or k=1.5,2,2.5"),
            ("=1,2", "the setting name before `=` is empty"),
            ("per iod=1", "setting name `per iod` may only have letters, digits, `_`, `-` and `.`"),
            ("period=", "no values after `=`"),
            ("period=  ", "no values after `=`"),
            ("period=10..", "the range needs an end after `..`, as in 10..40:5"),
            ("period=..40", "the range needs a start before `..`, as in 10..40:5"),
            ("period=a..40:5", "a start before `..` `a` is not a number"),
            ("period=10..4O", "an end after `..` `4O` is not a number"),
            ("period=10..40:", "the range needs a step after `:`, as in 10..40:5"),
            ("period=10..40:x", "a step after `:` `x` is not a number"),
            ("period=10..40:5:2", "a step after `:` `5:2` is not a number"),
            ("period=10:5..40", "the step goes after the range, as in 10..40:5"),
            ("period=10..40:0", "the step must be greater than 0, not 0"),
            ("period=10..40:-5", "the step must be greater than 0, not -5"),
            ("period=40..10:5", "the start 40 is after the end 10"),
            ("period=0..1000000", "the range gives more than 10000 values: use a larger step"),
            ("k=1,,2", "the list has an empty item: separate values with single commas"),
            ("k=1,2,", "the list has an empty item: separate values with single commas"),
            ("k=1,2,1", "`1` is listed twice"),
        ];
        for (spec, reason) in cases {
            let err = parse_sweep(spec).unwrap_err();
            assert_eq!(err, SweepError::Spec { spec: spec.to_owned(), reason: reason.to_owned() }, "{spec}");
        }
        assert_eq!(
            parse_sweep("period=40..10").unwrap_err().to_string(),
            "bad sweep `period=40..10`: the start 40 is after the end 10"
        );
    }

    #[test]
    fn combinations_vary_the_last_sweep_fastest() {
        let sweeps = [
            parse_sweep("period=10..20:10").unwrap(),
            parse_sweep("k=1.5,2.5").unwrap(),
            parse_sweep("side=long").unwrap(),
        ];
        let got = combinations(&sweeps).unwrap();
        let want: Vec<BTreeMap<String, Value>> = [(10, 1.5), (10, 2.5), (20, 1.5), (20, 2.5)]
            .iter()
            .map(|&(p, k)| {
                BTreeMap::from([
                    ("period".to_owned(), json!(p)),
                    ("k".to_owned(), json!(k)),
                    ("side".to_owned(), json!("long")),
                ])
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(combinations(&[]).unwrap(), vec![BTreeMap::new()]);
        let twice = [parse_sweep("k=1,2").unwrap(), parse_sweep("k=3").unwrap()];
        assert_eq!(
            combinations(&twice).unwrap_err().to_string(),
            "setting `k` is swept twice: give all its values in one --sweep"
        );
    }

    fn metrics(
        net: &str,
        trades: u64,
        win_rate: Option<f64>,
        pf: Option<f64>,
        sharpe: Option<f64>,
        dd: &str,
    ) -> Metrics {
        let money = |t: &str| t.parse::<Money>().unwrap();
        Metrics {
            trades,
            wins: 0,
            losses: 0,
            net_pnl: money(net),
            gross_profit: Money::ZERO,
            gross_loss: Money::ZERO,
            win_rate,
            profit_factor: pf,
            average_win: None,
            average_loss: None,
            largest_win: None,
            largest_loss: None,
            final_equity: Money::ZERO,
            return_pct: None,
            max_drawdown: money(dd),
            max_drawdown_pct: 1.5,
            sharpe,
            exposure: None,
            average_trade_secs: None,
        }
    }

    fn rows() -> Vec<(BTreeMap<String, Value>, Metrics)> {
        let row = |period: i64, side: &str, m: Metrics| {
            (BTreeMap::from([("period".to_owned(), json!(period)), ("side".to_owned(), json!(side))]), m)
        };
        vec![
            row(10, "long", metrics("12.5", 40, Some(0.5), Some(1.2), Some(0.8), "30")),
            row(20, "short", metrics("-7.25", 9, Some(0.25), None, None, "12.125")),
            row(100, "both", metrics("1234.5", 3, Some(2.0 / 3.0), Some(4.0), Some(-0.5), "100")),
        ]
    }

    /// The first cell (the period) of each data row.
    fn periods(table: &str) -> Vec<String> {
        table.lines().skip(1).map(|l| l.split_whitespace().next().unwrap().to_owned()).collect()
    }

    #[test]
    fn table_sorts_by_the_chosen_metric() {
        let rows = rows();
        let by = |metric| periods(&format_table(&rows, metric).unwrap());
        assert_eq!(by("net_pnl"), ["100", "10", "20"]);
        assert_eq!(by("win_rate"), ["100", "10", "20"]);
        assert_eq!(by("profit_factor"), ["100", "10", "20"], "no profit factor comes last");
        assert_eq!(by("sharpe"), ["10", "100", "20"], "no Sharpe comes last");
        assert_eq!(by("max_drawdown"), ["20", "10", "100"], "the smallest drawdown first");
        assert_eq!(by("trades"), ["10", "20", "100"]);
    }

    #[test]
    fn table_columns_are_aligned() {
        let table = format_table(&rows(), "net_pnl").unwrap();
        let want = "\
period  side   trades  net_pnl  win_rate  profit_factor  sharpe  max_drawdown  max_drawdown_%
100     both        3  1234.50    66.67%           4.00   -0.50        100.00           1.50%
10      long       40    12.50    50.00%           1.20    0.80         30.00           1.50%
20      short       9    -7.25    25.00%              -       -         12.13           1.50%
";
        assert_eq!(table, want);
    }

    #[test]
    fn unknown_metric_lists_the_valid_ones() {
        let err = format_table(&rows(), "pnl").unwrap_err();
        assert_eq!(err, SweepError::UnknownMetric("pnl".to_owned()));
        let message = err.to_string();
        assert!(message.starts_with("unknown metric `pnl`: expected one of "));
        for name in METRIC_NAMES {
            assert!(message.contains(name), "{name} in {message}");
            assert!(format_table(&rows(), name).is_ok());
        }
        assert!(format_table(&[], "pnl").is_err(), "checked even without rows");
    }
}
