//! The shadow report (DESIGN §4.5): live and shadow plugins compared on the same signals and
//! prices. Per plugin and book: trades, P&L, win rate, max drawdown, decisions; per shadow and
//! live pair: how often they decided alike and how their fills differed; per signal: who did what.
//! Live results count only the trades of signals a shadow plugin also decided on, so both sides
//! are measured over the same signals.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use zepix_model::{Money, PluginId, Position, Price, SignalId, Trade};

use crate::outcome::OutcomeStatus;
use crate::ports::{DecisionRow, ShadowRows};

/// Signals listed one by one in the report, the most recent.
pub const RECENT_SIGNALS: usize = 50;

/// Which book a plugin's results come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Book {
    /// The venue.
    Live,
    /// The plugin's virtual book.
    Shadow,
}

/// One plugin's results on one book.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BookSummary {
    /// The plugin.
    pub plugin: PluginId,
    /// Its book.
    pub book: Book,
    /// Closed trades.
    pub trades: usize,
    /// Closed trades with a profit.
    pub wins: usize,
    /// Share of closed trades with a profit, in percent (0 with no trade).
    pub win_rate: Decimal,
    /// Sum of closed trades' P&L.
    pub net_pnl: Money,
    /// Largest fall of the closed-trade P&L from its running peak.
    pub max_drawdown: Money,
    /// Positions still open.
    pub open_positions: usize,
    /// Decisions on shadowed signals by status (`executed`, `rejected`, `ignored`, `failed`).
    pub decisions: BTreeMap<String, usize>,
}

/// A shadow plugin against the live plugin that took the same signals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The shadow plugin.
    pub shadow: PluginId,
    /// The live plugin.
    pub live: PluginId,
    /// Signals both decided on.
    pub signals: usize,
    /// Of those, how many they decided alike (both traded, or neither did).
    pub agreed: usize,
    /// `agreed` in percent of `signals`.
    pub agreement: Decimal,
    /// Signals both opened a position for.
    pub both_filled: usize,
    /// Mean of (shadow fill − live fill) over those, in price units.
    pub mean_fill_difference: Option<Decimal>,
}

/// One plugin's decision on a signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionView {
    /// The plugin.
    pub plugin: PluginId,
    /// What it decided.
    pub status: OutcomeStatus,
    /// The reason code, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The entry price of the position it opened for the signal, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill: Option<Price>,
}

/// A signal and what the live and shadow plugins decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalComparison {
    /// The signal.
    pub signal_id: SignalId,
    /// When the first shadow decision was made.
    pub at: DateTime<Utc>,
    /// The routed live plugin's decision, if a live plugin took it.
    pub live: Option<DecisionView>,
    /// Each shadow plugin's decision.
    pub shadow: Vec<DecisionView>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    /// Every plugin with results, live books first.
    pub plugins: Vec<BookSummary>,
    /// Every shadow plugin against each live plugin it shared signals with.
    pub comparisons: Vec<Comparison>,
    /// The most recent shadowed signals, newest first.
    pub signals: Vec<SignalComparison>,
}

/// Entry prices by (signal, plugin): the first position each plugin opened for each signal.
fn fills<'a>(positions: impl Iterator<Item = &'a Position>) -> HashMap<(SignalId, PluginId), Price> {
    let mut by = HashMap::new();
    let mut sorted: Vec<&Position> = positions.filter(|p| p.signal_id.is_some()).collect();
    sorted.sort_by_key(|p| (p.opened_at, p.id));
    for p in sorted {
        if let Some(s) = &p.signal_id {
            by.entry((s.clone(), p.plugin.clone())).or_insert(p.entry_price);
        }
    }
    by
}

fn percent(part: usize, whole: usize) -> Decimal {
    if whole == 0 {
        return Decimal::ZERO;
    }
    (Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole)).round_dp(1)
}

fn summarize(plugin: &PluginId, book: Book, trades: &[&Trade], open: usize, decisions: &[&DecisionRow]) -> BookSummary {
    let mut sorted = trades.to_vec();
    sorted.sort_by_key(|t| (t.closed_at, t.position.id));
    let (mut cum, mut peak, mut drawdown) = (Money::ZERO, Money::ZERO, Money::ZERO);
    for t in &sorted {
        cum += t.pnl;
        peak = peak.max(cum);
        drawdown = drawdown.max(peak - cum);
    }
    let wins = sorted.iter().filter(|t| t.pnl > Money::ZERO).count();
    let mut counts = BTreeMap::new();
    for d in decisions {
        *counts.entry(d.outcome.status.as_str().to_owned()).or_insert(0) += 1;
    }
    BookSummary {
        plugin: plugin.clone(),
        book,
        trades: sorted.len(),
        wins,
        win_rate: percent(wins, sorted.len()),
        net_pnl: cum,
        max_drawdown: drawdown,
        open_positions: open,
        decisions: counts,
    }
}

fn view(d: &DecisionRow, fills: &HashMap<(SignalId, PluginId), Price>) -> Option<DecisionView> {
    let plugin = d.outcome.plugin.clone()?;
    let fill = fills.get(&(d.signal_id.clone(), plugin.clone())).copied();
    Some(DecisionView { plugin, status: d.outcome.status, code: d.outcome.code.clone(), fill })
}

/// Computes the report from the stored rows.
#[must_use]
pub fn report(rows: &ShadowRows) -> ShadowReport {
    let live_fills = fills(rows.live_trades.iter().map(|t| &t.position).chain(&rows.live_open));
    let shadow_fills = fills(rows.shadow_trades.iter().map(|t| &t.position).chain(&rows.shadow_open));
    let live_by_signal: HashMap<&SignalId, &DecisionRow> =
        rows.live_decisions.iter().map(|d| (&d.signal_id, d)).collect();
    let shadowed: HashSet<&SignalId> = rows.shadow_decisions.iter().map(|d| &d.signal_id).collect();
    let compared = |p: &Position| p.signal_id.as_ref().is_some_and(|s| shadowed.contains(s));
    let live_trades: Vec<Trade> = rows.live_trades.iter().filter(|t| compared(&t.position)).cloned().collect();
    let live_open: Vec<Position> = rows.live_open.iter().filter(|p| compared(p)).cloned().collect();

    // Every (book, plugin) with trades, positions or decisions.
    let mut keys: BTreeMap<(Book, PluginId), ()> = BTreeMap::new();
    let books = [
        (Book::Live, &live_trades, &live_open, &rows.live_decisions),
        (Book::Shadow, &rows.shadow_trades, &rows.shadow_open, &rows.shadow_decisions),
    ];
    for (book, trades, open, decisions) in books {
        keys.extend(trades.iter().map(|t| ((book, t.position.plugin.clone()), ())));
        keys.extend(open.iter().map(|p| ((book, p.plugin.clone()), ())));
        keys.extend(decisions.iter().filter_map(|d| Some(((book, d.outcome.plugin.clone()?), ()))));
    }
    let plugins = keys
        .into_keys()
        .map(|(book, plugin)| {
            let (trades, open, decisions) = match book {
                Book::Live => (&live_trades, &live_open, &rows.live_decisions),
                Book::Shadow => (&rows.shadow_trades, &rows.shadow_open, &rows.shadow_decisions),
            };
            let trades: Vec<&Trade> = trades.iter().filter(|t| t.position.plugin == plugin).collect();
            let open = open.iter().filter(|p| p.plugin == plugin).count();
            let decisions: Vec<&DecisionRow> =
                decisions.iter().filter(|d| d.outcome.plugin.as_ref() == Some(&plugin)).collect();
            summarize(&plugin, book, &trades, open, &decisions)
        })
        .collect();

    // Pairs: each shadow decision against the live decision on the same signal.
    let mut pairs: BTreeMap<(PluginId, PluginId), (usize, usize, Vec<Decimal>)> = BTreeMap::new();
    for d in &rows.shadow_decisions {
        let (Some(shadow), Some(live)) = (&d.outcome.plugin, live_by_signal.get(&d.signal_id)) else { continue };
        let Some(live_plugin) = &live.outcome.plugin else { continue };
        if live_plugin == shadow {
            continue;
        }
        let entry = pairs.entry((shadow.clone(), live_plugin.clone())).or_default();
        entry.0 += 1;
        let took = |s: OutcomeStatus| s == OutcomeStatus::Executed;
        if took(d.outcome.status) == took(live.outcome.status) {
            entry.1 += 1;
        }
        let s_fill = shadow_fills.get(&(d.signal_id.clone(), shadow.clone()));
        let l_fill = live_fills.get(&(d.signal_id.clone(), live_plugin.clone()));
        if let (Some(s), Some(l)) = (s_fill, l_fill) {
            entry.2.push(s.value() - l.value());
        }
    }
    let comparisons = pairs
        .into_iter()
        .map(|((shadow, live), (signals, agreed, diffs))| Comparison {
            shadow,
            live,
            signals,
            agreed,
            agreement: percent(agreed, signals),
            both_filled: diffs.len(),
            mean_fill_difference: (!diffs.is_empty())
                .then(|| (diffs.iter().sum::<Decimal>() / Decimal::from(diffs.len())).normalize()),
        })
        .collect();

    // Per signal, newest first.
    let mut by_signal: BTreeMap<&SignalId, (DateTime<Utc>, Vec<DecisionView>)> = BTreeMap::new();
    for d in &rows.shadow_decisions {
        let Some(v) = view(d, &shadow_fills) else { continue };
        let entry = by_signal.entry(&d.signal_id).or_insert((d.at, Vec::new()));
        entry.0 = entry.0.min(d.at);
        entry.1.push(v);
    }
    let mut signals: Vec<SignalComparison> = by_signal
        .into_iter()
        .map(|(id, (at, shadow))| SignalComparison {
            signal_id: id.clone(),
            at,
            live: live_by_signal.get(id).and_then(|d| view(d, &live_fills)),
            shadow,
        })
        .collect();
    signals.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.signal_id.cmp(&a.signal_id)));
    signals.truncate(RECENT_SIGNALS);

    ShadowReport { plugins, comparisons, signals }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use zepix_model::{CloseReason, Lots, OrderId, PositionId, Side, Symbol};

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-01-05T10:{minute:02}:00Z").parse().unwrap()
    }

    fn position(id: u64, plugin: &str, signal: &str, entry: &str) -> Position {
        Position {
            id: PositionId(id),
            plugin: PluginId::new(plugin).unwrap(),
            order_id: OrderId(id),
            signal_id: Some(SignalId::new(signal).unwrap()),
            symbol: Symbol::new("EURUSD").unwrap(),
            side: Side::Buy,
            lots: Lots::new(Decimal::ONE).unwrap(),
            entry_price: Price::new(entry.parse().unwrap()).unwrap(),
            sl: None,
            tp: None,
            opened_at: at(u32::try_from(id).unwrap()),
        }
    }

    fn trade(p: Position, pnl: i64, minute: u32) -> Trade {
        Trade {
            exit_price: p.entry_price,
            position: p,
            closed_at: at(minute),
            pnl: Money::from_decimal(Decimal::from(pnl)),
            pips: Decimal::ZERO,
            reason: CloseReason::Signal,
        }
    }

    fn decision(signal: &str, plugin: &str, status: OutcomeStatus, minute: u32) -> DecisionRow {
        let mut outcome = Outcome::new(status, "x", "why").with_plugin(PluginId::new(plugin).unwrap());
        outcome.code = None;
        DecisionRow { signal_id: SignalId::new(signal).unwrap(), at: at(minute), outcome }
    }

    #[test]
    fn compares_books_decisions_and_fills() {
        let rows = ShadowRows {
            live_trades: vec![
                trade(position(1, "live", "s1", "1.1000"), 30, 10),
                trade(position(2, "live", "s2", "1.2000"), -50, 11),
                trade(position(3, "live", "s3", "1.3000"), 10, 12),
                trade(position(9, "live", "s9", "1.3000"), 500, 13),
            ],
            live_open: vec![],
            shadow_trades: vec![trade(position(1, "cand", "s1", "1.1002"), 28, 10)],
            shadow_open: vec![position(2, "cand", "s3", "1.2998")],
            shadow_decisions: vec![
                decision("s1", "cand", OutcomeStatus::Executed, 1),
                decision("s2", "cand", OutcomeStatus::Rejected, 2),
                decision("s3", "cand", OutcomeStatus::Executed, 3),
                decision("s4", "cand", OutcomeStatus::Ignored, 4),
            ],
            live_decisions: vec![
                decision("s1", "live", OutcomeStatus::Executed, 1),
                decision("s2", "live", OutcomeStatus::Executed, 2),
                decision("s3", "live", OutcomeStatus::Executed, 3),
            ],
        };
        let r = report(&rows);
        let live = &r.plugins[0];
        // s9 was not shadowed: its trade is not part of the comparison.
        assert_eq!((live.book, live.plugin.as_str()), (Book::Live, "live"));
        assert_eq!((live.trades, live.wins), (3, 2));
        assert_eq!(live.win_rate, Decimal::new(667, 1));
        assert_eq!(live.net_pnl, Money::from_decimal(Decimal::from(-10)));
        // Peak 30 after the first trade, then down to -20.
        assert_eq!(live.max_drawdown, Money::from_decimal(Decimal::from(50)));
        let cand = &r.plugins[1];
        assert_eq!((cand.book, cand.trades, cand.open_positions), (Book::Shadow, 1, 1));
        assert_eq!(cand.decisions["executed"], 2);
        assert_eq!(cand.decisions["ignored"], 1);

        let c = &r.comparisons[0];
        assert_eq!((c.shadow.as_str(), c.live.as_str()), ("cand", "live"));
        // s4 had no live decision; s2 was a disagreement.
        assert_eq!((c.signals, c.agreed, c.both_filled), (3, 2, 2));
        assert_eq!(c.agreement, Decimal::new(667, 1));
        // (+0.0002 − 0.0002) / 2
        assert_eq!(c.mean_fill_difference, Some(Decimal::ZERO));

        assert_eq!(r.signals.len(), 4);
        assert_eq!(r.signals[0].signal_id.as_str(), "s4");
        assert!(r.signals[0].live.is_none());
        let s1 = r.signals.iter().find(|s| s.signal_id.as_str() == "s1").unwrap();
        assert_eq!(s1.live.as_ref().unwrap().fill.unwrap().to_string(), "1.1");
        assert_eq!(s1.shadow[0].fill.unwrap().to_string(), "1.1002");
    }

    #[test]
    fn without_shadow_decisions_the_report_is_empty() {
        let live = vec![trade(position(1, "live", "s1", "1.1000"), 30, 10)];
        let r = report(&ShadowRows { live_trades: live, ..ShadowRows::default() });
        assert!(r.plugins.is_empty() && r.comparisons.is_empty() && r.signals.is_empty());
    }
}
