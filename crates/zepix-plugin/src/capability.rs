//! Capabilities a manifest declares, and the services they grant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A permission a plugin asks for in its manifest. Calls outside them are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Place, modify and close orders.
    Orders,
    /// List positions.
    Positions,
    /// Lot sizing and risk state.
    Risk,
    /// Last prices and bars.
    MarketData,
    /// Read the trend manager.
    Trend,
    /// Send notifications.
    Notify,
    /// The plugin's own SQLite database.
    Db,
    /// Re-entry chains.
    Reentry,
    /// Dual orders.
    DualOrder,
    /// Profit booking chains.
    ProfitBooking,
    /// Safety checks.
    Safety,
    /// Emit signals into the inbox.
    Signals,
}

impl Capability {
    /// Every capability, in a stable order.
    pub const ALL: [Self; 12] = [
        Self::Orders,
        Self::Positions,
        Self::Risk,
        Self::MarketData,
        Self::Trend,
        Self::Notify,
        Self::Db,
        Self::Reentry,
        Self::DualOrder,
        Self::ProfitBooking,
        Self::Safety,
        Self::Signals,
    ];

    /// The snake-case name used in manifests.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Positions => "positions",
            Self::Risk => "risk",
            Self::MarketData => "market_data",
            Self::Trend => "trend",
            Self::Notify => "notify",
            Self::Db => "db",
            Self::Reentry => "reentry",
            Self::DualOrder => "dual_order",
            Self::ProfitBooking => "profit_booking",
            Self::Safety => "safety",
            Self::Signals => "signals",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
            format!("one of {}", names.join(", "))
        })
    }
}

/// A service of the plugin context, for metrics and health. Each maps to the capability it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// Orders.
    Orders,
    /// Positions.
    Positions,
    /// Risk and lot sizing.
    Risk,
    /// Market prices.
    Market,
    /// Trend manager.
    Trend,
    /// Notifications.
    Notify,
    /// The plugin database.
    Db,
    /// Emitting signals (strategy plugins).
    Signals,
    /// Dual orders.
    DualOrder,
    /// Profit-booking chains.
    ProfitBooking,
    /// Re-entry chains.
    Reentry,
    /// Recovery checks.
    Safety,
}

impl Service {
    /// Every service, in a stable order.
    pub const ALL: [Self; 12] = [
        Self::Orders,
        Self::Positions,
        Self::Risk,
        Self::Market,
        Self::Trend,
        Self::Notify,
        Self::Db,
        Self::Signals,
        Self::DualOrder,
        Self::ProfitBooking,
        Self::Reentry,
        Self::Safety,
    ];

    /// The capability a call to this service needs.
    #[must_use]
    pub const fn capability(self) -> Capability {
        match self {
            Self::Orders => Capability::Orders,
            Self::Positions => Capability::Positions,
            Self::Risk => Capability::Risk,
            Self::Market => Capability::MarketData,
            Self::Trend => Capability::Trend,
            Self::Notify => Capability::Notify,
            Self::Db => Capability::Db,
            Self::Signals => Capability::Signals,
            Self::DualOrder => Capability::DualOrder,
            Self::ProfitBooking => Capability::ProfitBooking,
            Self::Reentry => Capability::Reentry,
            Self::Safety => Capability::Safety,
        }
    }

    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Positions => "positions",
            Self::Risk => "risk",
            Self::Market => "market",
            Self::Trend => "trend",
            Self::Notify => "notify",
            Self::Db => "db",
            Self::Signals => "signals",
            Self::DualOrder => "dual_order",
            Self::ProfitBooking => "profit_booking",
            Self::Reentry => "reentry",
            Self::Safety => "safety",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
