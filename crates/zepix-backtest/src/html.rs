//! The report's HTML page: one self-contained file (inline CSS, inline SVG, no script, nothing
//! fetched) with the run and its metrics, the equity curve, the drawdown chart and the trades.
//!
//! A run may have a million equity points; the charts keep at most [`CHART_COLUMNS`] columns of
//! two points each (the lowest and the highest of the points that fall in the column, in time
//! order), so every spike stays visible and a chart stays a few tens of kilobytes. The trade list
//! shows the first and last [`TRADE_ROWS`]` / 2` trades when there are more; `report.json` has
//! them all.

use std::fmt::Write as _;
use std::io;

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use zepix_model::{Money, Trade};

use crate::metrics::Metrics;
use crate::report::RunInput;

/// Chart width in pixels.
const WIDTH: u32 = 960;
/// Chart height in pixels.
const HEIGHT: u32 = 320;
/// Columns a chart's series is reduced to.
pub const CHART_COLUMNS: usize = 900;
/// Trades listed on the page at most.
pub const TRADE_ROWS: usize = 1000;

/// The page for a run.
///
/// # Errors
/// When drawing a chart fails (plotters reports its errors through `io`).
pub fn render(input: &RunInput, metrics: &Metrics) -> io::Result<String> {
    let (equity, drawdown) = chart_series(input);
    let mut page = String::with_capacity(256 * 1024);
    page.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    ));
    let _ = writeln!(page, "<title>zepix backtest: {} on {}</title>", escape(&input.plugin), escape(&input.data));
    page.push_str(STYLE);
    page.push_str("</head>\n<body>\n");
    let _ = writeln!(page, "<h1>Backtest: {} on {}</h1>", escape(&input.plugin), escape(&input.data));
    summary(&mut page, input, metrics);
    page.push_str("<h2>Equity</h2>\n");
    page.push_str(&chart(&equity, "equity", "#1f5fbf", false)?);
    page.push_str("\n<h2>Drawdown (% of peak equity)</h2>\n");
    page.push_str(&chart(&drawdown, "drawdown %", "#c0392b", true)?);
    page.push('\n');
    trade_list(&mut page, &input.trades);
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

const STYLE: &str = "<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.summary th { text-align: left; font-weight: normal; color: #555; }
.pos { color: #1a7f37; } .neg { color: #c0392b; }
svg { display: block; max-width: 100%; height: auto; }
</style>
";

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

fn percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "-".to_owned(), |f| format!("{:.2} %", f * 100.0))
}

fn fixed(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn money(value: Option<Money>) -> String {
    value.map_or_else(|| "-".to_owned(), |m| m.to_string())
}

fn duration(secs: Option<f64>) -> String {
    let Some(secs) = secs else { return "-".to_owned() };
    let minutes = secs / 60.0;
    if minutes < 120.0 { format!("{minutes:.1} min") } else { format!("{:.1} h", minutes / 60.0) }
}

fn signed_class(value: Money) -> &'static str {
    if value > Money::ZERO {
        "pos"
    } else if value < Money::ZERO {
        "neg"
    } else {
        ""
    }
}

fn summary(page: &mut String, input: &RunInput, m: &Metrics) {
    let settings = input
        .settings
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows: [(&str, String); 24] = [
        ("plugin", input.plugin.clone()),
        ("data", input.data.clone()),
        ("settings", if settings.is_empty() { "-".to_owned() } else { settings }),
        ("fill", input.fill.clone()),
        ("bars", input.bars.to_string()),
        ("from", opt_time(input.first_bar)),
        ("to", opt_time(input.last_bar)),
        ("initial balance", input.initial_balance.to_string()),
        ("final equity", m.final_equity.to_string()),
        ("return", m.return_pct.map_or_else(|| "-".to_owned(), |r| format!("{r:.2} %"))),
        ("net P&L", m.net_pnl.to_string()),
        ("gross profit", m.gross_profit.to_string()),
        ("gross loss", m.gross_loss.to_string()),
        ("trades (won / lost)", format!("{} ({} / {})", m.trades, m.wins, m.losses)),
        ("win rate", percent(m.win_rate)),
        ("profit factor", fixed(m.profit_factor)),
        ("average win", money(m.average_win)),
        ("average loss", money(m.average_loss)),
        ("largest win", money(m.largest_win)),
        ("largest loss", money(m.largest_loss)),
        ("max drawdown", format!("{} ({:.2} %)", m.max_drawdown, m.max_drawdown_pct)),
        ("Sharpe (daily, annualized)", fixed(m.sharpe)),
        ("exposure", percent(m.exposure)),
        ("average trade", duration(m.average_trade_secs)),
    ];
    page.push_str("<table class=\"summary\">\n");
    for (name, value) in rows {
        let _ = writeln!(page, "<tr><th>{name}</th><td>{}</td></tr>", escape(&value));
    }
    page.push_str("</table>\n");
}

fn trade_list(page: &mut String, trades: &[Trade]) {
    let _ = writeln!(page, "<h2>Trades ({})</h2>", trades.len());
    if trades.is_empty() {
        page.push_str("<p>No trades.</p>\n");
        return;
    }
    page.push_str(concat!(
        "<table class=\"trades\">\n<tr><th class=\"n\">#</th><th>symbol</th><th>side</th><th class=\"n\">lots</th>",
        "<th>opened</th><th class=\"n\">entry</th><th>closed</th><th class=\"n\">exit</th>",
        "<th class=\"n\">P&amp;L</th><th class=\"n\">pips</th><th>reason</th></tr>\n",
    ));
    let half = TRADE_ROWS / 2;
    let skipped = trades.len().saturating_sub(TRADE_ROWS);
    for (i, t) in trades.iter().enumerate() {
        if skipped > 0 && i == half {
            let _ = writeln!(
                page,
                "<tr><td colspan=\"11\">… {skipped} more trades: every trade is in report.json</td></tr>"
            );
        }
        if skipped > 0 && (half..half + skipped).contains(&i) {
            continue;
        }
        let p = &t.position;
        let _ = writeln!(
            page,
            concat!(
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>",
                "<td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n {}\">{}</td>",
                "<td class=\"n\">{}</td><td>{}</td></tr>"
            ),
            i + 1,
            escape(p.symbol.as_str()),
            p.side,
            p.lots,
            time(p.opened_at),
            p.entry_price,
            time(t.closed_at),
            t.exit_price,
            signed_class(t.pnl),
            t.pnl,
            t.pips.normalize(),
            t.reason.as_str(),
        );
    }
    page.push_str("</table>\n");
}

/// A chart's points: unix seconds and value.
type Series = Vec<(f64, f64)>;

/// The equity curve and the drawdown (in % of the running peak, zero or less), each reduced to
/// [`CHART_COLUMNS`] columns. Charts are pictures: floats are fine here.
fn chart_series(input: &RunInput) -> (Series, Series) {
    let n = input.equity.len();
    let mut equity = Columns::new(n, CHART_COLUMNS);
    let mut drawdown = Columns::new(n, CHART_COLUMNS);
    let mut peak = input.initial_balance.value().to_f64().unwrap_or(0.0);
    for (i, point) in input.equity.iter().enumerate() {
        let x = point.time.timestamp() as f64;
        let e = point.equity.value().to_f64().unwrap_or(0.0);
        peak = peak.max(e);
        let dd = if peak > 0.0 { (e - peak) / peak * 100.0 } else { 0.0 };
        equity.push(i, x, e);
        drawdown.push(i, x, dd);
    }
    (equity.finish(), drawdown.finish())
}

/// Min/max reduction of a series of `n` points to `columns` columns by index: for each column
/// the lowest and the highest point (in their original order), plus the series' first and last
/// points, so the line spans the whole run and no extreme is lost.
#[derive(Debug)]
struct Columns {
    n: usize,
    columns: usize,
    out: Series,
    column: usize,
    /// The current column's lowest and highest points, with their indices.
    low: Option<(usize, f64, f64)>,
    high: Option<(usize, f64, f64)>,
}

impl Columns {
    fn new(n: usize, columns: usize) -> Self {
        Self { n, columns: columns.max(1), out: Vec::with_capacity(2 * columns + 2), column: 0, low: None, high: None }
    }

    /// Adds point `i` (points come in index order).
    fn push(&mut self, i: usize, x: f64, y: f64) {
        if self.n <= 2 * self.columns {
            self.out.push((x, y));
            return;
        }
        let column = i * self.columns / self.n;
        if column != self.column {
            self.flush();
            self.column = column;
        }
        if i == 0 || i + 1 == self.n {
            // The ends are kept as they are; flushing around them keeps the order.
            self.flush();
            self.out.push((x, y));
            return;
        }
        if self.low.is_none_or(|(_, _, low)| y < low) {
            self.low = Some((i, x, y));
        }
        if self.high.is_none_or(|(_, _, high)| y > high) {
            self.high = Some((i, x, y));
        }
    }

    fn flush(&mut self) {
        match (self.low.take(), self.high.take()) {
            (Some(low), Some(high)) if low.0 != high.0 => {
                let (a, b) = if low.0 < high.0 { (low, high) } else { (high, low) };
                self.out.extend([(a.1, a.2), (b.1, b.2)]);
            }
            (Some(point), _) | (None, Some(point)) => self.out.push((point.1, point.2)),
            (None, None) => {}
        }
    }

    fn finish(mut self) -> Series {
        self.flush();
        self.out
    }
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> io::Error {
    io::Error::other(e.to_string())
}

/// One line chart (filled down to zero for `area`) as an SVG element.
fn chart(series: &[(f64, f64)], label: &str, color: &str, area: bool) -> io::Result<String> {
    let rgb = parse_color(color);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let Some(((x0, x1), (y0, y1))) = bounds(series, area) else {
            root.titled("no data", ("sans-serif", 16)).map_err(draw_error)?;
            root.present().map_err(draw_error)?;
            drop(root);
            return Ok(svg);
        };
        let span = x1 - x0;
        let x_format = move |x: &f64| {
            DateTime::from_timestamp(*x as i64, 0).map_or_else(String::new, |t| {
                if span < 2.0 * 86_400.0 {
                    t.format("%m-%d %H:%M").to_string()
                } else {
                    t.format("%Y-%m-%d").to_string()
                }
            })
        };
        let y_format = |y: &f64| format!("{y:.2}");
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            // Room for the last date label, which is centred on the right edge.
            .margin_right(48)
            .x_label_area_size(28)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&x_format)
            .y_label_formatter(&y_format)
            .y_desc(label)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(draw_error)?;
        if area {
            chart
                .draw_series(AreaSeries::new(series.iter().copied(), 0.0, rgb.mix(0.25)).border_style(rgb))
                .map_err(draw_error)?;
        } else {
            chart.draw_series(LineSeries::new(series.iter().copied(), rgb)).map_err(draw_error)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// `#rrggbb` to a colour; the colours are constants of this module.
fn parse_color(hex: &str) -> RGBColor {
    let channel = |i: usize| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
    RGBColor(channel(1), channel(3), channel(5))
}

/// The x and y ranges of a series with a 5 % margin on y (and 0 included for an area chart);
/// `None` when it is empty.
fn bounds(series: &[(f64, f64)], area: bool) -> Option<((f64, f64), (f64, f64))> {
    let first = series.first()?;
    let init = ((first.0, first.0), (first.1, first.1));
    let ((x0, x1), (mut y0, mut y1)) =
        series.iter().fold(init, |((x0, x1), (y0, y1)), &(x, y)| ((x0.min(x), x1.max(x)), (y0.min(y), y1.max(y))));
    if area {
        y0 = y0.min(0.0);
        y1 = y1.max(0.0);
    }
    let pad = if y1 > y0 { (y1 - y0) * 0.05 } else { y0.abs().max(1.0) * 0.01 };
    let x1 = if x1 > x0 { x1 } else { x0 + 60.0 };
    Some(((x0, x1), (y0 - pad, y1 + pad)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test fixtures are valid by construction")]

    use super::*;
    use crate::report::tests::sample_run;

    fn reduce(ys: &[f64], columns: usize) -> Series {
        let mut c = Columns::new(ys.len(), columns);
        for (i, &y) in ys.iter().enumerate() {
            c.push(i, i as f64, y);
        }
        c.finish()
    }

    #[test]
    fn short_series_are_kept_whole() {
        let ys: Vec<f64> = (0..20).map(|i| f64::from(i % 3)).collect();
        let got = reduce(&ys, 10);
        assert_eq!(got, ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect::<Series>());
    }

    #[test]
    fn long_series_keep_every_column_extreme_and_both_ends() {
        let mut ys: Vec<f64> = (0..1_000_000u64).map(|i| ((i * 7919) % 1000) as f64).collect();
        ys[123_457] = 1e6;
        ys[987_653] = -1e6;
        let columns = 500;
        let got = reduce(&ys, columns);
        assert!(got.len() <= 2 * columns + 2, "{} points", got.len());
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "points stay in order");
        assert_eq!(got.first(), Some(&(0.0, ys[0])));
        assert_eq!(got.last(), Some(&(999_999.0, ys[999_999])));
        // Each column's extremes, computed directly over its slice of the input.
        let per = ys.len() / columns;
        for c in 0..columns {
            let slice = &ys[c * per..(c + 1) * per];
            let lo = slice.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = slice.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let kept: Vec<f64> =
                got.iter().filter(|(x, _)| (c * per..(c + 1) * per).contains(&(*x as usize))).map(|p| p.1).collect();
            assert!(kept.contains(&lo) && kept.contains(&hi), "column {c}");
        }
    }

    #[test]
    fn page_has_summary_charts_and_trades_and_escapes_text() {
        let run = sample_run(3_000);
        let page = render(&run, &Metrics::compute(&run)).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 2);
        assert!(page.contains("<polyline") || page.contains("<path"), "the curves are drawn");
        assert!(page.contains("gold &quot;1m&quot;.csv"));
        assert!(page.contains("side=long &lt;&amp;&gt; short"));
        assert!(!page.contains("<&>"));
        assert!(page.contains("<h2>Trades (60)</h2>"));
        assert_eq!(page.matches("<td class=\"n\">60</td>").count(), 1, "the last trade is listed");
        let namespaces = page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
        assert_eq!(page.matches("http").count(), namespaces, "nothing is fetched: the only URLs are SVG namespaces");
    }

    #[test]
    fn long_runs_make_a_small_page_with_a_trimmed_trade_list() {
        let run = sample_run(1_000_000);
        assert_eq!(run.trades.len(), 20_000);
        let page = render(&run, &Metrics::compute(&run)).unwrap();
        assert!(page.len() < 1_000_000, "{} bytes", page.len());
        assert!(page.contains("… 19000 more trades: every trade is in report.json"));
        assert_eq!(page.matches("<tr><td class=\"n\">").count(), TRADE_ROWS);
        assert!(page.contains("<td class=\"n\">20000</td>"));
        assert!(!page.contains("<td class=\"n\">501</td>"));
    }
}
