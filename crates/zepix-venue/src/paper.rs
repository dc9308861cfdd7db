//! The paper venue: fills at the mid price plus half the spread and slippage, values and closes
//! positions at the opposite side, and triggers stop losses and take profits on each mark.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use zepix_engine::{Execution, OrderTicket, RiskApproved, Venue, VenueError};
use zepix_model::{
    Account, Bar, CloseReason, Fill, Money, Position, PositionId, Price, Side, Symbol, SymbolSpec, SymbolTable, Trade,
};

use crate::config::PaperConfig;

/// A simulated broker. Deterministic: every price and time comes from the caller.
///
/// Prices handed to it are mid prices. A buy fills at the ask (mid + half spread) plus slippage
/// and is valued and closed at the bid (mid − half spread), minus slippage on market closes; a
/// sell mirrors that. Stop losses and take profits are checked on each [`Venue::mark`] against
/// the side the position would close on.
#[derive(Debug, Clone)]
pub struct PaperVenue {
    initial_balance: Money,
    default_spread_pips: Decimal,
    slippage_pips: Decimal,
    commission_per_lot: Decimal,
    spreads: BTreeMap<Symbol, Decimal>,
    symbols: SymbolTable,
    /// Half spread and slippage of each symbol of the table.
    costs: BTreeMap<Symbol, Costs>,
    positions: BTreeMap<PositionId, Position>,
    prices: BTreeMap<Symbol, Price>,
    realized: Money,
    next_position_id: u64,
}

/// Half the spread and the slippage of one symbol, as price distances.
#[derive(Debug, Clone, Copy)]
struct Costs {
    half_spread: Decimal,
    slippage: Decimal,
}

impl Costs {
    /// Where a market order on `side` fills: buys pay the ask plus slippage, sells get the bid
    /// minus slippage.
    fn entry(self, side: Side, mid: Price) -> Decimal {
        mid.value() + side.sign() * (self.half_spread + self.slippage)
    }

    /// Where a position on `side` is valued or closed: a buy at the bid, a sell at the ask; market
    /// closes also pay slippage.
    fn exit(self, side: Side, mid: Price, slipped: bool) -> Decimal {
        let slippage = if slipped { self.slippage } else { Decimal::ZERO };
        mid.value() - side.sign() * (self.half_spread + slippage)
    }
}

impl PaperVenue {
    /// The spread of a symbol, in pips.
    fn spread_of(&self, symbol: &Symbol) -> Decimal {
        self.spreads.get(symbol).copied().unwrap_or(self.default_spread_pips)
    }

    /// A venue with the configured balance, spreads and slippage, trading the symbols of `symbols`.
    ///
    /// The config is taken as it is; call [`PaperConfig::validate`] first to refuse a negative
    /// spread or a bad `spreads` key (such keys are ignored here).
    #[must_use]
    pub fn new(config: PaperConfig, symbols: SymbolTable) -> Self {
        let mut venue = Self {
            initial_balance: Money::from_decimal(config.balance),
            default_spread_pips: config.spread_pips,
            slippage_pips: config.slippage_pips,
            commission_per_lot: config.commission_per_lot,
            spreads: config.symbol_spreads(),
            symbols,
            costs: BTreeMap::new(),
            positions: BTreeMap::new(),
            prices: BTreeMap::new(),
            realized: Money::ZERO,
            next_position_id: 1,
        };
        // Every mark and valuation needs them: worked out once per symbol.
        venue.costs = venue
            .symbols
            .symbols()
            .filter_map(|symbol| Some((symbol.clone(), venue.compute_costs(symbol, venue.symbols.get(symbol)?))))
            .collect();
        venue
    }

    fn compute_costs(&self, symbol: &Symbol, spec: &SymbolSpec) -> Costs {
        let spread_pips = self.spread_of(symbol);
        Costs { half_spread: spread_pips * spec.pip_size / Decimal::TWO, slippage: self.slippage_pips * spec.pip_size }
    }

    fn costs(&self, symbol: &Symbol, spec: &SymbolSpec) -> Costs {
        self.costs.get(symbol).copied().unwrap_or_else(|| self.compute_costs(symbol, spec))
    }

    /// The price a position would be valued at now (its exit side, without slippage), when the
    /// symbol has a mark, a spec, and that side is a positive price.
    fn valuation(&self, position: &Position) -> Option<(Price, &SymbolSpec)> {
        let spec = self.symbols.get(&position.symbol)?;
        let mid = *self.prices.get(&position.symbol)?;
        let exit = self.costs(&position.symbol, spec).exit(position.side, mid, false);
        Price::new(exit).ok().map(|price| (price, spec))
    }

    /// Removes an open position and books its result at `exit`.
    fn settle(&mut self, id: PositionId, exit: Price, reason: CloseReason, at: DateTime<Utc>) -> Option<Trade> {
        let position = self.positions.remove(&id)?;
        let (pnl, pips) = match self.symbols.get(&position.symbol) {
            Some(spec) => {
                let commission = Money::from_decimal(Decimal::TWO * self.commission_per_lot * position.lots.value());
                let pnl = spec.pnl(position.side, position.lots, position.entry_price, exit) - commission;
                let distance = (exit.value() - position.entry_price.value()) * position.side.sign();
                let pips = distance
                    .checked_div(spec.pip_size)
                    .unwrap_or(Decimal::ZERO)
                    .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero)
                    .normalize();
                (pnl, pips)
            }
            None => (Money::ZERO, Decimal::ZERO),
        };
        self.realized += pnl;
        Some(Trade { position, exit_price: exit, closed_at: at, pnl, pips, reason })
    }
}

impl PaperVenue {
    fn set_price(&mut self, symbol: &Symbol, price: Price) {
        match self.prices.get_mut(symbol) {
            Some(last) => *last = price,
            None => {
                self.prices.insert(symbol.clone(), price);
            }
        }
    }

    /// The positions on `symbol` whose stop or target the mid prices `low`..`high` reach, in id
    /// order, with their fill and reason. A buy's stop is checked at the low's bid and its target
    /// at the high's bid; a sell mirrors that at the ask. With `gap` the market is already beyond
    /// the stop (one price, not a range): it fills at the worse of the level and the market.
    fn triggered(&self, symbol: &Symbol, low: Price, high: Price, gap: bool) -> Vec<(PositionId, Price, CloseReason)> {
        if !self.positions.values().any(|p| &p.symbol == symbol) {
            return Vec::new();
        }
        let Some(spec) = self.symbols.get(symbol) else {
            return Vec::new();
        };
        let costs = self.costs(symbol, spec);
        let mut hits = Vec::new();
        for position in self.positions.values().filter(|p| &p.symbol == symbol) {
            if position.sl.is_none() && position.tp.is_none() {
                continue;
            }
            let sign = position.side.sign();
            let (adverse, favorable) = match position.side {
                Side::Buy => (low, high),
                Side::Sell => (high, low),
            };
            let (worst, best) =
                (costs.exit(position.side, adverse, false), costs.exit(position.side, favorable, false));
            if worst <= Decimal::ZERO || best <= Decimal::ZERO {
                continue;
            }
            // sign × (level − exit) ≥ 0: a buy's bid at or below its stop, a sell's ask at or above.
            let stop = position.sl.filter(|sl| sign * (sl.value() - worst) >= Decimal::ZERO).map(|sl| {
                let market = Price::new(worst).unwrap_or(sl);
                let fill = match (gap, position.side) {
                    (false, _) => sl,
                    (true, Side::Buy) => sl.min(market),
                    (true, Side::Sell) => sl.max(market),
                };
                (fill, CloseReason::StopLoss)
            });
            let target = || {
                position
                    .tp
                    .filter(|tp| sign * (best - tp.value()) >= Decimal::ZERO)
                    .map(|tp| (tp, CloseReason::TakeProfit))
            };
            if let Some((fill, reason)) = stop.or_else(target) {
                hits.push((position.id, fill, reason));
            }
        }
        hits
    }

    fn settle_all(&mut self, hits: Vec<(PositionId, Price, CloseReason)>, at: DateTime<Utc>) -> Vec<Trade> {
        hits.into_iter().filter_map(|(id, fill, reason)| self.settle(id, fill, reason, at)).collect()
    }
}

/// Checks that `sl` and `tp` are on the right side of `reference` for a position on `side`:
/// a buy's stop below and target above, a sell's the other way round. `what` names the reference
/// in the message (`fill price`, `current bid`).
fn check_levels(
    side: Side,
    sl: Option<Price>,
    tp: Option<Price>,
    reference: Decimal,
    what: &str,
) -> Result<(), VenueError> {
    let (stop_word, target_word) = match side {
        Side::Buy => ("below", "above"),
        Side::Sell => ("above", "below"),
    };
    // For a buy the stop must be below (sign +1 × (ref − sl) > 0); for a sell, above.
    if let Some(sl) = sl
        && side.sign() * (reference - sl.value()) <= Decimal::ZERO
    {
        return Err(VenueError::InvalidLevels(format!(
            "{side} stop loss {sl} must be {stop_word} the {what} {}",
            reference.normalize()
        )));
    }
    if let Some(tp) = tp
        && side.sign() * (tp.value() - reference) <= Decimal::ZERO
    {
        return Err(VenueError::InvalidLevels(format!(
            "{side} take profit {tp} must be {target_word} the {what} {}",
            reference.normalize()
        )));
    }
    Ok(())
}

impl Venue for PaperVenue {
    fn spread_pips(&self, symbol: &Symbol) -> Option<Decimal> {
        Some(self.spread_of(symbol))
    }

    fn name(&self) -> &str {
        "paper"
    }

    /// Opens a position. A price on the ticket is recorded as the symbol's last price even when
    /// the levels are then refused: it is what the market was. A spread and slippage that leave
    /// no positive price to fill at count as no price.
    fn execute(&mut self, order: RiskApproved<OrderTicket>, at: DateTime<Utc>) -> Result<Execution, VenueError> {
        let ticket = order.into_inner();
        let request = ticket.request;
        let spec =
            self.symbols.get(&request.symbol).ok_or_else(|| VenueError::UnknownSymbol(request.symbol.clone()))?;
        let costs = self.costs(&request.symbol, spec);
        let mid = match request.price {
            Some(price) => {
                self.prices.insert(request.symbol.clone(), price);
                price
            }
            None => *self.prices.get(&request.symbol).ok_or_else(|| VenueError::NoPrice(request.symbol.clone()))?,
        };
        let fill_price =
            Price::new(costs.entry(request.side, mid)).map_err(|_| VenueError::NoPrice(request.symbol.clone()))?;
        check_levels(request.side, request.sl, request.tp, fill_price.value(), "fill price")?;

        let id = PositionId(self.next_position_id);
        self.next_position_id += 1;
        let position = Position {
            id,
            plugin: ticket.plugin,
            order_id: ticket.id,
            signal_id: ticket.signal_id,
            symbol: request.symbol,
            side: request.side,
            lots: request.lots,
            entry_price: fill_price,
            sl: request.sl,
            tp: request.tp,
            opened_at: at,
        };
        let fill = Fill {
            order_id: ticket.id,
            position_id: id,
            symbol: position.symbol.clone(),
            side: position.side,
            lots: position.lots,
            price: fill_price,
            at,
        };
        self.positions.insert(id, position.clone());
        Ok(Execution { fill, position })
    }

    /// Records the mid price and closes, in id order, the positions on `symbol` whose stop loss
    /// or take profit the exit side reached. A stop fills at the worse of its level and the
    /// market (a gap goes through it); a target fills at its level; when both are reached the
    /// stop wins, since the path between marks is unknown.
    fn mark(&mut self, symbol: &Symbol, price: Price, at: DateTime<Utc>) -> Vec<Trade> {
        self.set_price(symbol, price);
        let hits = self.triggered(symbol, price, price, true);
        self.settle_all(hits, at)
    }

    /// A closed bar: its open is checked first (a gap through a level fills at the open), then its
    /// range is checked: a level inside the bar's low–high fills at the level itself. When a bar
    /// reaches both the stop and the target of a position, the stop wins: a bar does not say
    /// which came first, and assuming the worse is the safe side. The close becomes the price.
    fn mark_bar(&mut self, symbol: &Symbol, bar: &Bar, at: DateTime<Utc>) -> Vec<Trade> {
        let hits = self.triggered(symbol, bar.open, bar.open, true);
        let mut trades = self.settle_all(hits, at);
        let hits = self.triggered(symbol, bar.low, bar.high, false);
        trades.extend(self.settle_all(hits, at));
        self.set_price(symbol, bar.close);
        trades
    }

    fn close(&mut self, id: PositionId, reason: CloseReason, at: DateTime<Utc>) -> Result<Trade, VenueError> {
        let position = self.positions.get(&id).ok_or(VenueError::UnknownPosition(id))?;
        let symbol = &position.symbol;
        let spec = self.symbols.get(symbol).ok_or_else(|| VenueError::UnknownSymbol(symbol.clone()))?;
        let mid = *self.prices.get(symbol).ok_or_else(|| VenueError::NoPrice(symbol.clone()))?;
        let exit = Price::new(self.costs(symbol, spec).exit(position.side, mid, true))
            .map_err(|_| VenueError::NoPrice(symbol.clone()))?;
        self.settle(id, exit, reason, at).ok_or(VenueError::UnknownPosition(id))
    }

    /// Replaces both levels. With a price known they must be on the right side of the exit side
    /// (a buy's bid); without one, a buy's stop must still be below its target.
    fn modify(&mut self, id: PositionId, sl: Option<Price>, tp: Option<Price>) -> Result<Position, VenueError> {
        let position = self.positions.get(&id).ok_or(VenueError::UnknownPosition(id))?;
        match self.valuation(position) {
            Some((exit, _)) => {
                let what = match position.side {
                    Side::Buy => "current bid",
                    Side::Sell => "current ask",
                };
                check_levels(position.side, sl, tp, exit.value(), what)?;
            }
            None => {
                if let (Some(sl), Some(tp)) = (sl, tp) {
                    check_levels(position.side, Some(sl), None, tp.value(), "take profit")?;
                }
            }
        }
        let position = self.positions.get_mut(&id).ok_or(VenueError::UnknownPosition(id))?;
        position.sl = sl;
        position.tp = tp;
        Ok(position.clone())
    }

    fn last_price(&self, symbol: &Symbol) -> Option<Price> {
        self.prices.get(symbol).copied()
    }

    fn positions(&self) -> Vec<Position> {
        self.positions.values().cloned().collect()
    }

    fn open_positions(&self) -> Box<dyn Iterator<Item = &Position> + '_> {
        Box::new(self.positions.values())
    }

    fn has_open_positions(&self) -> bool {
        !self.positions.is_empty()
    }

    /// Open positions are valued at their exit side without slippage; a symbol never marked
    /// counts as 0.
    fn account(&self) -> Account {
        // Summed as decimals and made money once (money normalizes on every addition).
        let unrealized = Money::from_decimal(
            self.positions
                .values()
                .filter_map(|p| {
                    self.valuation(p).map(|(exit, spec)| spec.pnl(p.side, p.lots, p.entry_price, exit).value())
                })
                .sum(),
        );
        let balance = self.initial_balance + self.realized;
        Account { balance, equity: balance + unrealized, realized: self.realized, unrealized }
    }

    /// Replaces the open positions, realized P&L and last prices; new ids continue after the
    /// highest id ever used, open or closed.
    fn restore(
        &mut self,
        positions: Vec<Position>,
        realized: Money,
        prices: BTreeMap<Symbol, Price>,
        max_position_id: u64,
    ) {
        self.positions = positions.into_iter().map(|p| (p.id, p)).collect();
        self.realized = realized;
        self.prices = prices;
        let highest_open = self.positions.keys().next_back().map_or(0, |id| id.0);
        self.next_position_id = self.next_position_id.max(highest_open.max(max_position_id).saturating_add(1));
    }
}
