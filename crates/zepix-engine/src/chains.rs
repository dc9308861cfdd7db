//! The bookkeeping of dual orders and profit chains: which open position belongs to which chain
//! or dual order, and what each close means. Placing and closing orders is the services' work;
//! this module says what to do next and records every change.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zepix_model::{CloseReason, PluginId, PositionId, Price, Trade};
use zepix_plugin::chain::{ChainStatus, DualOrder, ProfitChain, ReentryChain, Shield, Watch, WatchKind};

/// A chain or dual order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainRecord {
    /// A profit chain.
    Profit(ProfitChain),
    /// A dual order.
    Dual(DualOrder),
    /// A re-entry chain.
    Reentry(ReentryChain),
    /// A reverse shield.
    Shield(Shield),
}

impl ChainRecord {
    /// Its owner.
    #[must_use]
    pub const fn plugin(&self) -> &PluginId {
        match self {
            Self::Profit(c) => &c.plugin,
            Self::Dual(d) => &d.plugin,
            Self::Reentry(r) => &r.plugin,
            Self::Shield(s) => &s.plugin,
        }
    }

    /// Its kind (`profit` or `dual`) and id: what identifies it in the store.
    #[must_use]
    pub const fn key(&self) -> (&'static str, u64) {
        match self {
            Self::Profit(c) => ("profit", c.id),
            Self::Dual(d) => ("dual", d.id),
            Self::Reentry(r) => ("reentry", r.id),
            Self::Shield(s) => ("shield", s.id),
        }
    }

    /// Whether it still has work to do (an active chain, a dual order with an open half).
    #[must_use]
    pub fn is_live(&self) -> bool {
        match self {
            Self::Profit(c) => c.status == ChainStatus::Active || !c.open.is_empty(),
            Self::Dual(d) => d.a.is_some() || d.b.is_some(),
            Self::Reentry(r) => r.status == ChainStatus::Active,
            Self::Shield(s) => s.status == ChainStatus::Active,
        }
    }
}

/// What a close asks of the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every order of the chain's level reached its target: open the next level.
    OpenLevel(u64),
    /// A watched close's trigger was reached: re-enter (after the safety check).
    Reenter(u64),
    /// A shielded position went against it by its trigger: open the hedge.
    Hedge(u64),
    /// Close positions: the rest of a stopped level, or a hedge no longer needed.
    Close {
        /// The owner.
        plugin: PluginId,
        /// On its virtual book.
        shadow: bool,
        /// What to close.
        positions: Vec<PositionId>,
        /// Why.
        reason: CloseReason,
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
    reentry: BTreeMap<u64, ReentryChain>,
    follows: HashMap<Key, u64>,
    shields: BTreeMap<u64, Shield>,
    protects: HashMap<Key, u64>,
    hedges: HashMap<Key, u64>,
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
                ChainRecord::Reentry(r) => chains.track_reentry(r),
                ChainRecord::Shield(s) => chains.track_shield(s),
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

    fn track_reentry(&mut self, r: ReentryChain) {
        if let Some(p) = r.position {
            self.follows.insert(key(&r.plugin, r.shadow, p), r.id);
        }
        self.reentry.insert(r.id, r);
    }

    /// Starts following a trade for re-entries; returns its record.
    pub fn start_reentry(&mut self, chain: ReentryChain) -> ChainRecord {
        self.track_reentry(chain.clone());
        ChainRecord::Reentry(chain)
    }

    /// A live re-entry chain.
    #[must_use]
    pub fn reentry(&self, id: u64) -> Option<&ReentryChain> {
        self.reentry.get(&id)
    }

    /// A plugin's live re-entry chains.
    #[must_use]
    pub fn reentries_of(&self, plugin: &PluginId) -> Vec<ReentryChain> {
        self.reentry.values().filter(|r| &r.plugin == plugin).cloned().collect()
    }

    /// Whether any re-entry chain watches a close or any shield guards a position: they need
    /// every price.
    #[must_use]
    pub fn watching(&self) -> bool {
        !self.shields.is_empty() || self.reentry.values().any(|r| r.watching.is_some())
    }

    fn track_shield(&mut self, s: Shield) {
        self.protects.insert(key(&s.plugin, s.shadow, s.position), s.id);
        if let Some(h) = s.hedge {
            self.hedges.insert(key(&s.plugin, s.shadow, h), s.id);
        }
        self.shields.insert(s.id, s);
    }

    /// Whether a position is a shield's hedge.
    #[must_use]
    pub fn is_hedge(&self, plugin: &PluginId, shadow: bool, position: PositionId) -> bool {
        self.hedges.contains_key(&key(plugin, shadow, position))
    }

    /// The shield already guarding a position, if any.
    #[must_use]
    pub fn shield_of(&self, plugin: &PluginId, shadow: bool, position: PositionId) -> Option<u64> {
        self.protects.get(&key(plugin, shadow, position)).copied()
    }

    /// The re-entry chain already following a position, if any.
    #[must_use]
    pub fn follower_of(&self, plugin: &PluginId, shadow: bool, position: PositionId) -> Option<u64> {
        self.follows.get(&key(plugin, shadow, position)).copied()
    }

    /// Starts guarding a position; returns its record.
    pub fn start_shield(&mut self, shield: Shield) -> ChainRecord {
        self.track_shield(shield.clone());
        ChainRecord::Shield(shield)
    }

    /// A live shield.
    #[must_use]
    pub fn shield(&self, id: u64) -> Option<&Shield> {
        self.shields.get(&id)
    }

    /// Every live shield.
    #[must_use]
    pub fn shields(&self) -> Vec<Shield> {
        self.shields.values().cloned().collect()
    }

    /// A shield's hedge opened (`Some`), or was refused (`None`: the shield ends, with `why`).
    pub fn hedged(&mut self, id: u64, hedge: Option<PositionId>, why: &str, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let Some(s) = self.shields.get_mut(&id) else { return fx };
        s.updated_at = now;
        match hedge {
            Some(h) => {
                s.hedge = Some(h);
                s.hedges += 1;
                let message = format!(
                    "reverse shield {id}: #{} is {} against it: hedge #{h} opened",
                    s.position, s.trigger_distance
                );
                fx.events.push((s.plugin.clone(), message, json!({"shield": id, "hedge": h})));
                self.hedges.insert(key(&s.plugin, s.shadow, h), id);
            }
            None => {
                s.status = ChainStatus::Ended;
                let message = format!("reverse shield {id} ended: its hedge was refused: {why}");
                fx.events.push((s.plugin.clone(), message, json!({"shield": id})));
                self.protects.remove(&key(&s.plugin, s.shadow, s.position));
            }
        }
        let s = s.clone();
        if s.status != ChainStatus::Active {
            self.shields.remove(&id);
        }
        fx.records.push(ChainRecord::Shield(s));
        fx
    }

    fn shields_on_price(&mut self, symbol: &zepix_model::Symbol, price: Price, fx: &mut Effects) {
        for s in self.shields.values().filter(|s| &s.symbol == symbol) {
            let adverse = (s.entry.value() - price.value()) * s.side.sign();
            match s.hedge {
                None if adverse >= s.trigger_distance => fx.steps.push(Step::Hedge(s.id)),
                Some(h) if adverse * rust_decimal::Decimal::TWO <= s.trigger_distance => fx.steps.push(Step::Close {
                    plugin: s.plugin.clone(),
                    shadow: s.shadow,
                    positions: vec![h],
                    reason: CloseReason::Manual,
                }),
                _ => {}
            }
        }
    }

    /// A close that concerns a shield: its hedge closed, or the position it guards.
    fn shield_close(&mut self, k: &Key, trade: &Trade, fx: &mut Effects) {
        let now = trade.closed_at;
        if let Some(id) = self.hedges.remove(k)
            && let Some(s) = self.shields.get_mut(&id)
        {
            s.hedge = None;
            s.booked += trade.pnl;
            s.updated_at = now;
            let message = format!("reverse shield {id}: hedge #{} closed for {}", trade.position.id, trade.pnl);
            fx.events.push((s.plugin.clone(), message, json!({"shield": id, "pnl": trade.pnl})));
            fx.records.push(ChainRecord::Shield(s.clone()));
        }
        if let Some(id) = self.protects.remove(k)
            && let Some(mut s) = self.shields.remove(&id)
        {
            s.status = ChainStatus::Ended;
            s.updated_at = now;
            if let Some(h) = s.hedge {
                fx.steps.push(Step::Close {
                    plugin: s.plugin.clone(),
                    shadow: s.shadow,
                    positions: vec![h],
                    reason: CloseReason::Manual,
                });
            }
            let message = format!("reverse shield {id} ended: #{} closed ({})", s.position, trade.reason.as_str());
            fx.events.push((s.plugin.clone(), message, json!({"shield": id})));
            fx.records.push(ChainRecord::Shield(s));
        }
    }

    /// Every live re-entry chain.
    #[must_use]
    pub fn reentries(&self) -> Vec<ReentryChain> {
        self.reentry.values().cloned().collect()
    }

    fn finish_reentry(&mut self, id: u64, status: ChainStatus, note: String, now: DateTime<Utc>, fx: &mut Effects) {
        let Some(mut r) = self.reentry.remove(&id) else { return };
        if let Some(p) = r.position.take() {
            self.follows.remove(&key(&r.plugin, r.shadow, p));
        }
        r.status = status;
        r.watching = None;
        r.updated_at = now;
        let message =
            format!("re-entry chain {id} {} at level {}: {note}; booked {}", status_name(status), r.level, r.booked);
        fx.events.push((r.plugin.clone(), message, json!({"reentry": id, "status": status, "level": r.level})));
        r.note = Some(note);
        fx.records.push(ChainRecord::Reentry(r));
    }

    /// A new price: watched closes whose trigger it reaches ask for a re-entry; those whose
    /// window has passed end.
    pub fn on_price(&mut self, symbol: &zepix_model::Symbol, price: Price, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let mut expired = Vec::new();
        for r in self.reentry.values().filter(|r| &r.symbol == symbol) {
            let Some(w) = &r.watching else { continue };
            if now > w.until {
                expired.push((r.id, format!("no re-entry: the window closed at {}", w.until.format("%H:%M UTC"))));
            } else if (price.value() - w.trigger.value()) * r.side.sign() >= rust_decimal::Decimal::ZERO {
                fx.steps.push(Step::Reenter(r.id));
            }
        }
        for (id, why) in expired {
            self.finish_reentry(id, ChainStatus::Ended, why, now, &mut fx);
        }
        self.shields_on_price(symbol, price, &mut fx);
        fx
    }

    /// The re-entry opened (`Some`), or could not (`None`, and the chain ends with `why`).
    pub fn reentered(&mut self, id: u64, position: Option<PositionId>, why: String, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let Some(position) = position else {
            self.finish_reentry(id, ChainStatus::Ended, why, now, &mut fx);
            return fx;
        };
        let Some(r) = self.reentry.get_mut(&id) else { return fx };
        let kind = r.watching.take().map(|w| w.kind);
        r.level += 1;
        r.position = Some(position);
        r.note = None;
        r.updated_at = now;
        let message = format!("re-entry chain {id}: level {} opened #{position} ({kind:?})", r.level);
        fx.events.push((r.plugin.clone(), message, json!({"reentry": id, "level": r.level, "position": position})));
        self.follows.insert(key(&r.plugin, r.shadow, position), id);
        fx.records.push(ChainRecord::Reentry(r.clone()));
        fx
    }

    /// Safety refused a re-entry for a passing reason: the chain keeps watching until its window
    /// closes, trying again at the next price that reaches the trigger. `None` when `why` is
    /// what it was already waiting for (nothing to tell or store).
    pub fn reentry_waits(&mut self, id: u64, why: String, now: DateTime<Utc>) -> Option<Effects> {
        let r = self.reentry.get_mut(&id)?;
        let until = r.watching.as_ref()?.until;
        if r.note.as_ref() == Some(&why) {
            return None;
        }
        let message = format!("re-entry chain {id} waits: {why}; watching until {}", until.format("%H:%M UTC"));
        r.note = Some(why);
        r.updated_at = now;
        let mut fx = Effects::default();
        fx.events.push((r.plugin.clone(), message, json!({"reentry": id, "waits": r.note})));
        fx.records.push(ChainRecord::Reentry(r.clone()));
        Some(fx)
    }

    /// A followed trade closed: what to watch for, if the plan re-enters after this kind of close
    /// and the chain has levels left. `pip` is the symbol's pip size.
    fn reentry_closed(&mut self, id: u64, trade: &Trade, pip: rust_decimal::Decimal, fx: &mut Effects) {
        let now = trade.closed_at;
        let Some(r) = self.reentry.get_mut(&id) else { return };
        r.position = None;
        r.booked += trade.pnl;
        r.updated_at = now;
        let plan = &r.plan;
        let towards = r.side.sign();
        let watch = match trade.reason {
            CloseReason::StopLoss if plan.sl_hunt => {
                Some((WatchKind::SlHunt, trade.position.entry_price.value() - towards * plan.zone_pips * pip))
            }
            CloseReason::TakeProfit if plan.tp_continuation => {
                Some((WatchKind::TpContinuation, trade.exit_price.value() + towards * plan.gap_pips * pip))
            }
            CloseReason::Signal | CloseReason::Reversal | CloseReason::Manual if plan.exit_continuation => {
                Some((WatchKind::ExitContinuation, trade.exit_price.value() + towards * plan.gap_pips * pip))
            }
            _ => None,
        };
        let (status, note) = match watch {
            _ if r.level >= plan.max_chain_level => {
                (ChainStatus::Completed, format!("level {} was the last (max_chain_level)", r.level))
            }
            None => (
                ChainStatus::Ended,
                format!("closed by {}: the plan does not re-enter after it", trade.reason.as_str()),
            ),
            Some((kind, trigger)) => {
                let Ok(trigger) = Price::new(trigger) else {
                    let why = format!("the {kind:?} trigger {trigger} is not a price");
                    self.finish_reentry(id, ChainStatus::Ended, why, now, fx);
                    return;
                };
                let until = now + chrono::Duration::minutes(i64::from(plan.window_minutes));
                r.watching = Some(Watch { kind, trigger, until });
                let message = format!(
                    "re-entry chain {id}: #{} closed ({}); watching for {trigger} until {}",
                    trade.position.id,
                    trade.reason.as_str(),
                    until.format("%H:%M UTC")
                );
                fx.events.push((r.plugin.clone(), message, json!({"reentry": id, "trigger": trigger})));
                fx.records.push(ChainRecord::Reentry(r.clone()));
                return;
            }
        };
        self.finish_reentry(id, status, note, now, fx);
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
    /// its chain, dual order or re-entry chain. `pip` is the symbol's pip size.
    pub fn on_close(&mut self, trade: &Trade, shadow: bool, pip: rust_decimal::Decimal, now: DateTime<Utc>) -> Effects {
        let mut fx = Effects::default();
        let p = &trade.position;
        let k = key(&p.plugin, shadow, p.id);
        if let Some(id) = self.follows.remove(&k) {
            self.reentry_closed(id, trade, pip, &mut fx);
        }
        self.shield_close(&k, trade, &mut fx);
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
                        fx.steps.push(Step::Close {
                            plugin: c.plugin.clone(),
                            shadow,
                            positions: c.open.clone(),
                            reason: CloseReason::StopLoss,
                        });
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
