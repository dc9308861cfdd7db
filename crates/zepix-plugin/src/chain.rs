//! Dual orders and profit-booking chains as plugins see them (DESIGN §5): the plans a plugin
//! asks for and the state it can list. The engine runs them.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use zepix_model::{Lots, Money, PluginId, PositionId, Price, Side, SignalId, Symbol};

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

/// How a trade's re-entries go on after it closes: each re-entry is a level of the chain, up to
/// `max_chain_level`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReentryPlan {
    /// After a stop loss: re-enter when the price comes back within `zone_pips` of the entry
    /// (SL-hunt recovery).
    pub sl_hunt: bool,
    /// How near the entry the price must come back, in pips.
    pub zone_pips: Decimal,
    /// A recovery's stop distance as a share of the original one (1 = the same, 0.5 = half).
    pub sl_factor: Decimal,
    /// After a take profit: re-enter when the price has gone on by `gap_pips` beyond it.
    pub tp_continuation: bool,
    /// After an exit (signal, reversal, manual close): re-enter when the price has gone on by
    /// `gap_pips` in the trade's direction.
    pub exit_continuation: bool,
    /// How far beyond the close the price must go on, in pips.
    pub gap_pips: Decimal,
    /// How long a closed trade is watched, in minutes.
    pub window_minutes: u32,
    /// The most re-entries in one chain.
    pub max_chain_level: u32,
}

impl Default for ReentryPlan {
    fn default() -> Self {
        Self {
            sl_hunt: true,
            zone_pips: Decimal::from(5),
            sl_factor: Decimal::ONE,
            tp_continuation: true,
            exit_continuation: false,
            gap_pips: Decimal::from(10),
            window_minutes: 60,
            max_chain_level: 3,
        }
    }
}

impl ReentryPlan {
    /// Checks the plan.
    ///
    /// # Errors
    /// What is wrong, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.zone_pips < Decimal::ZERO || self.gap_pips <= Decimal::ZERO {
            return Err(format!(
                "zone_pips ({}) must be 0 or more and gap_pips ({}) more than 0",
                self.zone_pips, self.gap_pips
            ));
        }
        if self.sl_factor <= Decimal::ZERO || self.sl_factor > Decimal::ONE {
            return Err(format!("sl_factor: {} is not in (0, 1]", self.sl_factor));
        }
        if self.window_minutes == 0 || self.max_chain_level == 0 || self.max_chain_level > 20 {
            return Err(format!(
                "window_minutes ({}) must be positive and max_chain_level ({}) from 1 to 20",
                self.window_minutes, self.max_chain_level
            ));
        }
        Ok(())
    }
}

/// What a closed trade of a re-entry chain is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchKind {
    /// The price coming back to the entry after a stop loss.
    SlHunt,
    /// The price going on beyond a take profit.
    TpContinuation,
    /// The price going on after an exit.
    ExitContinuation,
}

/// A closed trade being watched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// What for.
    pub kind: WatchKind,
    /// The price that triggers the re-entry (reached or passed in the trade's direction).
    pub trigger: Price,
    /// Until when.
    pub until: DateTime<Utc>,
}

/// A re-entry chain: the trade it follows now, or the close it watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReentryChain {
    /// Engine-assigned id.
    pub id: u64,
    /// Owner.
    pub plugin: PluginId,
    /// On the owner's virtual book (shadow mode).
    pub shadow: bool,
    /// Instrument.
    pub symbol: Symbol,
    /// Direction of every trade.
    pub side: Side,
    /// The signal of the first trade.
    pub signal_id: Option<SignalId>,
    /// Lots of each trade.
    pub lot: Lots,
    /// The first trade's stop distance (price units), if it had a stop.
    pub sl_distance: Option<Decimal>,
    /// The first trade's target distance (price units), if it had a target.
    pub tp_distance: Option<Decimal>,
    /// The plan.
    pub plan: ReentryPlan,
    /// Re-entries so far (0: the first trade).
    pub level: u32,
    /// The open trade it follows.
    pub position: Option<PositionId>,
    /// The close it watches.
    pub watching: Option<Watch>,
    /// P&L of its closed trades.
    pub booked: Money,
    /// Where it stands: `active` while it follows or watches, then `completed` (its last level
    /// closed) or `ended` (a close it does not re-enter after, its window closed, or safety
    /// refused it for a reason that lasts the day).
    pub status: ChainStatus,
    /// Why it ended, or why the re-entry it watches for waits (safety refused it for a passing
    /// reason: a cooldown, the spread, the hours, the trading state).
    pub note: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What `safety.check_recovery_allowed` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCheck {
    /// Whether a recovery (re-entry) may open now.
    pub allowed: bool,
    /// Every reason it may not, each starting with its code.
    pub reasons: Vec<String>,
}

/// A reverse shield: when a position has gone against it by `share` of its stop distance, an
/// opposite hedge of the same size opens; when the price recovers to half that distance the hedge
/// closes. It ends when the position closes (its hedge closing with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shield {
    /// Engine-assigned id.
    pub id: u64,
    /// Owner.
    pub plugin: PluginId,
    /// On the owner's virtual book (shadow mode).
    pub shadow: bool,
    /// The position it protects.
    pub position: PositionId,
    /// Its instrument.
    pub symbol: Symbol,
    /// Its direction (the hedge goes the other way).
    pub side: Side,
    /// Its size (the hedge's size).
    pub lot: Lots,
    /// Its entry.
    pub entry: Price,
    /// The adverse move, in price units, at which the hedge opens (`share` × the stop distance).
    pub trigger_distance: Decimal,
    /// The hedge while open.
    pub hedge: Option<PositionId>,
    /// Hedges opened so far.
    pub hedges: u32,
    /// P&L of its closed hedges.
    pub booked: Money,
    /// `active` while its position is open, then `ended`.
    pub status: ChainStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
