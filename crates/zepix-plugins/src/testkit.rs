//! Test kit for the built-ins: a [`FakeContext`] that records what a plugin asked for and refuses
//! anything its manifest does not declare, plus builders for alerts and plugins.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use zepix_model::signal::parse_alert;
use zepix_model::{
    CloseReason, Level, Lots, Money, Order, OrderId, OrderRequest, OrderStatus, PluginId, Position, PositionId, Price,
    Side, Signal, Sizing, Symbol, Timeframe, Trade, Trend,
};
use zepix_plugin::chain::{
    ChainStatus, DualPlan, ProfitChain, PyramidPlan, RecoveryCheck, ReentryChain, ReentryPlan, Shield,
};
use zepix_plugin::{
    BuiltinPlugin, Capability, DualPlaced, Manifest, NotifyLevel, OrderIntent, Placed, Plugin, PluginContext, RiskCode,
    Service, ServiceError, ServiceErrorCode, Settings,
};

/// The symbol most tests trade.
pub const GOLD: &str = "XAUUSD";

/// The fixed time of the fake clock.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_564_800, 0).unwrap()
}

/// A signal parsed from an alert body, the way the webhook would.
pub fn alert(body: Value) -> Signal {
    parse_alert(body.to_string().as_bytes(), now()).unwrap().signal
}

/// A symbol.
pub fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

/// A price.
pub fn price(text: &str) -> Price {
    text.parse().unwrap()
}

/// A decimal.
pub fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Settings validated against `manifest`'s schema, as the engine does before `build`.
pub fn settings(manifest: &Manifest, given: Value) -> Settings {
    let given: Map<String, Value> = given.as_object().cloned().unwrap_or_default();
    Settings::validate(&manifest.settings_schema, &given).unwrap()
}

/// A built-in built from `given` settings, with a fake context holding exactly its capabilities.
pub fn start(builtin: &BuiltinPlugin, given: Value) -> (Box<dyn Plugin>, FakeContext) {
    let manifest = (builtin.manifest)();
    let plugin = (builtin.build)(&settings(&manifest, given)).unwrap();
    (plugin, FakeContext::for_manifest(&manifest))
}

/// A service call that changed something, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// An order was placed.
    Placed(Side, Symbol),
    /// A position was closed.
    Closed(PositionId, Side, Symbol),
}

/// A [`PluginContext`] without an engine. It fills every order at the intent's price (else the
/// last price set), keeps positions of several plugins so ownership can be tested, and refuses
/// calls outside its capability list with [`ServiceErrorCode::CapabilityDenied`], recording them.
#[derive(Debug)]
pub struct FakeContext {
    plugin: PluginId,
    capabilities: Vec<Capability>,
    trends: HashMap<(Symbol, Timeframe), Trend>,
    prices: HashMap<Symbol, Price>,
    open: Vec<Position>,
    next_id: u64,
    refusal: Option<RiskCode>,
    /// Every intent passed to `place_order` that was accepted, in order.
    pub placed: Vec<OrderIntent>,
    /// Orders placed and positions closed, in order.
    pub calls: Vec<Call>,
    /// Services the plugin called without the capability.
    pub denied: Vec<Service>,
    /// Trend look-ups, in order.
    pub trend_queries: Vec<(Symbol, Timeframe)>,
    /// Notifications sent.
    pub notes: Vec<(NotifyLevel, String)>,
    /// Signals emitted.
    pub emitted: Vec<Signal>,
    pub chains: Vec<ProfitChain>,
    pub reentries: Vec<ReentryChain>,
}

impl FakeContext {
    /// A context for `plugin` granting `capabilities`.
    pub fn new(plugin: &str, capabilities: &[Capability]) -> Self {
        Self {
            plugin: PluginId::new(plugin).unwrap(),
            capabilities: capabilities.to_vec(),
            trends: HashMap::new(),
            prices: HashMap::new(),
            open: Vec::new(),
            next_id: 1,
            refusal: None,
            placed: Vec::new(),
            calls: Vec::new(),
            denied: Vec::new(),
            trend_queries: Vec::new(),
            notes: Vec::new(),
            emitted: Vec::new(),
            chains: Vec::new(),
            reentries: Vec::new(),
        }
    }

    /// Records a chain over positions just placed, as the engine would start it.
    fn chain(&mut self, intent: &OrderIntent, plan: PyramidPlan, open: Vec<PositionId>, lot: Lots) -> ProfitChain {
        let chain = ProfitChain {
            id: u64::try_from(self.chains.len()).unwrap_or(0) + 1,
            plugin: self.plugin.clone(),
            shadow: false,
            symbol: intent.symbol.clone(),
            side: intent.side,
            signal_id: None,
            lot,
            plan,
            level: 0,
            open,
            booked: Money::ZERO,
            status: ChainStatus::Active,
            note: None,
            started_at: now(),
            updated_at: now(),
        };
        self.chains.push(chain.clone());
        chain
    }

    /// A context granting exactly what `manifest` declares.
    pub fn for_manifest(manifest: &Manifest) -> Self {
        Self::new(manifest.id.as_str(), &manifest.capabilities)
    }

    /// Sets the trend manager's trend; unset trends are neutral.
    pub fn set_trend(&mut self, symbol: &str, timeframe: Timeframe, trend: Trend) {
        self.trends.insert((sym(symbol), timeframe), trend);
    }

    /// Sets the last price of a symbol.
    pub fn set_price(&mut self, symbol: &str, last: &str) {
        self.prices.insert(sym(symbol), price(last));
    }

    /// Makes the risk gate refuse every order with `code`.
    pub fn refuse_orders(&mut self, code: RiskCode) {
        self.refusal = Some(code);
    }

    /// Opens a position as if `owner` had placed it earlier (at 100, 0.1 lots).
    pub fn seed_position(&mut self, owner: &str, symbol: &str, side: Side) -> PositionId {
        let intent = OrderIntent {
            symbol: sym(symbol),
            side,
            size: None,
            price: Some(price("100")),
            sl: None,
            tp: None,
            comment: String::new(),
        };
        let owner = PluginId::new(owner).unwrap();
        let (_, position) = self.fill(&owner, &intent, price("100"));
        position.id
    }

    /// Every open position, of every plugin.
    pub fn open_positions(&self) -> &[Position] {
        &self.open
    }

    fn check(&mut self, service: Service) -> Result<(), ServiceError> {
        if self.capabilities.contains(&service.capability()) {
            return Ok(());
        }
        self.denied.push(service);
        Err(ServiceError {
            service,
            code: ServiceErrorCode::CapabilityDenied,
            message: format!("the manifest does not declare `{}`", service.capability()),
        })
    }

    fn fill(&mut self, owner: &PluginId, intent: &OrderIntent, at: Price) -> (Order, Position) {
        let id = self.next_id;
        self.next_id += 1;
        let lots = match intent.size {
            Some(Sizing::Lots(lots)) => lots,
            // The fake does not size by risk; the intent records what was asked.
            _ => "0.1".parse::<Lots>().unwrap(),
        };
        let level = |l: Option<Level>| match l {
            Some(Level::Price(p)) => Some(p),
            _ => None,
        };
        let order = Order {
            id: OrderId(id),
            plugin: owner.clone(),
            signal_id: None,
            request: OrderRequest {
                symbol: intent.symbol.clone(),
                side: intent.side,
                lots,
                sl: level(intent.sl),
                tp: level(intent.tp),
                price: intent.price,
                comment: intent.comment.clone(),
            },
            status: OrderStatus::Filled,
            reason: None,
            created_at: now(),
        };
        let position = Position {
            id: PositionId(id),
            plugin: owner.clone(),
            order_id: order.id,
            signal_id: None,
            symbol: intent.symbol.clone(),
            side: intent.side,
            lots,
            entry_price: at,
            sl: level(intent.sl),
            tp: level(intent.tp),
            opened_at: now(),
        };
        self.open.push(position.clone());
        (order, position)
    }

    fn close(&mut self, index: usize) -> Trade {
        let position = self.open.remove(index);
        self.calls.push(Call::Closed(position.id, position.side, position.symbol.clone()));
        Trade {
            exit_price: self.prices.get(&position.symbol).copied().unwrap_or(position.entry_price),
            closed_at: now(),
            pnl: Money::ZERO,
            pips: Decimal::ZERO,
            reason: CloseReason::Signal,
            position,
        }
    }

    fn own(&self, position: PositionId, service: Service) -> Result<Position, ServiceError> {
        let found = self.open.iter().find(|p| p.id == position && p.plugin == self.plugin).cloned();
        found.ok_or_else(|| Self::not_found(service, format!("no position {position} of this plugin")))
    }

    fn not_found(service: Service, what: String) -> ServiceError {
        ServiceError { service, code: ServiceErrorCode::NotFound, message: what }
    }
}

impl PluginContext for FakeContext {
    fn plugin_id(&self) -> &PluginId {
        &self.plugin
    }

    fn now(&self) -> DateTime<Utc> {
        now()
    }

    fn place_order(&mut self, intent: OrderIntent) -> Result<Placed, ServiceError> {
        self.check(Service::Orders)?;
        let refuse = |code: RiskCode| ServiceError {
            service: Service::Orders,
            code: ServiceErrorCode::RiskRejected(code),
            message: code.to_string(),
        };
        if let Some(code) = self.refusal {
            return Err(refuse(code));
        }
        let at = intent.price.or_else(|| self.prices.get(&intent.symbol).copied()).ok_or(refuse(RiskCode::NoPrice))?;
        let owner = self.plugin.clone();
        let (order, position) = self.fill(&owner, &intent, at);
        self.calls.push(Call::Placed(intent.side, intent.symbol.clone()));
        self.placed.push(intent);
        Ok(Placed { order, position })
    }

    fn modify_position(
        &mut self,
        id: PositionId,
        sl: Option<Price>,
        tp: Option<Price>,
    ) -> Result<Position, ServiceError> {
        self.check(Service::Orders)?;
        let plugin = self.plugin.clone();
        let position = self
            .open
            .iter_mut()
            .find(|p| p.id == id && p.plugin == plugin)
            .ok_or_else(|| Self::not_found(Service::Orders, format!("no position {id} of this plugin")))?;
        position.sl = sl.or(position.sl);
        position.tp = tp.or(position.tp);
        Ok(position.clone())
    }

    fn close_position(&mut self, id: PositionId) -> Result<Trade, ServiceError> {
        self.check(Service::Orders)?;
        let index = self
            .open
            .iter()
            .position(|p| p.id == id && p.plugin == self.plugin)
            .ok_or_else(|| Self::not_found(Service::Orders, format!("no position {id} of this plugin")))?;
        Ok(self.close(index))
    }

    fn close_positions(&mut self, symbol: &Symbol, side: Option<Side>) -> Result<Vec<Trade>, ServiceError> {
        self.check(Service::Orders)?;
        let mut trades = Vec::new();
        while let Some(index) = self
            .open
            .iter()
            .position(|p| p.plugin == self.plugin && p.symbol == *symbol && side.is_none_or(|s| s == p.side))
        {
            trades.push(self.close(index));
        }
        Ok(trades)
    }

    fn positions(&mut self, symbol: Option<&Symbol>) -> Result<Vec<Position>, ServiceError> {
        self.check(Service::Positions)?;
        Ok(self
            .open
            .iter()
            .filter(|p| p.plugin == self.plugin && symbol.is_none_or(|s| *s == p.symbol))
            .cloned()
            .collect())
    }

    fn lot_size(&mut self, _symbol: &Symbol, _entry: Price, _sl: Price, _sizing: Sizing) -> Result<Lots, ServiceError> {
        self.check(Service::Risk)?;
        Ok("0.1".parse::<Lots>().unwrap())
    }

    fn last_price(&mut self, symbol: &Symbol) -> Result<Option<Price>, ServiceError> {
        self.check(Service::Market)?;
        Ok(self.prices.get(symbol).copied())
    }

    fn trend(&mut self, symbol: &Symbol, timeframe: Timeframe) -> Result<Trend, ServiceError> {
        self.check(Service::Trend)?;
        self.trend_queries.push((symbol.clone(), timeframe));
        Ok(self.trends.get(&(symbol.clone(), timeframe)).copied().unwrap_or_default())
    }

    fn notify(&mut self, level: NotifyLevel, message: &str) -> Result<(), ServiceError> {
        self.check(Service::Notify)?;
        self.notes.push((level, message.to_owned()));
        Ok(())
    }

    fn emit_signal(&mut self, signal: Signal) -> Result<(), ServiceError> {
        self.check(Service::Signals)?;
        self.emitted.push(signal);
        Ok(())
    }

    fn place_dual_order(&mut self, intent: OrderIntent, plan: DualPlan) -> Result<DualPlaced, ServiceError> {
        self.check(Service::DualOrder)?;
        self.check(Service::ProfitBooking)?;
        plan.validate().map_err(|message| ServiceError {
            service: Service::DualOrder,
            code: ServiceErrorCode::InvalidRequest,
            message,
        })?;
        let a = self.place_order(OrderIntent { comment: "dual A".into(), ..intent.clone() })?;
        let b = self.place_order(OrderIntent { tp: None, comment: "dual B".into(), ..intent.clone() })?;
        let chain = self.chain(&intent, plan.pyramid, vec![b.position.id], b.position.lots);
        Ok(DualPlaced { id: chain.id, a, b: Some(b), b_refused: None, chain: Some(chain) })
    }

    fn start_profit_chain(&mut self, intent: OrderIntent, plan: PyramidPlan) -> Result<ProfitChain, ServiceError> {
        self.check(Service::ProfitBooking)?;
        let mut open = Vec::new();
        let mut lot = None;
        for _ in 0..plan.levels.first().copied().unwrap_or(1) {
            let placed = self.place_order(intent.clone())?;
            lot = Some(placed.position.lots);
            open.push(placed.position.id);
        }
        let lot = lot.unwrap_or_else(|| Lots::new(Decimal::ONE).unwrap());
        Ok(self.chain(&intent, plan, open, lot))
    }

    fn profit_chains(&mut self) -> Result<Vec<ProfitChain>, ServiceError> {
        self.check(Service::ProfitBooking)?;
        Ok(self.chains.clone())
    }

    fn start_reentry(&mut self, position: PositionId, plan: ReentryPlan) -> Result<ReentryChain, ServiceError> {
        self.check(Service::Reentry)?;
        let p = self.own(position, Service::Reentry)?;
        let chain = ReentryChain {
            id: u64::try_from(self.reentries.len()).unwrap_or(0) + 1,
            plugin: self.plugin.clone(),
            shadow: false,
            symbol: p.symbol.clone(),
            side: p.side,
            signal_id: None,
            lot: p.lots,
            sl_distance: p.sl.map(|sl| (p.entry_price.value() - sl.value()).abs()),
            tp_distance: p.tp.map(|tp| (tp.value() - p.entry_price.value()).abs()),
            plan,
            level: 0,
            position: Some(position),
            watching: None,
            booked: Money::ZERO,
            status: ChainStatus::Active,
            note: None,
            started_at: now(),
            updated_at: now(),
        };
        self.reentries.push(chain.clone());
        Ok(chain)
    }

    fn reentry_chains(&mut self) -> Result<Vec<ReentryChain>, ServiceError> {
        self.check(Service::Reentry)?;
        Ok(self.reentries.clone())
    }

    fn shield_position(&mut self, position: PositionId, share: Decimal) -> Result<Shield, ServiceError> {
        self.check(Service::Safety)?;
        let p = self.own(position, Service::Safety)?;
        let sl =
            p.sl.ok_or_else(|| Self::not_found(Service::Safety, format!("position {position} has no stop loss")))?;
        Ok(Shield {
            id: 1,
            plugin: self.plugin.clone(),
            shadow: false,
            position,
            symbol: p.symbol.clone(),
            side: p.side,
            lot: p.lots,
            entry: p.entry_price,
            trigger_distance: (p.entry_price.value() - sl.value()).abs() * share,
            hedge: None,
            hedges: 0,
            booked: Money::ZERO,
            status: ChainStatus::Active,
            started_at: now(),
            updated_at: now(),
        })
    }

    fn check_recovery_allowed(&mut self, _symbol: &Symbol) -> Result<RecoveryCheck, ServiceError> {
        self.check(Service::Safety)?;
        Ok(RecoveryCheck {
            allowed: self.refusal.is_none(),
            reasons: self.refusal.iter().map(ToString::to_string).collect(),
        })
    }

    fn db_execute(&mut self, _sql: &str, _params: &[Value]) -> Result<usize, ServiceError> {
        self.check(Service::Db)?;
        Ok(0)
    }

    fn db_query(&mut self, _sql: &str, _params: &[Value]) -> Result<Vec<Map<String, Value>>, ServiceError> {
        self.check(Service::Db)?;
        Ok(Vec::new())
    }
}

#[test]
fn refuses_what_the_manifest_does_not_declare() {
    let mut ctx = FakeContext::new("some_plugin", &[Capability::Positions]);
    assert!(ctx.positions(None).unwrap().is_empty());
    let err = ctx.trend(&sym(GOLD), Timeframe::M15).unwrap_err();
    assert_eq!((err.service, err.code), (Service::Trend, ServiceErrorCode::CapabilityDenied));
    let err = ctx.close_positions(&sym(GOLD), None).unwrap_err();
    assert_eq!(err.code, ServiceErrorCode::CapabilityDenied);
    assert_eq!(ctx.denied, [Service::Trend, Service::Orders]);
}

#[test]
fn keeps_plugins_positions_apart() {
    let mut ctx = FakeContext::new("mine", &[Capability::Orders, Capability::Positions]);
    let theirs = ctx.seed_position("theirs", GOLD, Side::Buy);
    let mine = ctx.seed_position("mine", GOLD, Side::Buy);
    let listed: Vec<PositionId> = ctx.positions(None).unwrap().iter().map(|p| p.id).collect();
    assert_eq!(listed, [mine]);
    assert_eq!(ctx.close_position(theirs).unwrap_err().code, ServiceErrorCode::NotFound);
    assert_eq!(ctx.close_positions(&sym(GOLD), None).unwrap().len(), 1);
    assert_eq!(ctx.open_positions().len(), 1, "the other plugin's position stays open");
}
