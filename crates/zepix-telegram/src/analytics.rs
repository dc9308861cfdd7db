//! Reports: performance per plugin and overall, the equity curve as a PNG, the daily summary and
//! the risk report. Pure functions over what the engine and its store answer.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use zepix_engine::EngineStatus;
use zepix_engine::risk::SymbolLock;
use zepix_engine::shadow::{Book, ShadowReport};
use zepix_model::{CloseReason, Money, Trade};

use crate::error::TelegramError;
use crate::text::row;

/// Results of a set of trades.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Perf {
    /// Trades.
    pub trades: usize,
    /// Winning trades (P&L above zero).
    pub wins: usize,
    /// Stop losses hit.
    pub sl_hits: usize,
    /// Take profits hit.
    pub tp_hits: usize,
    /// Net P&L.
    pub pnl: Decimal,
}

impl Perf {
    fn add(&mut self, trade: &Trade) {
        self.trades += 1;
        self.wins += usize::from(trade.pnl.value() > Decimal::ZERO);
        self.sl_hits += usize::from(trade.reason == CloseReason::StopLoss);
        self.tp_hits += usize::from(trade.reason == CloseReason::TakeProfit);
        self.pnl += trade.pnl.value();
    }

    /// Win rate in percent, rounded.
    #[must_use]
    pub fn win_rate(&self) -> usize {
        (self.wins * 100 + self.trades / 2).checked_div(self.trades).unwrap_or(0)
    }

    fn line(&self, label: &str, width: usize) -> String {
        row(
            label,
            width,
            format_args!("{:>3} trades {:>3}% won  P&L {}", self.trades, self.win_rate(), signed(self.pnl)),
        )
    }
}

/// Per plugin (by id) and overall.
#[must_use]
pub fn performance(trades: &[Trade]) -> (BTreeMap<String, Perf>, Perf) {
    let mut per = BTreeMap::<String, Perf>::new();
    let mut all = Perf::default();
    for t in trades {
        per.entry(t.position.plugin.to_string()).or_default().add(t);
        all.add(t);
    }
    (per, all)
}

/// A decimal with its sign, `+12.5` / `-3`.
#[must_use]
pub fn signed(value: Decimal) -> String {
    let v = value.normalize();
    if v > Decimal::ZERO { format!("+{v}") } else { v.to_string() }
}

/// The `/performance` text: per plugin and overall.
#[must_use]
pub fn performance_text(trades: &[Trade]) -> String {
    let (per, all) = performance(trades);
    if all.trades == 0 {
        return "📈 Performance\nNo closed trades yet.".into();
    }
    let width = per.keys().map(String::len).max().unwrap_or(0).max("overall".len());
    let mut out = vec!["📈 Performance".to_owned()];
    out.extend(per.iter().map(|(id, p)| p.line(id, width)));
    out.push(all.line("overall", width));
    out.join("\n")
}

/// Equity after each trade (oldest first), starting from the balance before the first.
#[must_use]
pub fn equity_curve(balance_now: Money, trades_oldest_first: &[Trade]) -> Vec<f64> {
    let total: Decimal = trades_oldest_first.iter().map(|t| t.pnl.value()).sum();
    let mut equity = balance_now.value() - total;
    let mut points = vec![equity.to_f64().unwrap_or_default()];
    for t in trades_oldest_first {
        equity += t.pnl.value();
        points.push(equity.to_f64().unwrap_or_default());
    }
    points
}

/// Chart size in pixels.
const WIDTH: u32 = 800;
const HEIGHT: u32 = 400;

/// The equity curve as a PNG: a line over the starting equity, no text (the numbers go in the caption, so no
/// font library is needed).
///
/// # Errors
/// Drawing or encoding failed.
pub fn equity_png(points: &[f64]) -> Result<Vec<u8>, TelegramError> {
    let chart_err = |e: &dyn std::fmt::Display| TelegramError::Chart(e.to_string());
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_err(&e))?;
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
        let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.1).max(1.0);
        let last = points.len().saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(20)
            .build_cartesian_2d(0..last, (lo - pad)..(hi + pad))
            .map_err(|e| chart_err(&e))?;
        // The starting equity as a grey baseline: above it is profit.
        let base = points.first().copied().unwrap_or_default();
        chart
            .draw_series(LineSeries::new([(0, base), (last, base)], RGBColor(190, 190, 190).stroke_width(1)))
            .map_err(|e| chart_err(&e))?;
        let up = points.last() >= points.first();
        let colour = if up { RGBColor(22, 150, 70) } else { RGBColor(200, 40, 40) };
        chart
            .draw_series(LineSeries::new(points.iter().enumerate().map(|(i, p)| (i, *p)), colour.stroke_width(3)))
            .map_err(|e| chart_err(&e))?;
        root.present().map_err(|e| chart_err(&e))?;
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| chart_err(&e))?;
    writer.write_image_data(&rgb).map_err(|e| chart_err(&e))?;
    writer.finish().map_err(|e| chart_err(&e))?;
    Ok(png)
}

/// The caption under the equity chart.
#[must_use]
pub fn equity_caption(points: &[f64], trades: usize) -> String {
    let first = points.first().copied().unwrap_or_default();
    let last = points.last().copied().unwrap_or_default();
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    format!("Equity over {trades} trades: {first:.2} → {last:.2} (low {lo:.2}, high {hi:.2})")
}

/// The daily summary: today's trades (closed since `since`) and the account.
#[must_use]
pub fn daily_text(title: &str, status: &EngineStatus, trades: &[Trade], since: DateTime<Utc>) -> String {
    let today: Vec<Trade> = trades.iter().filter(|t| t.closed_at >= since).cloned().collect();
    let (per, all) = performance(&today);
    let mut out = vec![
        format!("📊 {title}"),
        row("trades", 9, format_args!("{} ({} won, {} SL, {} TP)", all.trades, all.wins, all.sl_hits, all.tp_hits)),
        row("P&L", 9, signed(all.pnl)),
        row("balance", 9, status.account.balance),
        row("equity", 9, status.account.equity),
        row("open", 9, status.positions.len()),
    ];
    if !per.is_empty() {
        let width = per.keys().map(String::len).max().unwrap_or(0);
        out.push(String::new());
        out.extend(per.iter().map(|(id, p)| p.line(id, width)));
    }
    out.join("\n")
}

/// The risk report: exposure by symbol, daily loss used, trading state, locks.
#[must_use]
pub fn risk_text(status: &EngineStatus, daily_loss_limit: Decimal) -> String {
    let mut exposure = BTreeMap::<String, (Decimal, usize)>::new();
    for p in &status.positions {
        let e = exposure.entry(p.symbol.to_string()).or_default();
        e.0 += p.lots.value() * p.side.sign();
        e.1 += 1;
    }
    let loss = (-(status.realized_today.value() + status.account.unrealized.value())).max(Decimal::ZERO);
    let used = if daily_loss_limit > Decimal::ZERO {
        format!("{} of {} ({}%)", loss, daily_loss_limit, (loss * Decimal::from(100) / daily_loss_limit).round())
    } else {
        format!("{loss} (no limit)")
    };
    let mut out = vec![
        "🛡 Risk".to_owned(),
        row("state", 10, status.trading_state),
        row("loss used", 10, used),
        row("locked", 10, if status.daily_loss_locked { "yes, until the daily reset" } else { "no" }),
    ];
    if exposure.is_empty() {
        out.push(row("exposure", 10, "none"));
    } else {
        out.push("exposure (net lots):".into());
        out.extend(
            exposure.iter().map(|(s, (lots, n))| row(&format!("  {s}"), 10, format_args!("{} in {n}", signed(*lots)))),
        );
    }
    let locks: Vec<String> =
        status.locks.iter().map(|l| format!("{} until {}", l.symbol, l.until.format("%H:%M UTC"))).collect();
    out.push(row("locks", 10, if locks.is_empty() { "none".to_owned() } else { locks.join(", ") }));
    out.join("\n")
}

/// The `/locks` text: each symbol in its cooldown after a stop loss.
#[must_use]
pub fn locks_text(locks: &[SymbolLock]) -> String {
    if locks.is_empty() {
        return "🔓 No symbol is locked.".into();
    }
    let mut out = vec!["🔒 Locked symbols (no new position until then; /unlock SYMBOL lifts one)".to_owned()];
    out.extend(
        locks.iter().map(|l| format!("{} until {}: {}", l.symbol, l.until.format("%Y-%m-%d %H:%M UTC"), l.reason)),
    );
    out.join("\n")
}

/// The `/shadow` text: each plugin's book, then each shadow plugin against the live one.
#[must_use]
pub fn shadow_text(report: &ShadowReport) -> String {
    if report.plugins.is_empty() {
        return "🕶 No shadow results yet: run the engine in HYBRID with a plugin in shadow mode.".into();
    }
    let mut out = vec!["🕶 Shadow versus live".to_owned()];
    for p in &report.plugins {
        let book = if p.book == Book::Shadow { "shadow" } else { "live" };
        out.push(format!(
            "{} ({book}): {} trades, {} P&L, {}% won, DD {}, {} open",
            p.plugin,
            p.trades,
            signed(p.net_pnl.value()),
            p.win_rate.normalize(),
            p.max_drawdown.value().normalize(),
            p.open_positions
        ));
    }
    for c in &report.comparisons {
        let fill = c.mean_fill_difference.map_or_else(|| "-".to_owned(), signed);
        out.push(format!(
            "{} vs {}: agreed on {} of {} signals ({}%), fill Δ {fill}",
            c.shadow,
            c.live,
            c.agreed,
            c.signals,
            c.agreement.normalize()
        ));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_list_each_symbol_until_when_and_why() {
        let lock = SymbolLock {
            symbol: zepix_model::Symbol::new("XAUUSD").unwrap(),
            until: "2026-03-02T10:30:00Z".parse().unwrap(),
            reason: "stop loss of #4 (exec) at 1990".into(),
        };
        let text = locks_text(&[lock]);
        assert!(text.contains("XAUUSD until 2026-03-02 10:30 UTC: stop loss of #4 (exec) at 1990"), "{text}");
        assert_eq!(locks_text(&[]), "🔓 No symbol is locked.");
    }

    #[test]
    fn the_chart_is_a_png() {
        let png = equity_png(&[10_000.0, 10_050.0, 9_990.0, 10_200.0]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(equity_png(&[]).is_ok(), "no trades still draws");
    }

    #[test]
    fn signed_values() {
        assert_eq!(signed(Decimal::new(125, 1)), "+12.5");
        assert_eq!(signed(Decimal::new(-3, 0)), "-3");
        assert_eq!(signed(Decimal::ZERO), "0");
    }
}
