//! Operator inputs that are not trading: events written on an operator's behalf (Telegram
//! commands) and trends set by hand.

use serde_json::json;
use zepix_model::{Event, EventKind, Symbol, Timeframe, Trend};

use super::Kernel;
use crate::ports::StoreOp;

impl Kernel {
    /// Records an operator's event as given, in order with the kernel's own.
    pub fn record_event(&mut self, event: Event) {
        self.services.record(StoreOp::Event(Box::new(event)));
    }

    /// Sets a trend by hand: stored, and recorded as an event when it changed.
    pub fn set_trend(&mut self, symbol: Symbol, timeframe: Timeframe, trend: Trend) {
        let at = self.services.now();
        let changed = self.services.trends_mut().set(symbol.clone(), timeframe, trend, Some(at));
        self.services.record(StoreOp::Trend { symbol: symbol.clone(), timeframe, trend, at });
        if changed {
            self.services.event(
                EventKind::Command,
                None,
                format!("{symbol} {timeframe} trend set to {trend} by an operator"),
                json!({"symbol": symbol, "timeframe": timeframe, "trend": trend}),
            );
        }
    }
}
