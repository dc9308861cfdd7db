//! Dual orders and profit-booking chains as plugins see them (DESIGN §5): the plans a plugin
//! asks for and the state it can list. The engine runs them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use zepix_model::{Lots, Money, PluginId, PositionId, Side, SignalId, Symbol};

/// A level's profit target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Pips from the level's entry.
    Pips(Decimal),
    /// Money across the level's orders, turned into a distance from the level's entry when the
    /// level opens.
    Money(Decimal),
}

/// How a profit chain pyramids: when every order of a level reaches the level's target, the
/// level is booked and the next one opens with more orders; a stop ends the chain; after the last
/// level the chain is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PyramidPlan {
    /// Orders per level.
    pub levels: Vec<u32>,
    /// Each level's profit target.
    pub target: Target,
    /// The chain's stop, in pips against each level's entry: an order stopped there ends the
    /// chain.
    pub sl_pips: Decimal,
}

impl Default for PyramidPlan {
    fn default() -> Self {
        Self { levels: vec![1, 2, 4, 8, 16], target: Target::Pips(Decimal::from(20)), sl_pips: Decimal::from(20) }
    }
}

/// The most levels and orders per level a plan may ask for.
pub const MAX_LEVELS: usize = 10;
/// The most orders one level may open.
pub const MAX_ORDERS_PER_LEVEL: u32 = 64;

impl PyramidPlan {
    /// Checks the plan.
    ///
    /// # Errors
    /// What is wrong, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.levels.is_empty() || self.levels.len() > MAX_LEVELS {
            return Err(format!("levels: expected 1 to {MAX_LEVELS} levels, got {}", self.levels.len()));
        }
        if let Some(n) = self.levels.iter().find(|n| **n == 0 || **n > MAX_ORDERS_PER_LEVEL) {
            return Err(format!("levels: {n} orders in a level; expected 1 to {MAX_ORDERS_PER_LEVEL}"));
        }
        let target = match self.target {
            Target::Pips(v) | Target::Money(v) => v,
        };
        if target <= Decimal::ZERO {
            return Err(format!("target: {target} is not positive"));
        }
        if self.sl_pips <= Decimal::ZERO {
            return Err(format!("sl_pips: {} is not positive", self.sl_pips));
        }
        Ok(())
    }
}

/// A dual order: one entry split into order A, which keeps the entry's take profit, and order B,
/// which starts a profit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DualPlan {
    /// Share of the entry's lots that goes to order A (the rest to B), between 0 and 1.
    pub split: Decimal,
    /// The chain order B starts (its first level must be one order: B).
    pub pyramid: PyramidPlan,
}

impl Default for DualPlan {
    fn default() -> Self {
        Self { split: Decimal::new(5, 1), pyramid: PyramidPlan::default() }
    }
}

impl DualPlan {
    /// Checks the plan.
    ///
    /// # Errors
    /// What is wrong, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.split <= Decimal::ZERO || self.split >= Decimal::ONE {
            return Err(format!("split: {} is not between 0 and 1", self.split));
        }
        self.pyramid.validate().map_err(|e| format!("pyramid.{e}"))?;
        if self.pyramid.levels[0] != 1 {
            return Err(format!(
                "pyramid.levels: the first level is order B alone (1), not {}",
                self.pyramid.levels[0]
            ));
        }
        Ok(())
    }
}

/// Where a chain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    /// A level is open.
    Active,
    /// The last level reached its target.
    Completed,
    /// An order reached the chain's stop.
    Stopped,
    /// Its orders were closed otherwise (by the plugin, an exit signal or an operator), or a
    /// level could not open.
    Ended,
}

/// A profit-booking chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfitChain {
    /// Engine-assigned id.
    pub id: u64,
    /// Owner.
    pub plugin: PluginId,
    /// On the owner's virtual book (shadow mode).
    pub shadow: bool,
    /// Instrument.
    pub symbol: Symbol,
    /// Direction of every order.
    pub side: Side,
    /// The signal that started it.
    pub signal_id: Option<SignalId>,
    /// Lots of each order.
    pub lot: Lots,
    /// The plan.
    pub plan: PyramidPlan,
    /// The level open now (0-based).
    pub level: usize,
    /// The open orders of that level.
    pub open: Vec<PositionId>,
    /// P&L of the chain's closed orders.
    pub booked: Money,
    /// Where it stands.
    pub status: ChainStatus,
    /// Why it stopped or ended, if it did.
    pub note: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A dual order's two halves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DualOrder {
    /// Engine-assigned id.
    pub id: u64,
    /// Owner.
    pub plugin: PluginId,
    /// On the owner's virtual book (shadow mode).
    pub shadow: bool,
    /// The signal it came from.
    pub signal_id: Option<SignalId>,
    /// Order A's position, while open.
    pub a: Option<PositionId>,
    /// Order B's position, while open.
    pub b: Option<PositionId>,
    /// The chain order B started.
    pub chain: u64,
}
