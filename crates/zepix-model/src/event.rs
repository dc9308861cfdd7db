//! The engine's event log: everything that happened, in order, stored and shown to operators.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::PluginId;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A plugin moved between lifecycle states.
    PluginState,
    /// A plugin call failed.
    PluginError,
    /// An order was placed.
    OrderPlaced,
    /// An order was refused.
    OrderRejected,
    /// A position closed.
    PositionClosed,
    /// Trading state changed (active, paused, halted).
    TradingState,
    /// The daily loss limit was reached.
    DailyLossLimit,
    /// A daily reset happened.
    DailyReset,
    /// A plugin's notification.
    Notify,
    /// Engine start, stop, recovery.
    Engine,
    /// An operator's command (Telegram), allowed or refused.
    Command,
    /// A symbol was locked after a stop loss, or unlocked.
    SymbolLock,
    /// A dual order or a profit chain moved on.
    Chain,
}

impl EventKind {
    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PluginState => "plugin_state",
            Self::PluginError => "plugin_error",
            Self::OrderPlaced => "order_placed",
            Self::OrderRejected => "order_rejected",
            Self::PositionClosed => "position_closed",
            Self::TradingState => "trading_state",
            Self::DailyLossLimit => "daily_loss_limit",
            Self::DailyReset => "daily_reset",
            Self::Notify => "notify",
            Self::Engine => "engine",
            Self::Command => "command",
            Self::SymbolLock => "symbol_lock",
            Self::Chain => "chain",
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// What kind.
    pub kind: EventKind,
    /// Which plugin, if any.
    pub plugin: Option<PluginId>,
    /// One line for a human.
    pub message: String,
    /// Details for machines.
    pub data: serde_json::Value,
}
