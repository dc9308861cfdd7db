//! The bookkeeping of dual orders and profit chains: which open position belongs to which chain
//! or dual order, and what each close means. Placing and closing orders is the services' work;
//! this module says what to do next and records every change.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zepix_model::{CloseReason, PluginId, PositionId, Trade};
use zepix_plugin::chain::{ChainStatus, DualOrder, ProfitChain};

/// A chain or dual order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainRecord {
    /// A profit chain.
    Profit(ProfitChain),
    /// A dual order.
    Dual(DualOrder),
}

impl ChainRecord {
    /// Its kind (`profit` or `dual`) and id: what identifies it in the store.
    #[must_use]
    pub const fn key(&self) -> (&'static str, u64) {
        match self {
            Self::Profit(c) => ("profit", c.id),
            Self::Dual(d) => ("dual", d.id),
        }
    }

    /// Whether it still has work to do (an active chain, a dual order with an open half).
    #[must_use]
    pub fn is_live(&self) -> bool {
        match self {
            Self::Profit(c) => c.status == ChainStatus::Active || !c.open.is_empty(),
            Self::Dual(d) => d.a.is_some() || d.b.is_some(),
        }
    }
}

/// What a close asks of the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every order of the chain's level reached its target: open the next level.
    OpenLevel(u64),
    /// The chain's stop was reached: close the rest of its level.
    Close {
        /// The owner.
        plugin: PluginId,
        /// On its virtual book.
        shadow: bool,
        /// What to close.
        positions: Vec<PositionId>,
    },
}

/// What a change produced: steps for the services, records to store, events to log.
#[derive(Debug, Default)]
pub struct Effects {
    /// What to do next.
    pub steps: Vec<Step>,
    /// What to store.
    pub records: Vec<ChainRecord>,
    /// Event messages with their data.
    pub events: Vec<(PluginId, String, Value)>,
}

type Key = (PluginId, bool, PositionId);

/// Every live chain and dual order, and which open position belongs to which.
#[derive(Debug, Default)]
pub struct Chains {
    next_id: u64,
    profit: BTreeMap<u64, ProfitChain>,
    duals: BTreeMap<u64, DualOrder>,
    in_chain: HashMap<Key, u64>,
    dual_a: HashMap<Key, u64>,
    dual_b: HashMap<Key, u64>,
}

fn key(plugin: &PluginId, shadow: bool, id: PositionId) -> Key {
    (plugin.clone(), shadow, id)
}

impl Chains {
    /// Chains and dual orders restored after a restart; new ids follow `max_id`.
    #[must_use]
    pub fn restore(records: Vec<ChainRecord>, max_id: u64) -> Self {
        let mut chains = Self { next_id: max_id, ..Self::default() };
        for r in records.into_iter().filter(ChainRecord::is_live) {
            match r {
                ChainRecord::Profit(c) => chains.track_chain(c),
                ChainRecord::Dual(d) => chains.track_dual(d),
            }
        }
        chains
    }

    /// A new id for a chain or a dual order.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn track_chain(&mut self, c: ProfitChain) {
        for p in &c.open {
            self.in_chain.insert(key(&c.plugin, c.shadow, *p), c.id);
        }
        self.profit.insert(c.id, c);
    }

    fn track_dual(&mut self, d: DualOrder) {
        if let Some(a) = d.a {
            self.dual_a.insert(key(&d.plugin, d.shadow, a), d.id);
        }
        if let Some(b) = d.b {
            self.dual_b.insert(key(&d.plugin, d.shadow, b), d.id);
        }
        self.duals.insert(d.id, d);
    }

    /// Starts tracking a chain whose first level is open; returns its record.
    pub fn start_chain(&mut self, chain: ProfitChain) -> ChainRecord {
        self.track_chain(chain.clone());
        ChainRecord::Profit(chain)
    }

    /// Starts tracking a dual order; returns its record.
    pub fn start_dual(&mut self, dual: DualOrder) -> ChainRecord {
        self.track_dual(dual.clone());
        ChainRecord::Dual(dual)
    }

    /// A live chain.
    #[must_use]
    pub fn chain(&self, id: u64) -> Option<&ProfitChain> {
        self.profit.get(&id)
    }

    /// Every live chain.
    #[must_use]
    pub fn all(&self) -> Vec<ProfitChain> {
        self.profit.values().cloned().collect()
    }

    /// A plugin's live chains.
    #[must_use]
    pub fn chains_of(&self, plugin: &PluginId) -> Vec<ProfitChain> {
        self.profit.values().filter(|c| &c.plugin == plugin).cloned().collect()
    }

    /// The next level of a chain opened with these positions (none: it could not open, and the
    /// chain ends with `why`).
    pub fn level_opened(&mut self, id: u64, positions: Vec<PositionId>, why: &str, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let Some(c) = self.profit.get_mut(&id) else { return fx };
        c.updated_at = now;
        if positions.is_empty() {
            c.status = ChainStatus::Ended;
            c.note = Some(format!("level {} could not open: {why}", c.level + 2));
            let message = format!("profit chain {id} ended: {}", c.note.as_deref().unwrap_or_default());
            fx.events.push((c.plugin.clone(), message, json!({"chain": id, "status": c.status})));
        } else {
            c.level += 1;
            c.open.clone_from(&positions);
            let message = format!(
                "profit chain {id}: level {} of {} opened with {} orders",
                c.level + 1,
                c.plan.levels.len(),
                positions.len()
            );
            fx.events.push((c.plugin.clone(), message, json!({"chain": id, "level": c.level + 1})));
        }
        let c = c.clone();
        for p in &c.open {
            self.in_chain.insert(key(&c.plugin, c.shadow, *p), id);
        }
        if c.status != ChainStatus::Active {
            self.profit.remove(&id);
        }
        fx.records.push(ChainRecord::Profit(c));
        fx
    }

    /// Ends a chain (its level could not be carried on); its open orders stay open.
    pub fn end(&mut self, id: u64, why: String, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let Some(mut c) = self.profit.remove(&id) else { return fx };
        for p in &c.open {
            self.in_chain.remove(&key(&c.plugin, c.shadow, *p));
        }
        c.status = ChainStatus::Ended;
        c.updated_at = now;
        fx.events.push((c.plugin.clone(), format!("profit chain {id} ended: {why}"), json!({"chain": id})));
        c.note = Some(why);
        fx.records.push(ChainRecord::Profit(c));
        fx
    }

    /// A position closed (on the venue, or on a virtual book when `shadow`): what it means for
    /// its chain or dual order.
    pub fn on_close(&mut self, trade: &Trade, shadow: bool, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let p = &trade.position;
        let k = key(&p.plugin, shadow, p.id);
        if let Some(id) = self.dual_a.remove(&k) {
            self.dual_half_closed(id, true, trade, &mut fx);
        }
        if let Some(id) = self.dual_b.remove(&k) {
            self.dual_half_closed(id, false, trade, &mut fx);
        }
        let Some(id) = self.in_chain.remove(&k) else { return fx };
        let Some(c) = self.profit.get_mut(&id) else { return fx };
        c.open.retain(|o| *o != p.id);
        c.booked += trade.pnl;
        c.updated_at = now;
        let levels = c.plan.levels.len();
        if c.status == ChainStatus::Active {
            match trade.reason {
                CloseReason::TakeProfit if c.open.is_empty() => {
                    if c.level + 1 < levels {
                        fx.steps.push(Step::OpenLevel(id));
                    } else {
                        c.status = ChainStatus::Completed;
                        c.note = Some(format!("all {levels} levels reached their target"));
                    }
                }
                CloseReason::TakeProfit => {}
                CloseReason::StopLoss => {
                    c.status = ChainStatus::Stopped;
                    c.note = Some(format!("level {} reached the chain's stop at {}", c.level + 1, trade.exit_price));
                    // The rest of the level closes too; the chain ends when the last one has.
                    if !c.open.is_empty() {
                        fx.steps.push(Step::Close { plugin: c.plugin.clone(), shadow, positions: c.open.clone() });
                    }
                }
                CloseReason::Signal | CloseReason::Reversal | CloseReason::Manual if c.open.is_empty() => {
                    c.status = ChainStatus::Ended;
                    c.note = Some(format!("its orders were closed ({})", trade.reason.as_str()));
                }
                CloseReason::Signal | CloseReason::Reversal | CloseReason::Manual => {}
            }
        }
        let finished = c.status != ChainStatus::Active && c.open.is_empty();
        if finished {
            let message = format!(
                "profit chain {id} {}: {}; booked {}",
                status_name(c.status),
                c.note.as_deref().unwrap_or_default(),
                c.booked
            );
            fx.events.push((c.plugin.clone(), message, json!({"chain": id, "status": c.status, "booked": c.booked})));
        }
        fx.records.push(ChainRecord::Profit(c.clone()));
        if finished {
            self.profit.remove(&id);
        }
        fx
    }

    fn dual_half_closed(&mut self, id: u64, a: bool, trade: &Trade, fx: &mut Effects) {
        let Some(d) = self.duals.get_mut(&id) else { return };
        if a {
            d.a = None;
        } else {
            d.b = None;
        }
        let half = if a { "A" } else { "B" };
        let message = format!(
            "dual order {id}: order {half} #{} closed ({}) for {}",
            trade.position.id,
            trade.reason.as_str(),
            trade.pnl
        );
        let data = json!({"dual": id, "half": half, "position": trade.position.id, "pnl": trade.pnl});
        fx.events.push((d.plugin.clone(), message, data));
        fx.records.push(ChainRecord::Dual(d.clone()));
        if d.a.is_none() && d.b.is_none() {
            self.duals.remove(&id);
        }
    }
}

const fn status_name(status: ChainStatus) -> &'static str {
    match status {
        ChainStatus::Active => "active",
        ChainStatus::Completed => "completed",
        ChainStatus::Stopped => "stopped",
        ChainStatus::Ended => "ended",
    }
}
