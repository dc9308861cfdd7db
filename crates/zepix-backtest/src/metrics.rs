//! The performance figures of a backtest run, computed from its trades and its equity curve.
//!
//! Money stays decimal ([`Money`]): sums are exact, averages are rounded to 8 decimal places.
//! Ratios (win rate, profit factor, Sharpe, percentages) are `f64`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use zepix_model::Money;

use crate::report::RunInput;

/// Trading days per year, to annualize the daily Sharpe ratio.
const TRADING_DAYS: f64 = 252.0;

/// Decimal places kept by averages of money.
const AVERAGE_DP: u32 = 8;

/// What a run achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Closed trades.
    pub trades: u64,
    /// Trades with a positive P&L.
    pub wins: u64,
    /// Trades with a negative P&L (a trade at exactly zero is neither).
    pub losses: u64,
    /// Sum of every trade's P&L.
    pub net_pnl: Money,
    /// Sum of the winning trades' P&L (zero or more).
    pub gross_profit: Money,
    /// Sum of the losing trades' P&L (zero or less).
    pub gross_loss: Money,
    /// `wins / trades`, from 0 to 1; `None` without trades.
    pub win_rate: Option<f64>,
    /// `gross_profit / |gross_loss|`; `None` when no trade lost.
    pub profit_factor: Option<f64>,
    /// `gross_profit / wins`; `None` without a win.
    pub average_win: Option<Money>,
    /// `gross_loss / losses` (negative); `None` without a loss.
    pub average_loss: Option<Money>,
    /// The best trade's P&L; `None` without a win.
    pub largest_win: Option<Money>,
    /// The worst trade's P&L (negative); `None` without a loss.
    pub largest_loss: Option<Money>,
    /// The last point of the equity curve (the initial balance plus the net P&L without one).
    pub final_equity: Money,
    /// `(final_equity − initial_balance) / initial_balance`, in percent; `None` when the initial
    /// balance is not positive.
    pub return_pct: Option<f64>,
    /// The largest fall of equity from its running peak, in money (zero or more). The running peak
    /// starts at the initial balance.
    pub max_drawdown: Money,
    /// The largest fall of equity from its running peak as a percentage of that peak (only where
    /// the peak is positive). It is maximized on its own, so it may come from another fall than
    /// [`max_drawdown`](Self::max_drawdown): 50 → 25 is 50 %, 1000 → 900 is more money but 10 %.
    pub max_drawdown_pct: f64,
    /// Annualized Sharpe ratio of daily returns, risk-free rate 0. A day's equity is the last
    /// equity point of that UTC calendar day; day 0 is the initial balance; the returns are
    /// `equity_d / equity_(d−1) − 1` over the days that have points (days without bars, such as
    /// weekends, are skipped, not counted as flat). Sharpe is `mean(returns) / σ(returns) · √252`
    /// with the sample deviation (÷ n − 1). `None` with fewer than 2 days of points, when the
    /// returns do not vary, or when an equity a return divides by is not positive.
    pub sharpe: Option<f64>,
    /// `bars_in_market / bars`, from 0 to 1; `None` without bars.
    pub exposure: Option<f64>,
    /// Mean of `closed_at − opened_at` over the trades, in seconds; `None` without trades.
    pub average_trade_secs: Option<f64>,
}

impl Metrics {
    /// The figures of a run.
    #[must_use]
    pub fn compute(input: &RunInput) -> Self {
        let mut wins = 0u64;
        let mut losses = 0u64;
        let mut gross_profit = Decimal::ZERO;
        let mut gross_loss = Decimal::ZERO;
        let mut largest_win: Option<Decimal> = None;
        let mut largest_loss: Option<Decimal> = None;
        let mut duration_ms: i128 = 0;
        for trade in &input.trades {
            let pnl = trade.pnl.value();
            if pnl > Decimal::ZERO {
                wins += 1;
                gross_profit += pnl;
                largest_win = Some(largest_win.map_or(pnl, |best| best.max(pnl)));
            } else if pnl < Decimal::ZERO {
                losses += 1;
                gross_loss += pnl;
                largest_loss = Some(largest_loss.map_or(pnl, |worst| worst.min(pnl)));
            }
            duration_ms += i128::from((trade.closed_at - trade.position.opened_at).num_milliseconds());
        }
        let trades = input.trades.len() as u64;
        let average = |sum: Decimal, count: u64| {
            (count > 0).then(|| Money::from_decimal((sum / Decimal::from(count)).round_dp(AVERAGE_DP)))
        };
        let net_pnl = gross_profit + gross_loss;
        let initial = input.initial_balance.value();
        let final_equity = input.equity.last().map_or(initial + net_pnl, |p| p.equity.value());
        let (max_drawdown, max_drawdown_pct) = drawdown(input);
        Self {
            trades,
            wins,
            losses,
            net_pnl: Money::from_decimal(net_pnl),
            gross_profit: Money::from_decimal(gross_profit),
            gross_loss: Money::from_decimal(gross_loss),
            win_rate: (trades > 0).then(|| wins as f64 / trades as f64),
            profit_factor: (losses > 0).then(|| ratio(gross_profit, -gross_loss)).flatten(),
            average_win: average(gross_profit, wins),
            average_loss: average(gross_loss, losses),
            largest_win: largest_win.map(Money::from_decimal),
            largest_loss: largest_loss.map(Money::from_decimal),
            final_equity: Money::from_decimal(final_equity),
            return_pct: (initial > Decimal::ZERO)
                .then(|| ratio(final_equity - initial, initial))
                .flatten()
                .map(|r| r * 100.0),
            max_drawdown: Money::from_decimal(max_drawdown),
            max_drawdown_pct,
            sharpe: sharpe(input),
            exposure: (input.bars > 0).then(|| input.bars_in_market as f64 / input.bars as f64),
            average_trade_secs: (trades > 0).then(|| duration_ms as f64 / 1000.0 / trades as f64),
        }
    }
}

/// `a / b` as a float; `None` when `b` is zero or the quotient does not fit.
fn ratio(a: Decimal, b: Decimal) -> Option<f64> {
    a.checked_div(b)?.to_f64()
}

/// The largest fall from the running peak in money, and the largest as a percentage of its peak.
fn drawdown(input: &RunInput) -> (Decimal, f64) {
    let mut peak = input.initial_balance.value();
    let mut max_money = Decimal::ZERO;
    // The worst relative fall as (fall, peak), compared by cross-multiplication so the million
    // points of a long run need no division each.
    let mut worst = (Decimal::ZERO, Decimal::ONE);
    for point in &input.equity {
        let equity = point.equity.value();
        if equity > peak {
            peak = equity;
            continue;
        }
        let fall = peak - equity;
        max_money = max_money.max(fall);
        if peak > Decimal::ZERO && fall * worst.1 > worst.0 * peak {
            worst = (fall, peak);
        }
    }
    (max_money, ratio(worst.0, worst.1).map_or(0.0, |r| r * 100.0))
}

/// See [`Metrics::sharpe`].
fn sharpe(input: &RunInput) -> Option<f64> {
    let mut closes: Vec<Decimal> = vec![input.initial_balance.value()];
    let mut day: Option<NaiveDate> = None;
    for point in &input.equity {
        let date = point.time.date_naive();
        if day == Some(date) {
            if let Some(last) = closes.last_mut() {
                *last = point.equity.value();
            }
        } else {
            day = Some(date);
            closes.push(point.equity.value());
        }
    }
    let returns = closes
        .windows(2)
        .map(|w| if w[0] > Decimal::ZERO { ratio(w[1] - w[0], w[0]) } else { None })
        .collect::<Option<Vec<f64>>>()?;
    if returns.len() < 2 {
        return None;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let variance = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1.0);
    let sigma = variance.sqrt();
    (sigma > 0.0).then(|| mean / sigma * TRADING_DAYS.sqrt())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test fixtures are valid by construction")]

    use std::collections::BTreeMap;

    use chrono::{DateTime, TimeZone, Utc};
    use zepix_model::{CloseReason, Lots, OrderId, PluginId, Position, PositionId, Price, Side, Symbol, Trade};

    use super::*;
    use crate::report::EquityPoint;

    fn money(text: &str) -> Money {
        text.parse().unwrap()
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, day, hour, 0, 0).unwrap()
    }

    fn trade(pnl: &str, opened: DateTime<Utc>, closed: DateTime<Utc>) -> Trade {
        Trade {
            position: Position {
                id: PositionId(1),
                plugin: PluginId::new("bollinger").unwrap(),
                order_id: OrderId(1),
                signal_id: None,
                symbol: Symbol::new("XAUUSD").unwrap(),
                side: Side::Buy,
                lots: "1".parse::<Lots>().unwrap(),
                entry_price: "2000".parse::<Price>().unwrap(),
                sl: None,
                tp: None,
                opened_at: opened,
            },
            exit_price: "2001".parse::<Price>().unwrap(),
            closed_at: closed,
            pnl: money(pnl),
            pips: Decimal::ZERO,
            reason: CloseReason::Signal,
        }
    }

    fn input(initial: &str, trades: Vec<Trade>, equity: &[(DateTime<Utc>, &str)]) -> RunInput {
        RunInput {
            plugin: "bollinger".into(),
            data: "gold.csv".into(),
            settings: BTreeMap::new(),
            fill: "close".into(),
            initial_balance: money(initial),
            bars: 0,
            first_bar: None,
            last_bar: None,
            bars_in_market: 0,
            trades,
            equity: equity.iter().map(|&(time, e)| EquityPoint { time, equity: money(e) }).collect(),
        }
    }

    #[test]
    fn trade_figures_by_hand() {
        let trades = vec![
            trade("100", at(1, 0), at(1, 1)),
            trade("-50.25", at(1, 1), at(1, 3)),
            trade("30", at(1, 3), at(1, 4)),
            trade("0", at(1, 4), at(1, 5)),
            trade("-20", at(1, 5), at(1, 10)),
        ];
        let m = Metrics::compute(&input("1000", trades, &[]));
        assert_eq!((m.trades, m.wins, m.losses), (5, 2, 2));
        assert_eq!(m.net_pnl, money("59.75"));
        assert_eq!(m.gross_profit, money("130"));
        assert_eq!(m.gross_loss, money("-70.25"));
        assert_eq!(m.win_rate, Some(0.4));
        // 130 / 70.25 = 1.850533807829181…
        assert!((m.profit_factor.unwrap() - 1.850_533_807_829_181).abs() < 1e-12);
        assert_eq!(m.average_win, Some(money("65")));
        assert_eq!(m.average_loss, Some(money("-35.125")));
        assert_eq!(m.largest_win, Some(money("100")));
        assert_eq!(m.largest_loss, Some(money("-50.25")));
        assert_eq!(m.final_equity, money("1059.75"), "no equity curve: initial balance plus net P&L");
        assert!((m.return_pct.unwrap() - 5.975).abs() < 1e-12);
        // Durations 1 h, 2 h, 1 h, 1 h, 5 h: 10 h / 5 = 2 h.
        assert_eq!(m.average_trade_secs, Some(7200.0));
    }

    #[test]
    fn averages_round_to_eight_places() {
        let wins = |pnls: &[&str]| {
            let trades = pnls.iter().map(|p| trade(p, at(1, 0), at(1, 1))).collect();
            Metrics::compute(&input("1000", trades, &[])).average_win
        };
        assert_eq!(wins(&["1", "1", "0.01"]), Some(money("0.67")));
        assert_eq!(wins(&["1", "1", "0"]), Some(money("1")), "a zero trade is not a win");
        assert_eq!(wins(&["1", "1", "2"]), Some(money("1.33333333")));
        assert_eq!(wins(&["1", "0.5", "0.5"]), Some(money("0.66666667")));
    }

    #[test]
    fn no_trades_no_losses() {
        let m = Metrics::compute(&input("1000", vec![], &[]));
        assert_eq!(
            (m.trades, m.win_rate, m.profit_factor, m.average_win, m.average_trade_secs),
            (0, None, None, None, None)
        );
        assert_eq!(
            (m.net_pnl, m.max_drawdown, m.max_drawdown_pct, m.sharpe, m.exposure),
            (Money::ZERO, Money::ZERO, 0.0, None, None)
        );
        let only_wins = Metrics::compute(&input("1000", vec![trade("5", at(1, 0), at(1, 1))], &[]));
        assert_eq!((only_wins.profit_factor, only_wins.average_loss, only_wins.largest_loss), (None, None, None));
        assert_eq!(only_wins.win_rate, Some(1.0));
    }

    #[test]
    fn drawdown_from_the_running_peak() {
        let curve = [
            (at(1, 0), "1000"),
            (at(1, 1), "1100"),
            (at(1, 2), "1050"),
            (at(1, 3), "900"),
            (at(1, 4), "1200"),
            (at(1, 5), "1080"),
        ];
        let m = Metrics::compute(&input("1000", vec![], &curve));
        assert_eq!(m.max_drawdown, money("200"));
        // 200 / 1100 = 18.1818…%
        assert!((m.max_drawdown_pct - 200.0 / 1100.0 * 100.0).abs() < 1e-9);
        assert_eq!(m.final_equity, money("1080"));
    }

    #[test]
    fn drawdown_starts_at_the_initial_balance_and_percent_is_maximized_alone() {
        let m = Metrics::compute(&input("1000", vec![], &[(at(1, 0), "950")]));
        assert_eq!((m.max_drawdown, m.max_drawdown_pct), (money("50"), 5.0));
        let curve = [(at(1, 0), "50"), (at(1, 1), "25"), (at(1, 2), "1000"), (at(1, 3), "900")];
        let m = Metrics::compute(&input("50", vec![], &curve));
        assert_eq!((m.max_drawdown, m.max_drawdown_pct), (money("100"), 50.0));
    }

    #[test]
    fn sharpe_from_daily_closes() {
        // Daily returns +1 %, −1 %, +2 % from 1000; earlier points of a day do not count.
        let curve =
            [(at(1, 9), "990"), (at(1, 23), "1010"), (at(2, 12), "999.9"), (at(4, 8), "5000"), (at(4, 20), "1019.898")];
        let m = Metrics::compute(&input("1000", vec![], &curve));
        // mean 1/150, sample σ = √(7/30000), so mean/σ·√252 = √48.
        assert!((m.sharpe.unwrap() - 48f64.sqrt()).abs() < 1e-9, "{:?}", m.sharpe);
    }

    #[test]
    fn sharpe_needs_two_days_and_some_variation() {
        let one_day = Metrics::compute(&input("1000", vec![], &[(at(1, 1), "1010"), (at(1, 2), "1020")]));
        assert_eq!(one_day.sharpe, None);
        let flat = Metrics::compute(&input("1000", vec![], &[(at(1, 1), "1000"), (at(2, 2), "1000")]));
        assert_eq!(flat.sharpe, None);
        let bust = Metrics::compute(&input("1000", vec![], &[(at(1, 1), "0"), (at(2, 2), "10"), (at(3, 2), "20")]));
        assert_eq!(bust.sharpe, None);
    }

    #[test]
    fn exposure_is_the_share_of_bars_in_the_market() {
        let mut run = input("1000", vec![], &[]);
        run.bars = 400;
        run.bars_in_market = 100;
        assert_eq!(Metrics::compute(&run).exposure, Some(0.25));
    }

    #[test]
    fn a_curve_without_its_unchanged_points_of_the_same_day_gives_the_same_figures() {
        // Hourly equity over five days with flat stretches, one of them the whole second day
        // (which must still count as a day with a return of zero).
        let value = |h: u32| match h {
            10..60 => "1010",
            _ => ["995", "1020", "1020", "1005", "1030"][(h / 7 % 5) as usize],
        };
        let dense: Vec<(DateTime<Utc>, &str)> = (0..120).map(|h| (at(1 + h / 24, h % 24), value(h))).collect();
        // What the replay keeps: a point where the value changed (after the flat stretch's last
        // one) or a day began, and the last.
        let mut sparse: Vec<(DateTime<Utc>, &str)> = Vec::new();
        let mut tail = None;
        for (i, &(t, e)) in dense.iter().enumerate() {
            let keep = sparse.last().is_none_or(|&(lt, le)| le != e || lt.date_naive() != t.date_naive());
            if keep {
                sparse.extend(tail.take());
                sparse.push((t, e));
            } else if i + 1 == dense.len() {
                sparse.push((t, e));
            } else {
                tail = Some((t, e));
            }
        }
        assert!(sparse.len() < dense.len() / 2, "{} of {}", sparse.len(), dense.len());
        let (a, b) =
            (Metrics::compute(&input("1000", vec![], &dense)), Metrics::compute(&input("1000", vec![], &sparse)));
        assert!(a.sharpe.is_some());
        assert_eq!(
            (a.sharpe, a.max_drawdown, a.max_drawdown_pct, a.final_equity),
            (b.sharpe, b.max_drawdown, b.max_drawdown_pct, b.final_equity)
        );
    }
}
