//! The trading services behind every plugin context: orders, positions, risk, market, trend,
//! notify and db. They own the venue, the risk gate and the trend manager, and record every
//! change as store ops. Calls are scoped to the calling plugin.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use zepix_model::{
    Account, Bar, Clock, CloseReason, Event, EventKind, Level, Lots, Money, Order, OrderId, OrderRequest, OrderStatus,
    PluginId, Position, PositionId, Price, Side, Signal, SignalId, Sizing, Symbol, SymbolSpec, SymbolTable, Timeframe,
    Trade, Trend,
};
use zepix_plugin::chain::{
    ChainStatus, DualOrder, DualPlan, ProfitChain, PyramidPlan, RecoveryCheck, ReentryChain, ReentryPlan, Shield,
    Target,
};
use zepix_plugin::{DualPlaced, NotifyLevel, OrderIntent, Placed, RiskCode, Service, ServiceError, ServiceErrorCode};

use crate::chains::{ChainRecord, Chains, Effects, Step};
use crate::ports::{BookState, OrderTicket, PluginDb, Store, StoreOp, Venue, VenueError};
use crate::registry::PluginMeta;
use crate::risk::{self, Denial, OpenCounts, RiskGate, SymbolLock};
use crate::trend::TrendManager;

/// Health of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceHealth {
    /// `up`, `degraded` or `down`.
    pub status: &'static str,
    /// What degraded means here and the fallback in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ServiceHealth {
    const fn up() -> Self {
        Self { status: "up", note: None }
    }
    fn degraded(note: impl Into<String>) -> Self {
        Self { status: "degraded", note: Some(note.into()) }
    }
}

/// The services and the state they own.
pub struct Services {
    clock: Arc<dyn Clock>,
    venue: Box<dyn Venue>,
    risk: RiskGate,
    symbols: SymbolTable,
    trends: TrendManager,
    store: Arc<dyn Store>,
    ops: Vec<StoreOp>,
    /// Last prices not yet written: only the latest per symbol reaches the store.
    prices: BTreeMap<Symbol, (Price, DateTime<Utc>)>,
    next_order_id: u64,
    realized_today: Money,
    /// Open positions per plugin, kept with every open and close so the risk gate's counts do
    /// not walk the book.
    open_by_plugin: HashMap<PluginId, usize>,
    plugin_dbs: HashMap<PluginId, Box<dyn PluginDb>>,
    /// Signals plugins emitted, not yet taken by the kernel.
    emitted: Vec<(PluginId, Signal)>,
    /// The account as the last bar's mark valued it, if it did.
    marked: Option<Account>,
    /// Plugins in shadow mode: their orders go to their virtual book, never to the venue. Each
    /// has a book in `books`.
    shadow: HashSet<PluginId>,
    /// Virtual books, one per plugin that ever ran in shadow mode, marked with every price.
    books: BTreeMap<PluginId, Box<dyn Venue>>,
    /// Makes an empty virtual book (the paper simulator with the venue's costs).
    new_book: Option<BookFactory>,
    /// Dual orders and profit chains at work.
    chains: Chains,
    /// Chains whose level reached its target: the kernel opens their next level.
    pending_levels: Vec<u64>,
    /// Re-entry chains whose trigger was reached: the kernel re-enters them.
    pending_reentries: Vec<u64>,
    /// Shields whose trigger was reached: the kernel opens their hedge.
    pending_hedges: Vec<u64>,
    /// Positions a chain step closed (the rest of a stopped level): the kernel calls their
    /// plugins' `on_sl_hit` / `on_tp_hit` as for the venue's closes.
    step_closes: Vec<Trade>,
}

/// Makes an empty virtual book for a shadow plugin.
pub type BookFactory = Box<dyn Fn() -> Box<dyn Venue> + Send>;

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("venue", &self.venue.name()).field("risk", &self.risk).finish_non_exhaustive()
    }
}

/// A refused order: the request when it got far enough to be recorded, and why.
type Refusal = (Option<OrderRequest>, ServiceError);

fn err(service: Service, code: ServiceErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError { service, code, message: message.into() }
}

fn denied(d: Denial) -> ServiceError {
    err(Service::Orders, ServiceErrorCode::RiskRejected(d.code), format!("{}: {}", d.code, d.message))
}

impl Services {
    /// Services over a venue and a store, with the order counter after `max_order_id`.
    #[must_use]
    pub fn new(
        clock: Arc<dyn Clock>,
        venue: Box<dyn Venue>,
        risk: RiskGate,
        symbols: SymbolTable,
        store: Arc<dyn Store>,
        max_order_id: u64,
        realized_today: Money,
    ) -> Self {
        let mut open_by_plugin = HashMap::new();
        for p in venue.positions() {
            *open_by_plugin.entry(p.plugin).or_insert(0) += 1;
        }
        Self {
            open_by_plugin,
            clock,
            venue,
            risk,
            symbols,
            trends: TrendManager::default(),
            store,
            ops: Vec::new(),
            prices: BTreeMap::new(),
            next_order_id: max_order_id + 1,
            realized_today,
            plugin_dbs: HashMap::new(),
            emitted: Vec::new(),
            marked: None,
            shadow: HashSet::new(),
            books: BTreeMap::new(),
            new_book: None,
            chains: Chains::default(),
            pending_levels: Vec::new(),
            pending_reentries: Vec::new(),
            pending_hedges: Vec::new(),
            step_closes: Vec::new(),
        }
    }

    /// Shields waiting for their hedge, taken out.
    pub fn take_pending_hedges(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.pending_hedges)
    }

    /// Every live reverse shield.
    #[must_use]
    pub fn shields(&self) -> Vec<Shield> {
        self.chains.shields()
    }

    /// A live reverse shield.
    #[must_use]
    pub fn shield(&self, id: u64) -> Option<&Shield> {
        self.chains.shield(id)
    }

    /// Guards an open position of the plugin with a reverse shield: a hedge opens when it has
    /// gone against it by `share` of its stop distance and closes when it recovers to half that.
    ///
    /// # Errors
    /// `share` outside (0, 1], no such open position, or a position without a stop loss.
    pub fn start_shield(
        &mut self,
        meta: &PluginMeta,
        position: PositionId,
        share: rust_decimal::Decimal,
    ) -> Result<Shield, ServiceError> {
        let invalid = |m: String| err(Service::Safety, ServiceErrorCode::InvalidRequest, m);
        if share <= rust_decimal::Decimal::ZERO || share > rust_decimal::Decimal::ONE {
            return Err(invalid(format!("share: {share} is not in (0, 1]")));
        }
        let p = self.own_position(meta, position, Service::Safety)?;
        if let Some(id) = self.chains.shield_of(meta.id(), self.is_shadow(meta.id()), position) {
            return Err(invalid(format!("position {position} is already guarded by reverse shield {id}")));
        }
        let sl =
            p.sl.ok_or_else(|| invalid(format!("position {position} has no stop loss to measure the shield by")))?;
        let now = self.now();
        let id = self.chains.next_id();
        let shield = Shield {
            id,
            plugin: meta.id().clone(),
            shadow: self.is_shadow(meta.id()),
            position: p.id,
            symbol: p.symbol.clone(),
            side: p.side,
            lot: p.lots,
            entry: p.entry_price,
            trigger_distance: ((p.entry_price.value() - sl.value()).abs() * share).normalize(),
            hedge: None,
            hedges: 0,
            booked: Money::ZERO,
            status: ChainStatus::Active,
            started_at: now,
            updated_at: now,
        };
        let message =
            format!("reverse shield {id} guards #{} ({} against it opens a hedge)", p.id, shield.trigger_distance);
        self.event(EventKind::Chain, Some(meta.id()), message, json!({"shield": id, "position": p.id}));
        let record = self.chains.start_shield(shield.clone());
        self.ops.push(StoreOp::Chain(Box::new(record)));
        Ok(shield)
    }

    /// Opens a shield's hedge: the opposite side, the same size, no stop or target.
    pub fn hedge(&mut self, meta: &PluginMeta, id: u64) {
        let now = self.now();
        let Some(s) = self.chains.shield(id).cloned() else { return };
        if s.shadow != self.is_shadow(meta.id()) {
            let fx = self.chains.hedged(id, None, "its plugin changed between live and shadow", now);
            self.apply_chain_effects(fx);
            return;
        }
        let intent = OrderIntent {
            symbol: s.symbol.clone(),
            side: s.side.opposite(),
            size: Some(Sizing::Lots(s.lot)),
            price: None,
            sl: None,
            tp: None,
            comment: format!("reverse shield {id} of #{}", s.position),
        };
        let fx = match self.place_order(meta, intent, None) {
            Ok(placed) => self.chains.hedged(id, Some(placed.position.id), "", now),
            Err(e) => self.chains.hedged(id, None, &e.message, now),
        };
        self.apply_chain_effects(fx);
    }

    /// Restores the dual orders and chains at work before a restart.
    pub fn restore_chains(&mut self, records: Vec<ChainRecord>, max_id: u64) {
        self.chains = Chains::restore(records, max_id);
    }

    /// A live chain.
    #[must_use]
    pub fn chain(&self, id: u64) -> Option<&ProfitChain> {
        self.chains.chain(id)
    }

    /// Every live chain.
    #[must_use]
    pub fn chains(&self) -> Vec<ProfitChain> {
        self.chains.all()
    }

    /// A plugin's live chains.
    #[must_use]
    pub fn chains_of(&self, plugin: &PluginId) -> Vec<ProfitChain> {
        self.chains.chains_of(plugin)
    }

    /// Trades a chain step closed since the last call, taken out.
    pub fn take_step_closes(&mut self) -> Vec<Trade> {
        std::mem::take(&mut self.step_closes)
    }

    /// Chains waiting for their next level, taken out.
    pub fn take_pending_levels(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.pending_levels)
    }

    /// Re-entry chains waiting to re-enter, taken out.
    pub fn take_pending_reentries(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.pending_reentries)
    }

    /// Every live re-entry chain.
    #[must_use]
    pub fn reentries(&self) -> Vec<ReentryChain> {
        self.chains.reentries()
    }

    /// A plugin's live re-entry chains.
    #[must_use]
    pub fn reentries_of(&self, plugin: &PluginId) -> Vec<ReentryChain> {
        self.chains.reentries_of(plugin)
    }

    /// A live re-entry chain.
    #[must_use]
    pub fn reentry(&self, id: u64) -> Option<&ReentryChain> {
        self.chains.reentry(id)
    }

    /// Whether a recovery may open now on `symbol` for `plugin`, with every reason it may not.
    pub fn check_recovery(&mut self, plugin: &PluginId, symbol: &Symbol) -> RecoveryCheck {
        let now = self.now();
        let spread = self.venue_of(plugin).spread_pips(symbol);
        let shadow = self.is_shadow(plugin);
        let check = self.risk.check_recovery(plugin, symbol, now, spread, shadow);
        if !check.allowed && !shadow {
            self.save_safety();
        }
        check
    }

    /// Starts following an open position of the plugin for re-entries.
    ///
    /// # Errors
    /// An invalid plan, or no such open position of the plugin.
    pub fn start_reentry(
        &mut self,
        meta: &PluginMeta,
        position: PositionId,
        plan: ReentryPlan,
    ) -> Result<ReentryChain, ServiceError> {
        plan.validate().map_err(|e| err(Service::Reentry, ServiceErrorCode::InvalidRequest, e))?;
        let p = self.own_position(meta, position, Service::Reentry)?;
        if let Some(id) = self.chains.follower_of(meta.id(), self.is_shadow(meta.id()), position) {
            return Err(err(
                Service::Reentry,
                ServiceErrorCode::InvalidRequest,
                format!("position {position} is already followed by re-entry chain {id}"),
            ));
        }
        let now = self.now();
        let id = self.chains.next_id();
        let chain = ReentryChain {
            id,
            plugin: meta.id().clone(),
            shadow: self.is_shadow(meta.id()),
            symbol: p.symbol.clone(),
            side: p.side,
            signal_id: p.signal_id.clone(),
            lot: p.lots,
            sl_distance: p.sl.map(|sl| (p.entry_price.value() - sl.value()).abs()),
            tp_distance: p.tp.map(|tp| (tp.value() - p.entry_price.value()).abs()),
            plan,
            level: 0,
            position: Some(p.id),
            watching: None,
            booked: Money::ZERO,
            status: ChainStatus::Active,
            note: None,
            started_at: now,
            updated_at: now,
        };
        let message = format!("re-entry chain {id} follows #{} ({} {} {})", p.id, p.side, p.lots, p.symbol);
        self.event(EventKind::Chain, Some(meta.id()), message, json!({"reentry": id, "position": p.id}));
        let record = self.chains.start_reentry(chain.clone());
        self.ops.push(StoreOp::Chain(Box::new(record)));
        Ok(chain)
    }

    /// Re-enters a chain whose trigger was reached, if the safety check allows a recovery now.
    /// A refusal for a passing reason (cooldown, spread, hours, trading state) leaves the chain
    /// watching until its window closes; one that lasts the day (the daily recovery cap, losses
    /// in a row) ends it.
    pub fn reenter(&mut self, meta: &PluginMeta, id: u64) {
        let now = self.now();
        let Some(chain) = self.chains.reentry(id).cloned() else { return };
        let fail = |s: &mut Self, why: String| {
            let fx = s.chains.reentered(id, None, why, now);
            s.apply_chain_effects(fx);
        };
        if chain.shadow != self.is_shadow(meta.id()) {
            return fail(self, "its plugin changed between live and shadow".into());
        }
        let spread = self.venue_of(meta.id()).spread_pips(&chain.symbol);
        let refusals = self.risk.recovery_refusals(meta.id(), &chain.symbol, now, spread, chain.shadow);
        if !refusals.is_empty() {
            let reasons: Vec<String> = refusals.iter().map(|(code, why)| format!("{code}: {why}")).collect();
            let why = format!("safety refused the recovery: {}", reasons.join("; "));
            let lasting = refusals.iter().any(|(code, _)| crate::risk::LASTING_REFUSALS.contains(code));
            // Counted once per refusal the chain meets, not at every price that retries it.
            let counted = if lasting {
                fail(self, why);
                true
            } else if let Some(fx) = self.chains.reentry_waits(id, why, now) {
                self.apply_chain_effects(fx);
                true
            } else {
                false
            };
            if counted && !chain.shadow {
                self.risk.count_refusals(&refusals);
                self.save_safety();
            }
            return;
        }
        let Ok(spec) = self.spec(&chain.symbol, Service::Reentry) else {
            return fail(self, format!("{} is not in the symbol table", chain.symbol));
        };
        let pips =
            |d: rust_decimal::Decimal| zepix_model::Pips::new((d / spec.pip_size).round_dp(1)).ok().map(Level::Pips);
        let sl_factor = chain.plan.sl_factor;
        let intent = OrderIntent {
            symbol: chain.symbol.clone(),
            side: chain.side,
            size: Some(Sizing::Lots(chain.lot)),
            price: None,
            sl: chain.sl_distance.and_then(|d| pips(d * sl_factor)),
            tp: chain.tp_distance.and_then(pips),
            comment: format!("re-entry chain {id} level {}", chain.level + 1),
        };
        match self.place_order(meta, intent, chain.signal_id.as_ref()) {
            Ok(placed) => {
                if !chain.shadow {
                    self.risk.record_recovery();
                    self.save_safety();
                }
                let fx = self.chains.reentered(id, Some(placed.position.id), String::new(), now);
                self.apply_chain_effects(fx);
            }
            Err(e) => fail(self, format!("the re-entry order was refused: {}", e.message)),
        }
    }

    /// Stores the safety counters, stamped with the engine's time.
    fn save_safety(&mut self) {
        let counters = crate::risk::SafetyCounters { saved_at: Some(self.now()), ..self.risk.safety().clone() };
        self.ops.push(StoreOp::Safety(Box::new(counters)));
    }

    /// Lets re-entry chains watching `symbol` see a new price.
    fn watch_price(&mut self, symbol: &Symbol, price: Price) {
        let now = self.now();
        let fx = self.chains.on_price(symbol, price, now);
        self.apply_chain_effects(fx);
    }

    fn apply_chain_effects(&mut self, fx: Effects) {
        for record in fx.records {
            self.ops.push(StoreOp::Chain(Box::new(record)));
        }
        for (plugin, message, data) in fx.events {
            self.event(EventKind::Chain, Some(&plugin), message, data);
        }
        for step in fx.steps {
            match step {
                Step::OpenLevel(id) => self.pending_levels.push(id),
                Step::Reenter(id) => {
                    if !self.pending_reentries.contains(&id) {
                        self.pending_reentries.push(id);
                    }
                }
                Step::Hedge(id) => {
                    if !self.pending_hedges.contains(&id) {
                        self.pending_hedges.push(id);
                    }
                }
                Step::Close { plugin, shadow, positions, reason } => {
                    let now = self.now();
                    for id in positions {
                        let venue = match self.books.get_mut(&plugin) {
                            Some(book) if shadow => book.as_mut(),
                            None if shadow => continue,
                            _ => self.venue.as_mut(),
                        };
                        // Only the chain's own positions: an id of another book or owner is not.
                        if !venue.open_positions().any(|p| p.id == id && p.plugin == plugin) {
                            continue;
                        }
                        if let Ok(trade) = venue.close(id, reason, now) {
                            self.record_close(&trade, shadow);
                            self.step_closes.push(trade);
                        }
                    }
                }
            }
        }
    }

    /// The order intent of one order of a chain's level: the chain's lot, its stop and the
    /// level's target as distances from the fill (at `price`, else the last price).
    fn level_intent(
        &self,
        chain: &ProfitChain,
        level: usize,
        price: Option<Price>,
        comment: String,
    ) -> Result<OrderIntent, ServiceError> {
        let spec = self.spec(&chain.symbol, Service::ProfitBooking)?;
        let pips = match chain.plan.target {
            Target::Pips(p) => p,
            Target::Money(m) => {
                let price =
                    price.or_else(|| self.venue_of(&chain.plugin).last_price(&chain.symbol)).ok_or_else(|| {
                        err(
                            Service::ProfitBooking,
                            ServiceErrorCode::Unavailable,
                            format!("no price for {}", chain.symbol),
                        )
                    })?;
                let orders = rust_decimal::Decimal::from(chain.plan.levels[level]);
                let per_pip = spec.value_per_lot(spec.pip_size, price) * chain.lot.value() * orders;
                (m / per_pip).round_dp(1)
            }
        };
        let level_of = |v: rust_decimal::Decimal| {
            zepix_model::Pips::new(v)
                .map(Level::Pips)
                .map_err(|e| err(Service::ProfitBooking, ServiceErrorCode::InvalidRequest, e.to_string()))
        };
        Ok(OrderIntent {
            symbol: chain.symbol.clone(),
            side: chain.side,
            size: Some(Sizing::Lots(chain.lot)),
            price,
            sl: Some(level_of(chain.plan.sl_pips)?),
            tp: Some(level_of(pips)?),
            comment,
        })
    }

    /// Opens a level's orders; the positions that opened, and the first refusal.
    fn open_orders(
        &mut self,
        meta: &PluginMeta,
        chain: &ProfitChain,
        level: usize,
        price: Option<Price>,
        signal_id: Option<&SignalId>,
    ) -> (Vec<Placed>, Option<String>) {
        let (mut placed, mut refused) = (Vec::new(), None);
        for n in 0..chain.plan.levels[level] {
            let comment = format!("chain {} level {} order {}", chain.id, level + 1, n + 1);
            let result =
                self.level_intent(chain, level, price, comment).and_then(|i| self.place_order(meta, i, signal_id));
            match result {
                Ok(p) => placed.push(p),
                Err(e) => {
                    refused.get_or_insert(e.message);
                }
            }
        }
        (placed, refused)
    }

    /// Ends a chain that cannot go on; its open orders stay open.
    pub fn end_chain(&mut self, id: u64, why: String) {
        let fx = self.chains.end(id, why, self.now());
        self.apply_chain_effects(fx);
    }

    /// Opens the next level of a chain whose level reached its target.
    pub fn open_level(&mut self, meta: &PluginMeta, id: u64) {
        let now = self.now();
        let Some(chain) = self.chains.chain(id).cloned() else { return };
        if chain.shadow != self.is_shadow(meta.id()) {
            self.end_chain(id, "its plugin changed between live and shadow".into());
            return;
        }
        let (placed, refused) = self.open_orders(meta, &chain, chain.level + 1, None, chain.signal_id.as_ref());
        let positions = placed.iter().map(|p| p.position.id).collect();
        let fx = self.chains.level_opened(id, positions, refused.as_deref().unwrap_or_default(), now);
        self.apply_chain_effects(fx);
    }

    /// Starts a profit chain: its first level's orders, sized by the intent.
    ///
    /// # Errors
    /// An invalid plan, or every order of the first level refused.
    pub fn start_chain(
        &mut self,
        meta: &PluginMeta,
        intent: &OrderIntent,
        plan: PyramidPlan,
        signal_id: Option<&SignalId>,
    ) -> Result<ProfitChain, ServiceError> {
        self.start_chain_placed(meta, intent, plan, signal_id).map(|(chain, _)| chain)
    }

    fn start_chain_placed(
        &mut self,
        meta: &PluginMeta,
        intent: &OrderIntent,
        plan: PyramidPlan,
        signal_id: Option<&SignalId>,
    ) -> Result<(ProfitChain, Vec<Placed>), ServiceError> {
        plan.validate().map_err(|e| err(Service::ProfitBooking, ServiceErrorCode::InvalidRequest, e))?;
        let lot = self.intent_lots(meta, intent)?;
        let now = self.now();
        let id = self.chains.next_id();
        let mut chain = ProfitChain {
            id,
            plugin: meta.id().clone(),
            shadow: self.is_shadow(meta.id()),
            symbol: intent.symbol.clone(),
            side: intent.side,
            signal_id: signal_id.cloned(),
            lot,
            plan,
            level: 0,
            open: Vec::new(),
            booked: Money::ZERO,
            status: ChainStatus::Active,
            note: None,
            started_at: now,
            updated_at: now,
        };
        let (placed, refused) = self.open_orders(meta, &chain, 0, intent.price, signal_id);
        if placed.is_empty() {
            let why = refused.unwrap_or_default();
            return Err(err(
                Service::ProfitBooking,
                ServiceErrorCode::Unavailable,
                format!("no order of the first level opened: {why}"),
            ));
        }
        chain.open = placed.iter().map(|p| p.position.id).collect();
        let message = format!(
            "profit chain {id} started: {} {} {} orders of {}",
            chain.open.len(),
            chain.side,
            chain.symbol,
            chain.lot
        );
        self.event(EventKind::Chain, Some(meta.id()), message, json!({"chain": id, "level": 1}));
        let record = self.chains.start_chain(chain.clone());
        self.ops.push(StoreOp::Chain(Box::new(record)));
        Ok((chain, placed))
    }

    /// The lots an intent asks for: its fixed size, its risk sizing over its stop, or the
    /// default lot.
    fn intent_lots(&self, meta: &PluginMeta, intent: &OrderIntent) -> Result<Lots, ServiceError> {
        let spec = self.spec(&intent.symbol, Service::Orders)?;
        let book = self.venue_of(meta.id());
        let reference = intent.price.or_else(|| book.last_price(&intent.symbol)).ok_or_else(|| {
            denied(Denial { code: RiskCode::NoPrice, message: format!("no price for {}", intent.symbol) })
        })?;
        let sl = intent.sl.map(|l| Self::level_price(&spec, reference, intent.side, l, true)).transpose()?;
        match intent.size {
            Some(sizing) => risk::lot_size(&spec, book.account().balance, reference, sl, sizing).map_err(denied),
            None => Lots::new(self.risk.config().default_lot)
                .map_err(|e| err(Service::Orders, ServiceErrorCode::InvalidRequest, e.to_string())),
        }
    }

    /// A dual order: order A with the intent's take profit, order B starting a profit chain.
    ///
    /// # Errors
    /// An invalid plan, lots too small to split, or order A refused.
    pub fn place_dual(
        &mut self,
        meta: &PluginMeta,
        intent: OrderIntent,
        plan: DualPlan,
        signal_id: Option<&SignalId>,
    ) -> Result<DualPlaced, ServiceError> {
        plan.validate().map_err(|e| err(Service::DualOrder, ServiceErrorCode::InvalidRequest, e))?;
        let spec = self.spec(&intent.symbol, Service::DualOrder)?;
        let total = self.intent_lots(meta, &intent)?;
        let split = |v: rust_decimal::Decimal| spec.round_lots(v);
        let (Some(a_lots), Some(b_lots)) =
            (split(total.value() * plan.split), split(total.value() - total.value() * plan.split))
        else {
            return Err(err(
                Service::DualOrder,
                ServiceErrorCode::InvalidRequest,
                format!("{total} lots split {} cannot make two orders of at least {} lots", plan.split, spec.lot_min),
            ));
        };
        let id = self.chains.next_id();
        let a_intent =
            OrderIntent { size: Some(Sizing::Lots(a_lots)), comment: format!("dual {id} A"), ..intent.clone() };
        let a = self.place_order(meta, a_intent, signal_id)?;
        let b_intent = OrderIntent { size: Some(Sizing::Lots(b_lots)), sl: None, tp: None, ..intent };
        let (b, chain, b_refused) = match self.start_chain_placed(meta, &b_intent, plan.pyramid, signal_id) {
            Ok((chain, mut placed)) => (placed.pop(), Some(chain), None),
            Err(e) => (None, None, Some(e.message)),
        };
        let b_id = b.as_ref().map(|p| p.position.id);
        let dual = DualOrder {
            id,
            plugin: meta.id().clone(),
            shadow: self.is_shadow(meta.id()),
            signal_id: signal_id.cloned(),
            a: Some(a.position.id),
            b: b_id,
            chain: chain.as_ref().map_or(0, |c| c.id),
        };
        let message = format!(
            "dual order {id}: A #{} ({a_lots}) with its target, B {} starting a profit chain",
            a.position.id,
            b_id.map_or_else(
                || format!("refused ({})", b_refused.as_deref().unwrap_or_default()),
                |b| format!("#{b} ({b_lots})")
            )
        );
        self.event(EventKind::Chain, Some(meta.id()), message, json!({"dual": id}));
        let record = self.chains.start_dual(dual);
        self.ops.push(StoreOp::Chain(Box::new(record)));
        Ok(DualPlaced { id, a, b, b_refused, chain })
    }

    /// Gives the services a way to make virtual books, which shadow mode needs.
    #[must_use]
    pub fn with_books(mut self, factory: BookFactory) -> Self {
        self.new_book = Some(factory);
        self
    }

    /// The venue's last prices, to start a new book from.
    fn live_prices(&self) -> BTreeMap<Symbol, Price> {
        self.symbols.symbols().filter_map(|s| Some((s.clone(), self.venue.last_price(s)?))).collect()
    }

    /// Restores a shadow plugin's virtual book after a restart.
    ///
    /// # Errors
    /// When the services cannot make virtual books.
    pub fn restore_book(&mut self, plugin: PluginId, state: BookState) -> Result<(), String> {
        let factory = self.new_book.as_ref().ok_or("this engine has no virtual books for shadow mode")?;
        let mut book = factory();
        book.restore(state.positions, state.realized, self.live_prices(), state.max_position_id);
        self.books.insert(plugin, book);
        Ok(())
    }

    /// Puts a plugin in shadow mode (its orders go to its virtual book) or takes it out (its new
    /// orders go to the venue; its virtual positions stay in the book until they close).
    ///
    /// # Errors
    /// When shadow mode is asked for and the services cannot make virtual books.
    pub fn set_shadow(&mut self, plugin: &PluginId, shadow: bool) -> Result<(), String> {
        if !shadow {
            self.shadow.remove(plugin);
            return Ok(());
        }
        if !self.books.contains_key(plugin) {
            self.restore_book(plugin.clone(), BookState::default())?;
        }
        self.shadow.insert(plugin.clone());
        Ok(())
    }

    /// Whether a plugin's orders go to its virtual book.
    #[must_use]
    pub fn is_shadow(&self, plugin: &PluginId) -> bool {
        self.shadow.contains(plugin)
    }

    /// The book a plugin trades on: its virtual book in shadow mode, the venue otherwise.
    fn venue_of(&self, plugin: &PluginId) -> &dyn Venue {
        match self.books.get(plugin) {
            Some(book) if self.shadow.contains(plugin) => book.as_ref(),
            _ => self.venue.as_ref(),
        }
    }

    fn venue_of_mut(&mut self, plugin: &PluginId) -> &mut dyn Venue {
        match self.books.get_mut(plugin) {
            Some(book) if self.shadow.contains(plugin) => book.as_mut(),
            _ => self.venue.as_mut(),
        }
    }

    /// Open positions of every virtual book.
    #[must_use]
    pub fn shadow_positions(&self) -> Vec<Position> {
        self.books.values().flat_map(|b| b.positions()).collect()
    }

    /// Marks every virtual book with a price or a bar; records and returns what closed.
    fn mark_books(&mut self, mut mark: impl FnMut(&mut dyn Venue) -> Vec<Trade>) -> Vec<Trade> {
        let mut closed = Vec::new();
        for book in self.books.values_mut() {
            closed.extend(mark(book.as_mut()));
        }
        for trade in &closed {
            self.record_close(trade, true);
        }
        closed
    }

    /// The clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The risk gate.
    pub fn risk_mut(&mut self) -> &mut RiskGate {
        &mut self.risk
    }

    /// The risk gate.
    #[must_use]
    pub const fn risk(&self) -> &RiskGate {
        &self.risk
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> &dyn Venue {
        self.venue.as_ref()
    }

    /// The trend manager.
    pub fn trends_mut(&mut self) -> &mut TrendManager {
        &mut self.trends
    }

    /// The trend manager.
    #[must_use]
    pub const fn trends(&self) -> &TrendManager {
        &self.trends
    }

    /// Realized P&L since the last daily reset.
    #[must_use]
    pub const fn realized_today(&self) -> Money {
        self.realized_today
    }

    /// Store ops recorded since the last call.
    pub fn take_ops(&mut self) -> Vec<StoreOp> {
        let prices = std::mem::take(&mut self.prices);
        self.ops.extend(prices.into_iter().map(|(symbol, (price, at))| StoreOp::Price { symbol, price, at }));
        // The next batch starts with room for one like this: growing a vector op by op copies
        // it over and over, and a burst makes batches of thousands.
        let room = self.ops.len();
        std::mem::replace(&mut self.ops, Vec::with_capacity(room))
    }

    /// How many store ops wait to be taken.
    #[must_use]
    pub fn pending_ops(&self) -> usize {
        self.ops.len() + self.prices.len()
    }

    /// Records a store op.
    pub fn record(&mut self, op: StoreOp) {
        self.ops.push(op);
    }

    /// Records an event (and logs it).
    pub fn event(&mut self, kind: EventKind, plugin: Option<&PluginId>, message: String, data: Value) {
        if kind == EventKind::PluginState {
            tracing::debug!(plugin = plugin.map(PluginId::as_str), "{message}");
        } else {
            tracing::info!(kind = kind.as_str(), plugin = plugin.map(PluginId::as_str), "{message}");
        }
        let at = self.now();
        self.ops.push(StoreOp::Event(Box::new(Event { at, kind, plugin: plugin.cloned(), message, data })));
    }

    /// The daily reset: the loss lock opens and today's P&L restarts.
    pub fn daily_reset(&mut self) {
        self.risk.daily_reset();
        self.realized_today = Money::ZERO;
    }

    /// A new market price: stored, and SL/TP of open positions checked. Returns the trades it
    /// closed (already recorded).
    pub fn mark(&mut self, symbol: &Symbol, price: Price) -> Vec<Trade> {
        let at = self.now();
        let mut trades = self.venue.mark(symbol, price, at);
        self.prices.insert(symbol.clone(), (price, at));
        for trade in &trades {
            self.record_close(trade, false);
        }
        let _ = self.check_daily_loss();
        if !self.books.is_empty() {
            trades.extend(self.mark_books(|b| b.mark(symbol, price, at)));
        }
        if self.chains.watching() {
            self.watch_price(symbol, price);
        }
        trades
    }

    /// A closed bar: SL and TP checked against its range, its close the last price. Returns the
    /// trades it closed (already recorded).
    pub fn mark_bar(&mut self, symbol: &Symbol, bar: &Bar) -> Vec<Trade> {
        let at = self.now();
        let mut trades = self.venue.mark_bar(symbol, bar, at);
        match self.prices.get_mut(symbol) {
            Some(last) => *last = (bar.close, at),
            None => {
                self.prices.insert(symbol.clone(), (bar.close, at));
            }
        }
        for trade in &trades {
            self.record_close(trade, false);
        }
        // With no position open and none closed, neither realized nor unrealized P&L moved.
        self.marked =
            if !trades.is_empty() || self.venue.has_open_positions() { self.check_daily_loss() } else { None };
        if !self.books.is_empty() {
            trades.extend(self.mark_books(|b| b.mark_bar(symbol, bar, at)));
        }
        if self.chains.watching() {
            self.watch_price(symbol, bar.close);
        }
        trades
    }

    /// The account as the last [`Services::mark_bar`] valued it (for the daily loss check), when
    /// it had to; it is stale as soon as anything else changes the book.
    #[must_use]
    pub const fn marked_account(&self) -> Option<&Account> {
        self.marked.as_ref()
    }

    /// A plugin emitted a signal; the kernel takes it with [`Services::take_emitted`].
    pub fn emit(&mut self, plugin: PluginId, signal: Signal) {
        self.emitted.push((plugin, signal));
    }

    /// The signals emitted since `from` (an earlier length of the buffer), taken out.
    pub fn take_emitted_from(&mut self, from: usize) -> Vec<(PluginId, Signal)> {
        self.emitted.split_off(from.min(self.emitted.len()))
    }

    /// How many emitted signals wait to be taken.
    #[must_use]
    pub fn emitted_len(&self) -> usize {
        self.emitted.len()
    }

    /// Records a close: of the live book, or of a virtual book (`shadow`), which changes
    /// neither the day's P&L nor the live position counts.
    fn record_close(&mut self, trade: &Trade, shadow: bool) {
        if !shadow {
            self.realized_today += trade.pnl;
            if let Some(n) = self.open_by_plugin.get_mut(&trade.position.plugin) {
                *n = n.saturating_sub(1);
            }
        }
        let p = &trade.position;
        let message = format!(
            "{}closed #{} {} {} {} at {} ({}): {} ({} pips)",
            if shadow { "shadow: " } else { "" },
            p.id,
            p.side,
            p.lots,
            p.symbol,
            trade.exit_price,
            trade.reason.as_str(),
            trade.pnl,
            trade.pips
        );
        let data = json!({"position": p.id, "pnl": trade.pnl, "reason": trade.reason, "shadow": shadow});
        self.event(EventKind::PositionClosed, Some(&p.plugin), message, data);
        let pip = self.symbols.get(&p.symbol).map_or(rust_decimal::Decimal::ONE, |s| s.pip_size);
        // A shield's hedge is the engine's insurance, not a trade the plugin won or lost.
        let hedge = self.chains.is_hedge(&p.plugin, shadow, p.id);
        let fx = self.chains.on_close(trade, shadow, pip, trade.closed_at);
        self.apply_chain_effects(fx);
        if !shadow
            && !hedge
            && self.risk.record_result(
                &p.plugin,
                &p.symbol,
                trade.reason == CloseReason::StopLoss,
                trade.pnl > Money::ZERO,
                trade.closed_at,
            )
        {
            self.save_safety();
        }
        if shadow {
            self.ops.push(StoreOp::ShadowClosed(Box::new(trade.clone())));
            return;
        }
        self.marked = None;
        self.ops.push(StoreOp::Closed(Box::new(trade.clone())));
        if trade.reason == CloseReason::StopLoss {
            let why = format!("stop loss of #{} ({}) at {}", p.id, p.plugin, trade.exit_price);
            if let Some(lock) = self.risk.lock_after_stop(&p.symbol, trade.closed_at, &why) {
                let message = format!("{} locked until {}: {}", lock.symbol, lock.until, lock.reason);
                let data = json!({"symbol": lock.symbol, "until": lock.until, "locked": true});
                self.event(EventKind::SymbolLock, Some(&p.plugin), message, data);
                self.ops.push(StoreOp::SymbolLock { symbol: lock.symbol.clone(), lock: Some(lock) });
            }
        }
    }

    /// Lifts a symbol's cooldown lock (an operator's order); the lock it lifted.
    pub fn unlock(&mut self, symbol: &Symbol) -> Option<SymbolLock> {
        let lock = self.risk.unlock(symbol, self.now())?;
        let message = format!("{symbol} unlocked by an operator (was locked until {})", lock.until);
        self.event(EventKind::SymbolLock, None, message, json!({"symbol": symbol, "locked": false}));
        self.ops.push(StoreOp::SymbolLock { symbol: symbol.clone(), lock: None });
        Some(lock)
    }

    /// Re-evaluates the daily loss lock; the account it valued to do so, if it had to.
    fn check_daily_loss(&mut self) -> Option<Account> {
        // Valuing the book cannot change anything when the limit is off or already reached.
        if self.risk.loss_locked() || self.risk.config().daily_loss_limit <= rust_decimal::Decimal::ZERO {
            return None;
        }
        let account = self.venue.account();
        let unrealized = account.unrealized;
        if self.risk.update_daily_pnl(self.realized_today, unrealized) {
            let limit = self.risk.config().daily_loss_limit;
            let message = format!(
                "daily loss limit {limit} reached (realized {}, unrealized {unrealized}): reduce-only until the daily reset",
                self.realized_today
            );
            self.event(EventKind::DailyLossLimit, None, message, json!({"limit": limit.to_string()}));
        }
        Some(account)
    }

    fn spec(&self, symbol: &Symbol, service: Service) -> Result<SymbolSpec, ServiceError> {
        self.symbols.get(symbol).cloned().ok_or_else(|| {
            err(
                service,
                ServiceErrorCode::RiskRejected(RiskCode::UnknownSymbol),
                format!("unknown_symbol: {symbol} is not in the symbol table: add it under [symbols.{symbol}]"),
            )
        })
    }

    fn level_price(
        spec: &SymbolSpec,
        reference: Price,
        side: Side,
        level: Level,
        stop: bool,
    ) -> Result<Price, ServiceError> {
        match level {
            Level::Price(p) => Ok(p),
            Level::Pips(pips) => {
                let distance = pips.value() * spec.pip_size;
                // A stop sits against the position, a target with it.
                let towards_loss = if stop { -side.sign() } else { side.sign() };
                Price::new(reference.value() + distance * towards_loss).map_err(|_| {
                    denied(Denial {
                        code: RiskCode::InvalidLevels,
                        message: format!("{pips} pips from {reference} is not a positive price"),
                    })
                })
            }
        }
    }

    /// Opens a position for a plugin: sizes it, checks it at the risk gate, executes it.
    ///
    /// # Errors
    /// A risk refusal with its code, or an invalid request.
    pub fn place_order(
        &mut self,
        meta: &PluginMeta,
        intent: OrderIntent,
        signal_id: Option<&SignalId>,
    ) -> Result<Placed, ServiceError> {
        let now = self.now();
        let id = OrderId(self.next_order_id);
        self.next_order_id += 1;
        let shadow = self.is_shadow(meta.id());
        let prefix = if shadow { "shadow: " } else { "" };
        let result = self.try_place(meta, &intent, id, signal_id, now, shadow);
        match result.map_err(|b| *b) {
            Ok(placed) => {
                let p = &placed.position;
                let message = format!(
                    "{prefix}opened #{} {} {} {} at {} (order {})",
                    p.id, p.side, p.lots, p.symbol, p.entry_price, id
                );
                let data = json!({"order": id, "position": p.id, "shadow": shadow});
                self.event(EventKind::OrderPlaced, Some(meta.id()), message, data);
                if shadow {
                    self.ops.push(StoreOp::ShadowPosition(Box::new(placed.position.clone())));
                    return Ok(placed);
                }
                self.marked = None;
                self.ops.push(StoreOp::Order(Box::new(placed.order.clone())));
                self.ops.push(StoreOp::Position(Box::new(placed.position.clone())));
                self.ops.push(StoreOp::PluginTradeOpened(Box::new(placed.position.clone())));
                let _ = self.check_daily_loss();
                Ok(placed)
            }
            Err((request, error)) => {
                if let Some(request) = request.filter(|_| !shadow) {
                    let order = Order {
                        id,
                        plugin: meta.id().clone(),
                        signal_id: signal_id.cloned(),
                        request,
                        status: OrderStatus::Rejected,
                        reason: Some(error.message.clone()),
                        created_at: now,
                    };
                    self.ops.push(StoreOp::Order(Box::new(order)));
                }
                let message =
                    format!("{prefix}order {id} for {} {} refused: {}", intent.side, intent.symbol, error.message);
                let data = json!({"order": id, "shadow": shadow});
                self.event(EventKind::OrderRejected, Some(meta.id()), message, data);
                Err(error)
            }
        }
    }

    fn try_place(
        &mut self,
        meta: &PluginMeta,
        intent: &OrderIntent,
        id: OrderId,
        signal_id: Option<&SignalId>,
        now: DateTime<Utc>,
        shadow: bool,
    ) -> Result<Placed, Box<Refusal>> {
        let spec = self.spec(&intent.symbol, Service::Orders).map_err(|e| Box::new((None, e)))?;
        let book = self.venue_of(meta.id());
        let reference = intent.price.or_else(|| book.last_price(&intent.symbol)).ok_or_else(|| {
            let d = Denial {
                code: RiskCode::NoPrice,
                message: format!("no price for {}: send `price` in the alert or a market update first", intent.symbol),
            };
            Box::new((None, denied(d)))
        })?;
        let sl = intent.sl.map(|l| Self::level_price(&spec, reference, intent.side, l, true)).transpose();
        let tp = intent.tp.map(|l| Self::level_price(&spec, reference, intent.side, l, false)).transpose();
        let (sl, tp) = (sl.map_err(|e| Box::new((None, e)))?, tp.map_err(|e| Box::new((None, e)))?);
        let lots = match intent.size {
            Some(sizing) => risk::lot_size(&spec, book.account().balance, reference, sl, sizing)
                .map_err(|d| Box::new((None, denied(d))))?,
            None => Lots::new(self.risk.config().default_lot)
                .map_err(|e| Box::new((None, err(Service::Orders, ServiceErrorCode::InvalidRequest, e.to_string()))))?,
        };
        let request = OrderRequest {
            symbol: intent.symbol.clone(),
            side: intent.side,
            lots,
            sl,
            tp,
            price: Some(reference),
            comment: intent.comment.clone(),
        };
        let ticket =
            OrderTicket { id, plugin: meta.id().clone(), signal_id: signal_id.cloned(), request: request.clone() };
        let symbol_lots = if self.risk.config().max_lots_per_symbol > rust_decimal::Decimal::ZERO {
            book.open_positions().filter(|p| p.symbol == intent.symbol).map(|p| p.lots.value()).sum()
        } else {
            rust_decimal::Decimal::ZERO
        };
        let approved = if shadow {
            // A virtual book holds one plugin's positions.
            let in_book = book.open_positions().count();
            let open = OpenCounts { total: in_book, plugin: in_book, symbol_lots };
            self.risk.check_virtual(ticket, &meta.symbols, Some(&spec), open)
        } else {
            let open = OpenCounts {
                total: self.open_by_plugin.values().sum(),
                plugin: self.open_by_plugin.get(meta.id()).copied().unwrap_or(0),
                symbol_lots,
            };
            self.risk.check_open(ticket, &meta.symbols, Some(&spec), open, now)
        }
        .map_err(|d| Box::new((Some(request.clone()), denied(d))))?;
        let execution = self.venue_of_mut(meta.id()).execute(approved, now).map_err(|e| {
            let code = match e {
                VenueError::NoPrice(_) => RiskCode::NoPrice,
                VenueError::UnknownSymbol(_) => RiskCode::UnknownSymbol,
                VenueError::InvalidLevels(_) | VenueError::UnknownPosition(_) => RiskCode::InvalidLevels,
            };
            Box::new((Some(request.clone()), denied(Denial { code, message: e.to_string() })))
        })?;
        if !shadow {
            self.ops.push(StoreOp::Fill(Box::new(execution.fill)));
            *self.open_by_plugin.entry(meta.id().clone()).or_insert(0) += 1;
        }
        let order = Order {
            id,
            plugin: meta.id().clone(),
            signal_id: signal_id.cloned(),
            request,
            status: OrderStatus::Filled,
            reason: None,
            created_at: now,
        };
        Ok(Placed { order, position: execution.position })
    }

    /// An open position of the plugin, on its book.
    fn own_position(&self, meta: &PluginMeta, id: PositionId, service: Service) -> Result<Position, ServiceError> {
        self.venue_of(meta.id())
            .open_positions()
            .find(|p| p.id == id && &p.plugin == meta.id())
            .cloned()
            .ok_or_else(|| err(service, ServiceErrorCode::NotFound, format!("no open position {id} of this plugin")))
    }

    /// Closes a position on behalf of its plugin (or an operator, with `meta = None`).
    ///
    /// # Errors
    /// Not found, trading halted (plugins only), or no price.
    pub fn close_position(
        &mut self,
        meta: Option<&PluginMeta>,
        id: PositionId,
        reason: CloseReason,
    ) -> Result<Trade, ServiceError> {
        let now = self.now();
        let shadow = meta.is_some_and(|m| self.is_shadow(m.id()));
        let venue = match meta {
            Some(meta) => {
                self.own_position(meta, id, Service::Orders)?;
                self.risk.check_reduce().map_err(denied)?;
                self.venue_of_mut(meta.id())
            }
            None => self.venue.as_mut(),
        };
        let trade = venue.close(id, reason, now).map_err(|e| match e {
            VenueError::UnknownPosition(_) => err(Service::Orders, ServiceErrorCode::NotFound, e.to_string()),
            other => err(Service::Orders, ServiceErrorCode::Unavailable, other.to_string()),
        })?;
        self.record_close(&trade, shadow);
        if !shadow {
            let _ = self.check_daily_loss();
        }
        Ok(trade)
    }

    /// Closes a plugin's positions on a symbol, optionally one side only.
    ///
    /// # Errors
    /// Trading halted, or no price.
    pub fn close_positions(
        &mut self,
        meta: &PluginMeta,
        symbol: &Symbol,
        side: Option<Side>,
        reason: CloseReason,
    ) -> Result<Vec<Trade>, ServiceError> {
        let ids: Vec<PositionId> = self
            .venue_of(meta.id())
            .open_positions()
            .filter(|p| &p.plugin == meta.id() && &p.symbol == symbol && side.is_none_or(|s| s == p.side))
            .map(|p| p.id)
            .collect();
        ids.into_iter().map(|id| self.close_position(Some(meta), id, reason)).collect()
    }

    /// Moves a position's SL/TP.
    ///
    /// # Errors
    /// Not found, halted, or levels on the wrong side.
    pub fn modify_position(
        &mut self,
        meta: &PluginMeta,
        id: PositionId,
        sl: Option<Price>,
        tp: Option<Price>,
    ) -> Result<Position, ServiceError> {
        self.own_position(meta, id, Service::Orders)?;
        self.risk.check_reduce().map_err(denied)?;
        let position = self
            .venue_of_mut(meta.id())
            .modify(id, sl, tp)
            .map_err(|e| err(Service::Orders, ServiceErrorCode::InvalidRequest, e.to_string()))?;
        if self.is_shadow(meta.id()) {
            self.ops.push(StoreOp::ShadowPosition(Box::new(position.clone())));
        } else {
            self.marked = None;
            self.ops.push(StoreOp::Position(Box::new(position.clone())));
        }
        Ok(position)
    }

    /// A plugin's open positions.
    #[must_use]
    pub fn positions_of(&self, plugin: &PluginId, symbol: Option<&Symbol>) -> Vec<Position> {
        self.venue_of(plugin)
            .open_positions()
            .filter(|p| &p.plugin == plugin && symbol.is_none_or(|s| &p.symbol == s))
            .cloned()
            .collect()
    }

    /// Lot size for risking `sizing` between `entry` and `sl`.
    ///
    /// # Errors
    /// Unknown symbol or a size below the minimum.
    pub fn lot_size(&self, symbol: &Symbol, entry: Price, sl: Price, sizing: Sizing) -> Result<Lots, ServiceError> {
        let spec = self.spec(symbol, Service::Risk)?;
        risk::lot_size(&spec, self.venue.account().balance, entry, Some(sl), sizing)
            .map_err(|d| ServiceError { service: Service::Risk, ..denied(d) })
    }

    /// Last price.
    #[must_use]
    pub fn last_price(&self, symbol: &Symbol) -> Option<Price> {
        self.venue.last_price(symbol)
    }

    /// Trend.
    #[must_use]
    pub fn trend(&self, symbol: &Symbol, timeframe: Timeframe) -> Trend {
        self.trends.get(symbol, timeframe)
    }

    /// A plugin's notification: an event and a log line (Telegram comes later).
    pub fn notify(&mut self, plugin: &PluginId, level: NotifyLevel, message: &str) {
        let data = json!({"level": level});
        self.event(EventKind::Notify, Some(plugin), message.to_owned(), data);
    }

    fn db(&mut self, plugin: &PluginId) -> Result<&mut Box<dyn PluginDb>, ServiceError> {
        if !self.plugin_dbs.contains_key(plugin) {
            let db = self
                .store
                .plugin_db(plugin)
                .map_err(|e| err(Service::Db, ServiceErrorCode::Unavailable, e.to_string()))?;
            self.plugin_dbs.insert(plugin.clone(), db);
        }
        self.plugin_dbs
            .get_mut(plugin)
            .ok_or_else(|| err(Service::Db, ServiceErrorCode::Unavailable, "plugin database not open"))
    }

    /// Runs a statement on the plugin's own database.
    ///
    /// # Errors
    /// The database cannot be opened or the SQL failed.
    pub fn db_execute(&mut self, plugin: &PluginId, sql: &str, params: &[Value]) -> Result<usize, ServiceError> {
        self.db(plugin)?
            .execute(sql, params)
            .map_err(|e| err(Service::Db, ServiceErrorCode::InvalidRequest, e.to_string()))
    }

    /// Runs a query on the plugin's own database.
    ///
    /// # Errors
    /// The database cannot be opened or the SQL failed.
    pub fn db_query(
        &mut self,
        plugin: &PluginId,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Map<String, Value>>, ServiceError> {
        self.db(plugin)?
            .query(sql, params)
            .map_err(|e| err(Service::Db, ServiceErrorCode::InvalidRequest, e.to_string()))
    }

    /// Every open position.
    #[must_use]
    pub fn all_positions(&self) -> Vec<Position> {
        self.venue.positions()
    }

    /// Health of each service, with the fallback in use when degraded.
    #[must_use]
    pub fn health(&self) -> Vec<(Service, ServiceHealth)> {
        Service::ALL
            .iter()
            .map(|s| {
                let h = match s {
                    Service::Market if self.symbols.symbols().all(|sym| self.venue.last_price(sym).is_none()) => {
                        ServiceHealth::degraded("no market prices yet: orders fill at the price the alert carries")
                    }
                    Service::Orders if self.risk.state() != crate::risk::TradingState::Active => {
                        ServiceHealth::degraded(format!("trading is {}", self.risk.state()))
                    }
                    Service::Orders if self.risk.loss_locked() => {
                        ServiceHealth::degraded("daily loss limit reached: reduce-only")
                    }
                    Service::Notify => ServiceHealth::degraded("no Telegram yet: notifications go to the event log"),
                    _ => ServiceHealth::up(),
                };
                (*s, h)
            })
            .collect()
    }
}
