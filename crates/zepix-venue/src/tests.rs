//! The paper venue as a trader sees it: fills, stops and targets, P&L, errors and restarts.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use zepix_engine::risk::approve_for_tests;
use zepix_engine::{OrderTicket, RiskApproved, Venue, VenueError};
use zepix_model::{
    CloseReason, Lots, Money, OrderId, OrderRequest, PluginId, Position, PositionId, Price, Side, Symbol, SymbolTable,
    Trade,
};

use crate::{PaperConfig, PaperVenue};

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::minutes(minute)
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn p(text: &str) -> Price {
    text.parse().unwrap()
}

fn money(text: &str) -> Money {
    Money::from_decimal(d(text))
}

fn sym(name: &str) -> Symbol {
    Symbol::new(name).unwrap()
}

fn venue(spread_pips: &str, slippage_pips: &str) -> PaperVenue {
    let config = PaperConfig { spread_pips: d(spread_pips), slippage_pips: d(slippage_pips), ..PaperConfig::default() };
    PaperVenue::new(config, SymbolTable::default())
}

/// A market order builder: `order("XAUUSD", Side::Buy, "0.1").at("2000").sl("1995")`.
struct Order(OrderRequest);

fn order(symbol: &str, side: Side, lots: &str) -> Order {
    Order(OrderRequest {
        symbol: sym(symbol),
        side,
        lots: lots.parse().unwrap(),
        sl: None,
        tp: None,
        price: None,
        comment: String::new(),
    })
}

impl Order {
    fn at(mut self, price: &str) -> Self {
        self.0.price = Some(p(price));
        self
    }
    fn sl(mut self, price: &str) -> Self {
        self.0.sl = Some(p(price));
        self
    }
    fn tp(mut self, price: &str) -> Self {
        self.0.tp = Some(p(price));
        self
    }
    fn approved(self) -> RiskApproved<OrderTicket> {
        approve_for_tests(OrderTicket {
            id: OrderId(42),
            plugin: PluginId::new("scalper").unwrap(),
            signal_id: None,
            request: self.0,
        })
    }
}

fn open(venue: &mut PaperVenue, order: Order) -> Position {
    venue.execute(order.approved(), at(0)).unwrap().position
}

fn mark(venue: &mut PaperVenue, symbol: &str, mid: &str, minute: i64) -> Vec<Trade> {
    venue.mark(&sym(symbol), p(mid), at(minute))
}

fn restored(id: u64, symbol: &str, side: Side, lots: &str, entry: &str) -> Position {
    Position {
        id: PositionId(id),
        plugin: PluginId::new("scalper").unwrap(),
        order_id: OrderId(id),
        signal_id: None,
        symbol: sym(symbol),
        side,
        lots: lots.parse().unwrap(),
        entry_price: p(entry),
        sl: None,
        tp: None,
        opened_at: at(0),
    }
}

#[test]
fn fills_pay_half_the_spread_and_the_slippage_on_both_sides() {
    // Gold: 4 pips of 0.1 → half spread 0.2; 1 pip of slippage → 0.1.
    let mut venue = venue("4", "1");
    let buy = venue.execute(order("XAUUSD", Side::Buy, "1").at("2000").approved(), at(0)).unwrap();
    assert_eq!(buy.fill.price, p("2000.3"));
    assert_eq!(buy.fill.side, Side::Buy);
    assert_eq!(buy.fill.order_id, OrderId(42));
    assert_eq!(buy.fill.position_id, PositionId(1));
    assert_eq!(buy.fill.at, at(0));
    assert_eq!(buy.position.entry_price, p("2000.3"));
    assert_eq!(buy.position.plugin.as_str(), "scalper");
    let sell = venue.execute(order("XAUUSD", Side::Sell, "1").approved(), at(1)).unwrap();
    assert_eq!(sell.fill.price, p("1999.7"), "no price on the ticket: the last price, 2000");
    assert_eq!(sell.position.id, PositionId(2));
    assert_eq!(sell.position.opened_at, at(1));

    // Valued at the other side without slippage: the buy at the bid 1999.8, the sell at the ask 2000.2.
    let account = venue.account();
    assert_eq!(account.unrealized, money("-100"));
    assert_eq!(account.balance, money("10000"));
    assert_eq!(account.equity, money("9900"));

    // Closed at the other side with slippage: the buy at 1999.7, the sell at 2000.3.
    let closed_buy = venue.close(PositionId(1), CloseReason::Manual, at(2)).unwrap();
    assert_eq!((closed_buy.exit_price, closed_buy.pnl, closed_buy.pips), (p("1999.7"), money("-60"), d("-6")));
    assert_eq!(closed_buy.reason, CloseReason::Manual);
    assert_eq!(closed_buy.closed_at, at(2));
    let closed_sell = venue.close(PositionId(2), CloseReason::Signal, at(2)).unwrap();
    assert_eq!((closed_sell.exit_price, closed_sell.pnl, closed_sell.pips), (p("2000.3"), money("-60"), d("-6")));
    let account = venue.account();
    assert_eq!((account.balance, account.realized, account.unrealized), (money("9880"), money("-120"), Money::ZERO));
    assert_eq!(account.equity, money("9880"));
    assert!(venue.positions().is_empty());
}

#[test]
fn a_symbol_spread_overrides_the_default() {
    let config = PaperConfig {
        spread_pips: d("4"),
        spreads: BTreeMap::from([("oanda:eurusd".to_owned(), d("2"))]),
        ..PaperConfig::default()
    };
    let mut venue = PaperVenue::new(config, SymbolTable::default());
    assert_eq!(open(&mut venue, order("EURUSD", Side::Buy, "1").at("1.1")).entry_price, p("1.1001"));
    assert_eq!(open(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000")).entry_price, p("2000.2"));
}

#[test]
fn a_buy_stop_triggers_at_the_bid_and_a_gap_fills_at_the_worse_price() {
    // 2 pips of gold → bid = mid − 0.1.
    let mut venue = venue("2", "0");
    let first = open(&mut venue, order("XAUUSD", Side::Buy, "0.1").at("2000").sl("1995").tp("2010"));
    assert_eq!(first.entry_price, p("2000.1"));
    assert!(mark(&mut venue, "XAUUSD", "1995.2", 1).is_empty(), "bid 1995.1 is above the stop");
    let trades = mark(&mut venue, "XAUUSD", "1995.1", 2);
    assert_eq!(trades.len(), 1);
    let stop = &trades[0];
    assert_eq!((stop.position.id, stop.reason), (first.id, CloseReason::StopLoss));
    assert_eq!((stop.exit_price, stop.pnl, stop.pips), (p("1995"), money("-51"), d("-51")));
    assert_eq!(stop.closed_at, at(2));

    let second = open(&mut venue, order("XAUUSD", Side::Buy, "0.1").at("2000").sl("1995"));
    let trades = mark(&mut venue, "XAUUSD", "1990", 3);
    assert_eq!(trades.len(), 1);
    let gap = &trades[0];
    assert_eq!((gap.position.id, gap.reason), (second.id, CloseReason::StopLoss));
    assert_eq!((gap.exit_price, gap.pnl, gap.pips), (p("1989.9"), money("-102"), d("-102")));
    assert_eq!(venue.account().balance, money("9847"));
}

#[test]
fn a_buy_target_fills_at_its_level() {
    let mut venue = venue("2", "0");
    open(&mut venue, order("XAUUSD", Side::Buy, "0.1").at("2000").sl("1990").tp("2010"));
    assert!(mark(&mut venue, "XAUUSD", "2010", 1).is_empty(), "bid 2009.9 is below the target");
    let trades = mark(&mut venue, "XAUUSD", "2030", 2);
    assert_eq!(trades.len(), 1);
    let target = &trades[0];
    assert_eq!(target.reason, CloseReason::TakeProfit);
    assert_eq!((target.exit_price, target.pnl, target.pips), (p("2010"), money("99"), d("99")));
    assert_eq!(venue.account().balance, money("10099"));
}

#[test]
fn a_sell_stop_and_target_trigger_at_the_ask() {
    // 2 pips of gold → ask = mid + 0.1; a sell fills at the bid, 1999.9.
    let mut venue = venue("2", "0");
    open(&mut venue, order("XAUUSD", Side::Sell, "0.1").at("2000").sl("2005").tp("1990"));
    assert!(mark(&mut venue, "XAUUSD", "2004.8", 1).is_empty(), "ask 2004.9 is below the stop");
    let stop = mark(&mut venue, "XAUUSD", "2004.9", 2);
    assert_eq!(stop.len(), 1);
    assert_eq!(stop[0].reason, CloseReason::StopLoss);
    assert_eq!((stop[0].exit_price, stop[0].pnl, stop[0].pips), (p("2005"), money("-51"), d("-51")));

    open(&mut venue, order("XAUUSD", Side::Sell, "0.1").at("2000").sl("2005"));
    let gap = mark(&mut venue, "XAUUSD", "2020", 3);
    assert_eq!(gap.len(), 1);
    assert_eq!((gap[0].exit_price, gap[0].pnl, gap[0].reason), (p("2020.1"), money("-202"), CloseReason::StopLoss));

    open(&mut venue, order("XAUUSD", Side::Sell, "0.1").at("2000").sl("2010").tp("1990"));
    assert!(mark(&mut venue, "XAUUSD", "1990", 4).is_empty(), "ask 1990.1 is above the target");
    let target = mark(&mut venue, "XAUUSD", "1980", 5);
    assert_eq!(target.len(), 1);
    assert_eq!(target[0].reason, CloseReason::TakeProfit);
    assert_eq!((target[0].exit_price, target[0].pnl, target[0].pips), (p("1990"), money("99"), d("99")));
    assert_eq!(venue.account().balance, money("9846"));
}

#[test]
fn the_stop_wins_when_stop_and_target_both_trigger() {
    let mut venue = venue("0", "0");
    let buy = Position { sl: Some(p("1999")), tp: Some(p("1995")), ..restored(1, "XAUUSD", Side::Buy, "1", "2000") };
    let sell = Position { sl: Some(p("1.101")), tp: Some(p("1.105")), ..restored(2, "EURUSD", Side::Sell, "1", "1.1") };
    venue.restore(vec![buy, sell], Money::ZERO, BTreeMap::new(), 0);
    let gold = mark(&mut venue, "XAUUSD", "1996", 1);
    assert_eq!((gold[0].reason, gold[0].exit_price, gold[0].pnl), (CloseReason::StopLoss, p("1996"), money("-400")));
    let euro = mark(&mut venue, "EURUSD", "1.103", 1);
    assert_eq!((euro[0].reason, euro[0].exit_price, euro[0].pnl), (CloseReason::StopLoss, p("1.103"), money("-300")));
    assert_eq!(euro[0].pips, d("-30"));
}

#[test]
fn a_mark_closes_only_its_symbol_in_id_order() {
    let mut venue = venue("0", "0");
    open(&mut venue, order("XAUUSD", Side::Buy, "0.1").at("2000").sl("1990"));
    open(&mut venue, order("EURUSD", Side::Buy, "1").at("1.1").sl("1.09"));
    open(&mut venue, order("XAUUSD", Side::Buy, "0.2").at("2000").sl("1995"));
    let trades = mark(&mut venue, "XAUUSD", "1980", 1);
    let ids: Vec<_> = trades.iter().map(|t| t.position.id).collect();
    assert_eq!(ids, [PositionId(1), PositionId(3)]);
    assert_eq!(trades[0].pnl + trades[1].pnl, money("-600"));
    let open_ids: Vec<_> = venue.positions().iter().map(|p| p.id).collect();
    assert_eq!(open_ids, [PositionId(2)]);
}

#[test]
fn gold_pnl_uses_a_contract_of_100_ounces() {
    let mut venue = venue("0", "0");
    open(&mut venue, order("XAUUSD", Side::Buy, "0.25").at("2350.55"));
    mark(&mut venue, "XAUUSD", "2361.85", 1);
    assert_eq!(venue.account().unrealized, money("282.5"));
    let trade = venue.close(PositionId(1), CloseReason::Signal, at(2)).unwrap();
    assert_eq!((trade.pnl, trade.pips), (money("282.5"), d("113")));
    assert_eq!(venue.account().equity, money("10282.5"));
}

#[test]
fn yen_pnl_is_divided_by_the_exit_price() {
    let mut venue = venue("0", "0");
    open(&mut venue, order("USDJPY", Side::Buy, "1").at("150"));
    open(&mut venue, order("USDJPY", Side::Sell, "1").at("150"));
    mark(&mut venue, "USDJPY", "151", 1);
    let buy = venue.close(PositionId(1), CloseReason::Manual, at(1)).unwrap();
    // 1 yen × 100 000 = 100 000 JPY = 100 000 / 151 USD.
    assert_eq!((buy.pnl, buy.pips), (money("662.25165563"), d("100")));
    mark(&mut venue, "USDJPY", "149", 2);
    let sell = venue.close(PositionId(2), CloseReason::Manual, at(2)).unwrap();
    assert_eq!((sell.pnl, sell.pips), (money("671.1409396"), d("100")));
    assert_eq!(venue.account().balance, money("11333.39259523"));
}

#[test]
fn pips_are_rounded_to_one_decimal() {
    let mut venue = venue("0", "0");
    // 12.45 pips: a half rounds away from zero, as a trader would read it.
    open(&mut venue, order("EURUSD", Side::Buy, "1").at("1.100035"));
    mark(&mut venue, "EURUSD", "1.10128", 1);
    let trade = venue.close(PositionId(1), CloseReason::Manual, at(1)).unwrap();
    assert_eq!((trade.pnl, trade.pips), (money("124.5"), d("12.5")));
    open(&mut venue, order("EURUSD", Side::Sell, "1").at("1.10003"));
    mark(&mut venue, "EURUSD", "1.100072", 2);
    let trade = venue.close(PositionId(2), CloseReason::Manual, at(2)).unwrap();
    assert_eq!((trade.pnl, trade.pips), (money("-4.2"), d("-0.4")));
}

#[test]
fn refusals_say_why() {
    let mut venue = venue("2", "0");
    assert_eq!(
        venue.execute(order("XAUUSD", Side::Buy, "1").approved(), at(0)),
        Err(VenueError::NoPrice(sym("XAUUSD")))
    );
    assert_eq!(
        venue.execute(order("FOO", Side::Buy, "1").at("10").approved(), at(0)),
        Err(VenueError::UnknownSymbol(sym("FOO")))
    );
    assert_eq!(venue.last_price(&sym("FOO")), None);
    assert_eq!(venue.close(PositionId(9), CloseReason::Manual, at(0)), Err(VenueError::UnknownPosition(PositionId(9))));
    assert_eq!(venue.modify(PositionId(9), None, None), Err(VenueError::UnknownPosition(PositionId(9))));

    let refused = |venue: &mut PaperVenue, order: Order| match venue.execute(order.approved(), at(0)) {
        Err(VenueError::InvalidLevels(message)) => message,
        other => panic!("expected invalid levels, got {other:?}"),
    };
    assert_eq!(
        refused(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000").sl("2000.1")),
        "buy stop loss 2000.1 must be below the fill price 2000.1"
    );
    assert_eq!(
        refused(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000").tp("2000.05")),
        "buy take profit 2000.05 must be above the fill price 2000.1"
    );
    assert_eq!(
        refused(&mut venue, order("XAUUSD", Side::Sell, "1").at("2000").sl("1999.8")),
        "sell stop loss 1999.8 must be above the fill price 1999.9"
    );
    assert_eq!(
        refused(&mut venue, order("XAUUSD", Side::Sell, "1").at("2001").tp("2000.9")),
        "sell take profit 2000.9 must be below the fill price 2000.9"
    );
    assert!(venue.positions().is_empty());
    assert_eq!(venue.last_price(&sym("XAUUSD")), Some(p("2001")), "the ticket's price is still the market's");
    assert_eq!(open(&mut venue, order("XAUUSD", Side::Buy, "1")).id, PositionId(1), "no id was used up");
}

#[test]
fn closing_needs_a_price() {
    let mut venue = venue("0", "0");
    venue.restore(vec![restored(3, "XAUUSD", Side::Buy, "1", "2000")], Money::ZERO, BTreeMap::new(), 0);
    assert_eq!(venue.close(PositionId(3), CloseReason::Manual, at(0)), Err(VenueError::NoPrice(sym("XAUUSD"))));
    assert_eq!(venue.positions().len(), 1);
}

#[test]
fn modify_replaces_the_levels_on_the_right_side_of_the_market() {
    let mut venue = venue("2", "0");
    let position = open(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000").sl("1990"));
    let moved = venue.modify(position.id, Some(p("1995")), Some(p("2020"))).unwrap();
    assert_eq!((moved.sl, moved.tp), (Some(p("1995")), Some(p("2020"))));
    assert_eq!(venue.positions()[0], moved);

    mark(&mut venue, "XAUUSD", "2002", 1);
    assert_eq!(
        venue.modify(position.id, Some(p("2002")), None),
        Err(VenueError::InvalidLevels("buy stop loss 2002 must be below the current bid 2001.9".into()))
    );
    assert_eq!(
        venue.modify(position.id, None, Some(p("2001.9"))),
        Err(VenueError::InvalidLevels("buy take profit 2001.9 must be above the current bid 2001.9".into()))
    );
    assert_eq!(venue.positions()[0].sl, Some(p("1995")), "a refused change keeps the old levels");
    let breakeven = venue.modify(position.id, Some(p("2000.1")), None).unwrap();
    assert_eq!((breakeven.sl, breakeven.tp), (Some(p("2000.1")), None));
    let bare = venue.modify(position.id, None, None).unwrap();
    assert_eq!((bare.sl, bare.tp), (None, None));
    assert!(mark(&mut venue, "XAUUSD", "1900", 2).is_empty(), "no levels, nothing triggers");

    let sell = open(&mut venue, order("XAUUSD", Side::Sell, "1").at("1900"));
    assert_eq!(
        venue.modify(sell.id, None, Some(p("1900.1"))),
        Err(VenueError::InvalidLevels("sell take profit 1900.1 must be below the current ask 1900.1".into()))
    );
    let trailed = venue.modify(sell.id, Some(p("1905")), Some(p("1890"))).unwrap();
    assert_eq!((trailed.sl, trailed.tp), (Some(p("1905")), Some(p("1890"))));
}

#[test]
fn modify_without_a_price_keeps_the_stop_on_its_side_of_the_target() {
    let mut venue = venue("0", "0");
    venue.restore(vec![restored(1, "XAUUSD", Side::Buy, "1", "2000")], Money::ZERO, BTreeMap::new(), 0);
    assert_eq!(
        venue.modify(PositionId(1), Some(p("2000")), Some(p("1990"))),
        Err(VenueError::InvalidLevels("buy stop loss 2000 must be below the take profit 1990".into()))
    );
    let moved = venue.modify(PositionId(1), Some(p("2010")), None).unwrap();
    assert_eq!(moved.sl, Some(p("2010")), "with no market price, one level alone cannot be checked");
}

#[test]
fn restore_continues_ids_balance_and_prices() {
    let mut venue = venue("0", "0");
    let prices = BTreeMap::from([(sym("XAUUSD"), p("2010"))]);
    venue.restore(
        vec![restored(7, "EURUSD", Side::Sell, "1", "1.1"), restored(4, "XAUUSD", Side::Buy, "0.1", "2000")],
        money("250"),
        prices,
        20,
    );
    let ids: Vec<_> = venue.positions().iter().map(|p| p.id).collect();
    assert_eq!(ids, [PositionId(4), PositionId(7)]);
    assert_eq!(venue.last_price(&sym("XAUUSD")), Some(p("2010")));
    let account = venue.account();
    // Gold +10 × 0.1 × 100 = 100; the euro position has no price yet and counts 0.
    assert_eq!((account.balance, account.realized), (money("10250"), money("250")));
    assert_eq!((account.unrealized, account.equity), (money("100"), money("10350")));

    let next = venue.execute(order("XAUUSD", Side::Buy, "0.1").approved(), at(1)).unwrap();
    assert_eq!(next.position.id, PositionId(21), "ids continue after the highest ever used, closed ones too");
    assert_eq!(next.fill.price, p("2010"));

    let trade = venue.close(PositionId(4), CloseReason::Manual, at(2)).unwrap();
    assert_eq!(trade.pnl, money("100"));
    assert_eq!(venue.account().balance, money("10350"));
}

#[test]
fn the_venue_is_called_paper() {
    assert_eq!(venue("0", "0").name(), "paper");
}

// ---------------------------------------------------------------------------------------------
// Property: the account always adds up.

/// Symbols the property trades: name, a mid price to wander around, and its pip.
const MARKETS: [(&str, i64, u32, i64, u32); 3] =
    [("XAUUSD", 2000, 0, 1, 1), ("EURUSD", 11, 1, 1, 4), ("USDJPY", 150, 0, 1, 2)];

fn mid(market: usize, ticks: i64) -> Price {
    let (_, base, base_scale, pip, pip_scale) = MARKETS[market];
    Price::new(Decimal::new(base, base_scale) + Decimal::new(pip, pip_scale) * Decimal::from(ticks)).unwrap()
}

fn pip(market: usize) -> Decimal {
    let (_, _, _, pip, pip_scale) = MARKETS[market];
    Decimal::new(pip, pip_scale)
}

#[derive(Debug, Clone)]
enum Op {
    Open { market: usize, buy: bool, lots: i64, ticks: Option<i64>, sl_pips: Option<i64>, tp_pips: Option<i64> },
    Mark { market: usize, ticks: i64 },
    Close { nth: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..3usize, any::<bool>(), 1..=100i64, proptest::option::of(-500..500i64), proptest::option::of(1..300i64), proptest::option::of(1..300i64))
            .prop_map(|(market, buy, lots, ticks, sl_pips, tp_pips)| Op::Open { market, buy, lots, ticks, sl_pips, tp_pips }),
        2 => (0..3usize, -500..500i64).prop_map(|(market, ticks)| Op::Mark { market, ticks }),
        1 => (0..8usize).prop_map(|nth| Op::Close { nth }),
    ]
}

fn apply(venue: &mut PaperVenue, op: &Op, minute: i64) -> Result<Vec<Trade>, TestCaseError> {
    let now = at(minute);
    match *op {
        Op::Open { market, buy, lots, ticks, sl_pips, tp_pips } => {
            let symbol = sym(MARKETS[market].0);
            let side = if buy { Side::Buy } else { Side::Sell };
            let reference = ticks.map(|t| mid(market, t)).or_else(|| venue.last_price(&symbol));
            let level = |pips: Option<i64>, sign: Decimal| {
                let reference = reference?.value();
                Price::new(reference + sign * side.sign() * pip(market) * Decimal::from(pips?)).ok()
            };
            let request = OrderRequest {
                symbol,
                side,
                lots: Lots::new(Decimal::new(lots, 2)).unwrap(),
                sl: level(sl_pips, Decimal::NEGATIVE_ONE),
                tp: level(tp_pips, Decimal::ONE),
                price: ticks.map(|t| mid(market, t)),
                comment: String::new(),
            };
            let before = venue.positions().len();
            let ticket =
                OrderTicket { id: OrderId(1), plugin: PluginId::new("prop").unwrap(), signal_id: None, request };
            match venue.execute(approve_for_tests(ticket), now) {
                Ok(execution) => prop_assert_eq!(venue.positions().pop(), Some(execution.position)),
                Err(VenueError::NoPrice(_) | VenueError::InvalidLevels(_)) => {
                    prop_assert_eq!(venue.positions().len(), before);
                }
                Err(other) => prop_assert!(false, "unexpected refusal {other}"),
            }
            Ok(Vec::new())
        }
        Op::Mark { market, ticks } => Ok(venue.mark(&sym(MARKETS[market].0), mid(market, ticks), now)),
        Op::Close { nth } => {
            let positions = venue.positions();
            if positions.is_empty() {
                return Ok(Vec::new());
            }
            let id = positions[nth % positions.len()].id;
            let trade = venue.close(id, CloseReason::Manual, now);
            prop_assert!(trade.is_ok(), "every open position has a price: {trade:?}");
            Ok(trade.into_iter().collect())
        }
    }
}

proptest! {
    #[test]
    fn the_account_adds_up(
        spread in 0..50i64,
        slippage in 0..4i64,
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let initial = Money::from_decimal(Decimal::from(10_000));
        let config = PaperConfig {
            spread_pips: Decimal::new(spread, 1),
            slippage_pips: Decimal::from(slippage),
            ..PaperConfig::default()
        };
        let mut venue = PaperVenue::new(config, SymbolTable::default());
        let mut realized = Money::ZERO;
        for (minute, op) in (0..).zip(&ops) {
            for trade in apply(&mut venue, op, minute)? {
                realized += trade.pnl;
            }
            let account = venue.account();
            prop_assert_eq!(account.equity, account.balance + account.unrealized);
            prop_assert_eq!(account.balance, initial + realized);
            prop_assert_eq!(account.realized, realized);
        }

        let unrealized = venue.account().unrealized;
        let mut closing = Money::ZERO;
        for position in venue.positions() {
            let trade = venue.close(position.id, CloseReason::Manual, at(1_000));
            prop_assert!(trade.is_ok(), "every open position has a price: {trade:?}");
            if let Ok(trade) = trade {
                closing += trade.pnl;
            }
        }
        realized += closing;
        if slippage == 0 {
            prop_assert_eq!(closing, unrealized, "without slippage, closing realizes exactly the unrealized P&L");
        }
        let account = venue.account();
        prop_assert!(venue.positions().is_empty());
        prop_assert_eq!(account.unrealized, Money::ZERO);
        prop_assert_eq!(account.balance, initial + realized);
        prop_assert_eq!(account.equity, account.balance);
    }
}

fn bar(open: &str, high: &str, low: &str, close: &str) -> zepix_model::Bar {
    zepix_model::Bar::new(at(1), p(open), p(high), p(low), p(close), Decimal::ZERO).unwrap()
}

#[test]
fn a_bar_fills_levels_inside_its_range_at_the_level_and_the_stop_first_when_both() {
    let mut venue = venue("0", "0");
    // Gold, 1 lot = 100 oz. #1 is reached by the high only, #2 by both ends, #3 by the low only.
    open(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000").sl("1990").tp("2005"));
    open(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000").sl("1995").tp("2004"));
    open(&mut venue, order("XAUUSD", Side::Sell, "1").at("2000").sl("2010").tp("1996"));
    let trades = venue.mark_bar(&sym("XAUUSD"), &bar("2001", "2006", "1994", "2002"), at(1));
    let got: Vec<_> = trades.iter().map(|t| (t.position.id.0, t.exit_price, t.reason, t.pnl)).collect();
    assert_eq!(
        got,
        [
            (1, p("2005"), CloseReason::TakeProfit, money("500")),
            (2, p("1995"), CloseReason::StopLoss, money("-500")),
            (3, p("1996"), CloseReason::TakeProfit, money("400")),
        ]
    );
    assert_eq!(venue.last_price(&sym("XAUUSD")), Some(p("2002")), "the close is the last price");
}

#[test]
fn a_bar_that_opens_beyond_a_stop_fills_it_at_the_open() {
    let mut venue = venue("0", "0");
    open(&mut venue, order("XAUUSD", Side::Buy, "1").at("2000").sl("1995"));
    let trades = venue.mark_bar(&sym("XAUUSD"), &bar("1990", "1999", "1985", "1998"), at(1));
    assert_eq!(trades.len(), 1);
    assert_eq!((trades[0].exit_price, trades[0].reason), (p("1990"), CloseReason::StopLoss), "gapped through");
    let none = venue.mark_bar(&sym("XAUUSD"), &bar("1998", "1999", "1997", "1998"), at(2));
    assert!(none.is_empty());
}

#[test]
fn commission_is_charged_per_lot_for_both_sides_at_the_close() {
    let config = PaperConfig { commission_per_lot: d("3.5"), ..PaperConfig::default() };
    let mut venue = PaperVenue::new(config, SymbolTable::default());
    open(&mut venue, order("XAUUSD", Side::Buy, "0.5").at("2000").tp("2001"));
    let trades = mark(&mut venue, "XAUUSD", "2001", 1);
    // 0.5 lot × 100 oz × 1.0 = 50, minus 2 sides × 3.5 × 0.5 lot = 3.5.
    assert_eq!(trades[0].pnl, money("46.5"));
    assert_eq!(venue.account().balance, money("10046.5"));
    let bad = PaperConfig { commission_per_lot: d("-1"), ..PaperConfig::default() };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("commission_per_lot"), "{e}");
}
