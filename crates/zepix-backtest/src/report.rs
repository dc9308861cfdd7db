//! What a backtest run produced, and the report written from it: `report.json` (the run, its
//! metrics and every trade) and `index.html` (see [`crate::html`]).
//!
//! The files are deterministic: the same input gives byte-identical files. Nothing in them
//! depends on when or where they were written: no generation time, no absolute paths; settings are
//! a `BTreeMap`, so their order is the keys' order; numbers are formatted by fixed rules.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zepix_model::{Money, Trade};

use crate::html;
use crate::metrics::Metrics;

/// The report's JSON file name.
pub const JSON_FILE: &str = "report.json";
/// The report's HTML file name.
pub const HTML_FILE: &str = "index.html";

/// The account's equity at one moment of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// When (a bar's time).
    pub time: DateTime<Utc>,
    /// Balance plus the unrealized P&L of open positions.
    pub equity: Money,
}

/// Everything a backtest run produced that its report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    /// The strategy plugin's id.
    pub plugin: String,
    /// The data file's name.
    pub data: String,
    /// The plugin's settings as run.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// The fill rule: `close` or `next-open`.
    pub fill: String,
    /// The account's balance before the first bar.
    pub initial_balance: Money,
    /// Bars replayed.
    pub bars: u64,
    /// The first bar's time.
    pub first_bar: Option<DateTime<Utc>>,
    /// The last bar's time.
    pub last_bar: Option<DateTime<Utc>>,
    /// Bars during which a position was open (for the exposure).
    pub bars_in_market: u64,
    /// Closed trades, in the order they closed.
    pub trades: Vec<Trade>,
    /// The equity curve in time order: a point at the close of every bar where the equity
    /// changed and of the bar before it, of the first bar of each UTC day, and of the last bar.
    /// Between two points the equity is the earlier one's.
    pub equity: Vec<EquityPoint>,
}

/// Where [`write_report`] wrote the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `DIR/report.json`.
    pub json: PathBuf,
    /// `DIR/index.html`.
    pub html: PathBuf,
}

/// The run as `report.json` describes it: the input without its trades and equity curve.
#[derive(Debug, Serialize)]
struct RunInfo<'a> {
    plugin: &'a str,
    data: &'a str,
    settings: &'a BTreeMap<String, serde_json::Value>,
    fill: &'a str,
    initial_balance: Money,
    bars: u64,
    first_bar: Option<DateTime<Utc>>,
    last_bar: Option<DateTime<Utc>>,
    bars_in_market: u64,
    equity_points: usize,
}

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    run: RunInfo<'a>,
    metrics: &'a Metrics,
    trades: &'a [Trade],
}

/// The text of `report.json`: `{"run": …, "metrics": …, "trades": [every trade]}`, pretty-printed,
/// with a final newline.
///
/// # Errors
/// When serialization fails (it does not for these types; the error is passed on, not hidden).
pub fn render_json(input: &RunInput, metrics: &Metrics) -> serde_json::Result<String> {
    let report = JsonReport {
        run: RunInfo {
            plugin: &input.plugin,
            data: &input.data,
            settings: &input.settings,
            fill: &input.fill,
            initial_balance: input.initial_balance,
            bars: input.bars,
            first_bar: input.first_bar,
            last_bar: input.last_bar,
            bars_in_market: input.bars_in_market,
            equity_points: input.equity.len(),
        },
        metrics,
        trades: &input.trades,
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    Ok(text)
}

/// Computes the run's [`Metrics`] and writes `report.json` and `index.html` into `dir`, which is
/// created when missing. Existing files of the same names are replaced.
///
/// # Errors
/// When `dir` cannot be created or a file cannot be written.
pub fn write_report(dir: &Path, input: &RunInput) -> io::Result<ReportFiles> {
    let metrics = Metrics::compute(input);
    let json = render_json(input, &metrics).map_err(io::Error::other)?;
    let page = html::render(input, &metrics)?;
    std::fs::create_dir_all(dir)?;
    let files = ReportFiles { json: dir.join(JSON_FILE), html: dir.join(HTML_FILE) };
    std::fs::write(&files.json, json)?;
    std::fs::write(&files.html, page)?;
    Ok(files)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, reason = "test fixtures are valid by construction")]

    use chrono::{Duration, TimeZone};
    use rust_decimal::Decimal;
    use zepix_model::{CloseReason, Lots, OrderId, PluginId, Position, PositionId, Price, Side, Symbol};

    use super::*;

    /// A run of `bars` one-minute bars from 2024-01-01 with a trade every 50 bars, the equity a
    /// deterministic zigzag, and settings inserted out of order.
    pub(crate) fn sample_run(bars: u32) -> RunInput {
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let minute = |i: u32| start + Duration::minutes(i64::from(i));
        let mut equity = Vec::new();
        let mut trades = Vec::new();
        let mut balance = Decimal::from(10_000);
        for i in 0..bars {
            let wiggle = Decimal::from(i64::from(i % 17) - 8) / Decimal::from(4);
            if i % 50 == 49 {
                let pnl = Decimal::from(i64::from(i % 7) * 3 - 9) + Decimal::new(25, 2);
                balance += pnl;
                let side = if i % 100 == 49 { Side::Buy } else { Side::Sell };
                trades.push(Trade {
                    position: Position {
                        id: PositionId(u64::from(i)),
                        plugin: PluginId::new("bollinger").unwrap(),
                        order_id: OrderId(u64::from(i)),
                        signal_id: None,
                        symbol: Symbol::new("XAUUSD").unwrap(),
                        side,
                        lots: "0.1".parse::<Lots>().unwrap(),
                        entry_price: "2000.5".parse::<Price>().unwrap(),
                        sl: None,
                        tp: None,
                        opened_at: minute(i - 20),
                    },
                    exit_price: "2003.25".parse::<Price>().unwrap(),
                    closed_at: minute(i),
                    pnl: Money::from_decimal(pnl),
                    pips: Decimal::new(275, 1),
                    reason: CloseReason::Signal,
                });
            }
            equity.push(EquityPoint { time: minute(i), equity: Money::from_decimal(balance + wiggle) });
        }
        let mut settings = BTreeMap::new();
        settings.insert("period".to_owned(), serde_json::json!(20));
        settings.insert("k".to_owned(), serde_json::json!(2.0));
        settings.insert("side".to_owned(), serde_json::json!("long <&> short"));
        RunInput {
            plugin: "bollinger".into(),
            data: "gold \"1m\".csv".into(),
            settings,
            fill: "close".into(),
            initial_balance: Money::from_decimal(Decimal::from(10_000)),
            bars: u64::from(bars),
            first_bar: (bars > 0).then(|| minute(0)),
            last_bar: bars.checked_sub(1).map(minute),
            bars_in_market: u64::from(bars) * 2 / 5,
            trades,
            equity,
        }
    }

    #[test]
    fn the_same_input_writes_byte_identical_files() {
        let run = sample_run(5_000);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = write_report(a.path(), &run).unwrap();
        // A copy made through JSON, so no state is shared between the two writes.
        let copy: RunInput = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        let second = write_report(&b.path().join("nested/dir"), &copy).unwrap();
        assert_eq!(std::fs::read(&first.json).unwrap(), std::fs::read(&second.json).unwrap());
        assert_eq!(std::fs::read(&first.html).unwrap(), std::fs::read(&second.html).unwrap());
        assert_eq!(first.json, a.path().join("report.json"));
        assert_eq!(first.html, a.path().join("index.html"));
    }

    #[test]
    fn json_holds_the_run_the_metrics_and_every_trade() {
        let run = sample_run(10_000);
        let dir = tempfile::tempdir().unwrap();
        let files = write_report(dir.path(), &run).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(files.json).unwrap()).unwrap();
        assert_eq!(json["run"]["plugin"], "bollinger");
        assert_eq!(json["run"]["settings"]["period"], 20);
        assert_eq!(json["run"]["bars"], 10_000);
        assert_eq!(json["run"]["equity_points"], 10_000);
        assert_eq!(json["run"]["first_bar"], "2024-01-01T00:00:00Z");
        let trades: Vec<Trade> = serde_json::from_value(json["trades"].clone()).unwrap();
        assert_eq!(trades, run.trades);
        let net: Decimal = run.trades.iter().map(|t| t.pnl.value()).sum();
        assert_eq!(json["metrics"]["net_pnl"], net.normalize().to_string());
        assert_eq!(json["metrics"]["trades"], 200);
        assert_eq!(json["metrics"]["exposure"], 0.4);
        assert!(json.get("equity").is_none(), "the curve is not copied into the JSON");
    }

    #[test]
    fn an_empty_run_still_writes_a_report() {
        let run = sample_run(0);
        let dir = tempfile::tempdir().unwrap();
        let files = write_report(dir.path(), &run).unwrap();
        let page = std::fs::read_to_string(files.html).unwrap();
        assert!(page.contains("No trades"));
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(files.json).unwrap()).unwrap();
        assert_eq!(json["metrics"]["trades"], 0);
        assert_eq!(json["metrics"]["sharpe"], serde_json::Value::Null);
    }
}
