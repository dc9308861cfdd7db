//! Builders shared by the store and inbox tests.

#![allow(dead_code, reason = "each test binary uses a different part of the kit")]
#![allow(clippy::unwrap_used, reason = "test builders: a bad literal is a bug in the test itself")]

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use zepix_model::signal::parse_alert;
use zepix_model::{
    CloseReason, Money, Order, OrderId, OrderRequest, OrderStatus, PluginId, Position, PositionId, Side, Signal,
    SignalId, Symbol, Trade,
};

/// 2023-11-14T22:13:20Z plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

pub fn signal(id: &str) -> Signal {
    let body = json!({
        "id": id, "strategy": "v3_combined", "tf": "15", "symbol": "XAUUSD", "side": "buy", "price": "2000.5",
        "sl": {"pips": 25}, "tp": ["2010", {"pips": 50}], "lot": "0.10", "adx": 31.5, "timestamp": "2023-11-14T22:13:20Z"
    });
    parse_alert(body.to_string().as_bytes(), at(0)).unwrap().signal
}

pub fn sid(id: &str) -> SignalId {
    SignalId::new(id).unwrap()
}

pub fn plugin(id: &str) -> PluginId {
    PluginId::new(id).unwrap()
}

pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

pub fn position(id: u64, owner: &str, opened: i64) -> Position {
    Position {
        id: PositionId(id),
        plugin: plugin(owner),
        order_id: OrderId(id * 10),
        signal_id: Some(sid(&format!("s{id}"))),
        symbol: Symbol::new("XAUUSD").unwrap(),
        side: Side::Buy,
        lots: "0.1".parse().unwrap(),
        entry_price: "2000.5".parse().unwrap(),
        sl: Some("1990".parse().unwrap()),
        tp: None,
        opened_at: at(opened),
    }
}

pub fn trade(position: Position, pnl: &str, closed: DateTime<Utc>) -> Trade {
    Trade {
        position,
        exit_price: "2010.25".parse().unwrap(),
        closed_at: closed,
        pnl: Money::from_decimal(dec(pnl)),
        pips: dec("97.5"),
        reason: CloseReason::TakeProfit,
    }
}

pub fn order(id: u64, owner: &str, status: OrderStatus) -> Order {
    Order {
        id: OrderId(id),
        plugin: plugin(owner),
        signal_id: Some(sid(&format!("s{id}"))),
        request: OrderRequest {
            symbol: Symbol::new("EURUSD").unwrap(),
            side: Side::Sell,
            lots: "0.25".parse().unwrap(),
            sl: Some("1.1050".parse().unwrap()),
            tp: Some("1.0950".parse().unwrap()),
            price: None,
            comment: "breakout".into(),
        },
        status,
        reason: (status == OrderStatus::Rejected).then(|| "max_positions: too many".to_owned()),
        created_at: at(5),
    }
}
