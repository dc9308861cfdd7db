//! Orders, fills, positions, closed trades and the account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Lots, Money, OrderId, PluginId, PositionId, Price, Side, SignalId, Symbol};

/// What a plugin asks the engine to execute: a market order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Instrument.
    pub symbol: Symbol,
    /// Direction.
    pub side: Side,
    /// Size.
    pub lots: Lots,
    /// Stop-loss price.
    pub sl: Option<Price>,
    /// Take-profit price.
    pub tp: Option<Price>,
    /// The price the signal saw; the paper venue fills there when given.
    pub price: Option<Price>,
    /// Free text stored with the order.
    #[serde(default)]
    pub comment: String,
}

/// An order's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Executed.
    Filled,
    /// Refused by the risk gate or the venue.
    Rejected,
}

/// An order as recorded by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Engine-assigned id.
    pub id: OrderId,
    /// Owner.
    pub plugin: PluginId,
    /// The signal it came from.
    pub signal_id: Option<SignalId>,
    /// What was asked.
    pub request: OrderRequest,
    /// Outcome.
    pub status: OrderStatus,
    /// Why it was rejected (a reason code and text).
    pub reason: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// An execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The order filled.
    pub order_id: OrderId,
    /// The position opened or closed.
    pub position_id: PositionId,
    /// Instrument.
    pub symbol: Symbol,
    /// Direction of this execution.
    pub side: Side,
    /// Size.
    pub lots: Lots,
    /// Execution price.
    pub price: Price,
    /// When.
    pub at: DateTime<Utc>,
}

/// An open position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Engine-assigned id.
    pub id: PositionId,
    /// Owner.
    pub plugin: PluginId,
    /// The order that opened it.
    pub order_id: OrderId,
    /// The signal that opened it.
    pub signal_id: Option<SignalId>,
    /// Instrument.
    pub symbol: Symbol,
    /// Direction.
    pub side: Side,
    /// Size.
    pub lots: Lots,
    /// Fill price.
    pub entry_price: Price,
    /// Stop loss.
    pub sl: Option<Price>,
    /// Take profit.
    pub tp: Option<Price>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
}

/// Why a position was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The stop loss was hit.
    StopLoss,
    /// The take profit was hit.
    TakeProfit,
    /// An exit signal.
    Signal,
    /// A reversal signal closed it before opening the other side.
    Reversal,
    /// A plugin or an operator closed it.
    Manual,
}

impl CloseReason {
    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
            Self::Signal => "signal",
            Self::Reversal => "reversal",
            Self::Manual => "manual",
        }
    }
}

/// A closed position with its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The position as it was when closed.
    pub position: Position,
    /// Exit price.
    pub exit_price: Price,
    /// When it closed.
    pub closed_at: DateTime<Utc>,
    /// Realized profit or loss in account currency.
    pub pnl: Money,
    /// Profit or loss in pips.
    pub pips: rust_decimal::Decimal,
    /// Why it closed.
    pub reason: CloseReason,
}

/// The account as the venue sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Cash balance: starting balance plus realized P&L.
    pub balance: Money,
    /// Balance plus unrealized P&L.
    pub equity: Money,
    /// Realized P&L since start.
    pub realized: Money,
    /// Unrealized P&L of open positions at the last prices.
    pub unrealized: Money,
}
