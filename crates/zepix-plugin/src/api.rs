//! The plugin API: the [`Plugin`] trait the engine calls, and the [`PluginContext`] a plugin uses
//! to touch the world. A plugin never sees the venue, the config or another plugin's data.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zepix_model::{
    Bar, Feed, Level, Lots, Order, OrderId, PluginId, Position, PositionId, Price, Side, Signal, Sizing, Symbol,
    Timeframe, Trade, Trend,
};

use crate::capability::Service;
use crate::chain::{DualPlan, ProfitChain, PyramidPlan, RecoveryCheck, ReentryChain, ReentryPlan, Shield};
use crate::manifest::Manifest;
use crate::settings::Settings;

/// What a plugin asks to open. The engine turns pip levels into prices at the fill and sizes the
/// order from `size` (or the plugin's default lot when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIntent {
    /// Instrument.
    pub symbol: Symbol,
    /// Direction.
    pub side: Side,
    /// Size; `None` uses the default lot.
    pub size: Option<Sizing>,
    /// Reference price (the signal's); the paper venue fills there when given.
    pub price: Option<Price>,
    /// Stop loss.
    pub sl: Option<Level>,
    /// Take profit (the first target).
    pub tp: Option<Level>,
    /// Stored with the order.
    pub comment: String,
}

impl OrderIntent {
    /// An intent that trades a signal as given. `None` when the signal has no symbol or side.
    #[must_use]
    pub fn from_signal(signal: &Signal) -> Option<Self> {
        Some(Self {
            symbol: signal.symbol.clone()?,
            side: signal.side?,
            size: signal.size,
            price: signal.price,
            sl: signal.sl,
            tp: signal.tp.first().copied(),
            comment: String::new(),
        })
    }
}

/// The result of a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The order.
    pub order: Order,
    /// The position it opened.
    pub position: Position,
}

/// Severity of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyLevel {
    /// For the record.
    Info,
    /// Needs a look.
    Warning,
    /// Needs action.
    Error,
}

/// Why the risk gate refused an order. Stable codes, stored with the signal's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskCode {
    /// Trading is halted.
    TradingHalted,
    /// Trading is paused: only reducing orders pass.
    TradingPaused,
    /// The daily loss limit was reached: only reducing orders pass until the daily reset.
    DailyLossLimit,
    /// The symbol is not in the plugin's allowlist.
    SymbolNotAllowed,
    /// The symbol is not in the symbol table.
    UnknownSymbol,
    /// The size is below the symbol's minimum (or sizing gave less than it).
    LotBelowMin,
    /// The size is above the symbol's or the plugin's maximum.
    LotAboveMax,
    /// The size is not a multiple of the lot step.
    LotStep,
    /// The plugin has its maximum of open positions.
    MaxPositionsPlugin,
    /// The account has its maximum of open positions.
    MaxPositionsTotal,
    /// Too many orders in the last minute.
    OrderRateLimit,
    /// No price to fill at or to size from.
    NoPrice,
    /// Risk sizing needs a stop loss.
    NoStopLoss,
    /// The stop loss or take profit is on the wrong side of the price.
    InvalidLevels,
    /// The symbol is in its cooldown after a stop loss.
    SymbolLocked,
    /// The order would take the symbol's open lots above the limit.
    MaxSymbolExposure,
}

impl RiskCode {
    /// The snake-case code.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TradingHalted => "trading_halted",
            Self::TradingPaused => "trading_paused",
            Self::DailyLossLimit => "daily_loss_limit",
            Self::SymbolNotAllowed => "symbol_not_allowed",
            Self::UnknownSymbol => "unknown_symbol",
            Self::LotBelowMin => "lot_below_min",
            Self::LotAboveMax => "lot_above_max",
            Self::LotStep => "lot_step",
            Self::MaxPositionsPlugin => "max_positions_plugin",
            Self::MaxPositionsTotal => "max_positions_total",
            Self::OrderRateLimit => "order_rate_limit",
            Self::NoPrice => "no_price",
            Self::NoStopLoss => "no_stop_loss",
            Self::InvalidLevels => "invalid_levels",
            Self::SymbolLocked => "symbol_locked",
            Self::MaxSymbolExposure => "max_symbol_exposure",
        }
    }
}

impl fmt::Display for RiskCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds of service failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceErrorCode {
    /// The manifest does not grant the capability.
    CapabilityDenied,
    /// The risk gate refused.
    RiskRejected(RiskCode),
    /// The request is malformed.
    InvalidRequest,
    /// The thing asked for does not exist (or is not the plugin's).
    NotFound,
    /// The service is down and has no fallback.
    Unavailable,
}

/// A refused or failed service call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {message}")]
pub struct ServiceError {
    /// Which service.
    pub service: Service,
    /// What kind of failure.
    pub code: ServiceErrorCode,
    /// For humans.
    pub message: String,
}

impl ServiceError {
    /// A risk refusal, if this is one.
    #[must_use]
    pub fn risk_code(&self) -> Option<RiskCode> {
        match self.code {
            ServiceErrorCode::RiskRejected(code) => Some(code),
            _ => None,
        }
    }
}

/// Why a plugin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// A service call was refused or failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The plugin itself failed.
    #[error("{0}")]
    Failed(String),
}

impl PluginError {
    /// Whether this counts toward disabling the plugin. A risk refusal is a normal outcome, not a
    /// plugin failure; everything else is.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::Service(e) if e.risk_code().is_some())
    }
}

/// Result of a plugin call.
pub type PluginResult<T> = Result<T, PluginError>;

/// What a plugin decided about a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Orders were placed or positions closed.
    Executed,
    /// The plugin refused the signal (a filter said no).
    Rejected,
    /// Nothing to do.
    Ignored,
}

/// A plugin's decision, stored with the signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What happened.
    pub kind: DecisionKind,
    /// Why, for rejections and no-ops.
    pub reason: Option<String>,
    /// Orders placed.
    pub orders: Vec<OrderId>,
    /// Positions closed.
    pub closed: Vec<PositionId>,
}

impl Decision {
    /// Orders placed and positions closed.
    #[must_use]
    pub fn executed(orders: Vec<OrderId>, closed: Vec<PositionId>) -> Self {
        Self { kind: DecisionKind::Executed, reason: None, orders, closed }
    }

    /// The plugin refused the signal.
    #[must_use]
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self { kind: DecisionKind::Rejected, reason: Some(reason.into()), orders: Vec::new(), closed: Vec::new() }
    }

    /// Nothing to do.
    #[must_use]
    pub fn ignored(reason: impl Into<String>) -> Self {
        Self { kind: DecisionKind::Ignored, reason: Some(reason.into()), orders: Vec::new(), closed: Vec::new() }
    }
}

/// What [`PluginContext::place_dual_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DualPlaced {
    /// The dual order's id.
    pub id: u64,
    /// Order A.
    pub a: Placed,
    /// Order B, unless the risk gate refused it.
    pub b: Option<Placed>,
    /// Why B was refused, if it was.
    pub b_refused: Option<String>,
    /// The chain order B started.
    pub chain: Option<ProfitChain>,
}

/// What an `on_signal_received` hook decided.
#[derive(Debug, Clone, PartialEq)]
pub enum HookDecision {
    /// Let the signal through unchanged.
    Pass,
    /// Replace the signal (its id cannot change).
    Modify(Box<Signal>),
    /// Stop the signal, with a reason.
    Reject(String),
}

/// The service API, scoped to one plugin. Every call is checked against the manifest's
/// capabilities and counted in the service's metrics.
pub trait PluginContext {
    /// The calling plugin.
    fn plugin_id(&self) -> &PluginId;
    /// The engine's clock.
    fn now(&self) -> DateTime<Utc>;

    /// Opens a market position (`orders`).
    ///
    /// # Errors
    /// Capability denied, risk rejected (with a [`RiskCode`]), or invalid.
    fn place_order(&mut self, intent: OrderIntent) -> Result<Placed, ServiceError>;
    /// Moves a position's SL or TP (`orders`).
    ///
    /// # Errors
    /// Capability denied, not found (or not this plugin's), invalid levels.
    fn modify_position(
        &mut self,
        id: PositionId,
        sl: Option<Price>,
        tp: Option<Price>,
    ) -> Result<Position, ServiceError>;
    /// Closes one of the plugin's positions at the market (`orders`).
    ///
    /// # Errors
    /// Capability denied, not found, or no price.
    fn close_position(&mut self, id: PositionId) -> Result<Trade, ServiceError>;
    /// Closes the plugin's positions on a symbol, optionally only one side (`orders`).
    ///
    /// # Errors
    /// Capability denied, or no price.
    fn close_positions(&mut self, symbol: &Symbol, side: Option<Side>) -> Result<Vec<Trade>, ServiceError>;

    /// The plugin's open positions, optionally on one symbol (`positions`).
    ///
    /// # Errors
    /// Capability denied.
    fn positions(&mut self, symbol: Option<&Symbol>) -> Result<Vec<Position>, ServiceError>;

    /// Lot size for risking `sizing` between `entry` and `sl` (`risk`).
    ///
    /// # Errors
    /// Capability denied, unknown symbol, or a size below the minimum.
    fn lot_size(&mut self, symbol: &Symbol, entry: Price, sl: Price, sizing: Sizing) -> Result<Lots, ServiceError>;

    /// The last known price of a symbol (`market_data`).
    ///
    /// # Errors
    /// Capability denied.
    fn last_price(&mut self, symbol: &Symbol) -> Result<Option<Price>, ServiceError>;

    /// The trend of a symbol on a timeframe (`trend`).
    ///
    /// # Errors
    /// Capability denied.
    fn trend(&mut self, symbol: &Symbol, timeframe: Timeframe) -> Result<Trend, ServiceError>;

    /// Sends a notification (`notify`).
    ///
    /// # Errors
    /// Capability denied.
    fn notify(&mut self, level: NotifyLevel, message: &str) -> Result<(), ServiceError>;

    /// Runs a statement on the plugin's own database (`db`); returns rows changed.
    ///
    /// # Errors
    /// Capability denied, or the SQL failed.
    fn db_execute(&mut self, sql: &str, params: &[Value]) -> Result<usize, ServiceError>;
    /// Runs a query on the plugin's own database (`db`); rows as JSON objects.
    ///
    /// # Errors
    /// Capability denied, or the SQL failed.
    fn db_query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Map<String, Value>>, ServiceError>;

    /// Emits a signal into the engine's inbox and router, as a webhook alert would arrive
    /// (`signals`). The engine gives it its id and fills the symbol, timeframe and price from the
    /// bar being handled when the signal leaves them out.
    ///
    /// # Errors
    /// Capability denied.
    fn emit_signal(&mut self, signal: Signal) -> Result<(), ServiceError>;

    /// Splits an entry into order A (the intent's take profit) and order B, which starts a
    /// profit chain (`dual_order`, and `profit_booking` for the chain).
    ///
    /// # Errors
    /// Capability denied, an invalid plan, or a risk refusal of order A (a refusal of B leaves A
    /// open and is reported in the answer).
    fn place_dual_order(&mut self, intent: OrderIntent, plan: DualPlan) -> Result<DualPlaced, ServiceError>;

    /// Opens the first level of a profit chain (`profit_booking`): `plan.levels[0]` orders of
    /// the intent's size, each with the chain's stop and the level's target; the engine books each
    /// level and opens the next.
    ///
    /// # Errors
    /// Capability denied, an invalid plan, or a risk refusal of every order of the level.
    fn start_profit_chain(&mut self, intent: OrderIntent, plan: PyramidPlan) -> Result<ProfitChain, ServiceError>;

    /// The plugin's active profit chains (`profit_booking`).
    ///
    /// # Errors
    /// Capability denied.
    fn profit_chains(&mut self) -> Result<Vec<ProfitChain>, ServiceError>;

    /// Follows an open position of the plugin for re-entries (`reentry`): after it closes, the
    /// engine watches the price as the plan says and re-enters, a level further, when the safety
    /// service allows a recovery.
    ///
    /// # Errors
    /// Capability denied, an invalid plan, or no such open position.
    fn start_reentry(&mut self, position: PositionId, plan: ReentryPlan) -> Result<ReentryChain, ServiceError>;

    /// The plugin's active re-entry chains (`reentry`).
    ///
    /// # Errors
    /// Capability denied.
    fn reentry_chains(&mut self) -> Result<Vec<ReentryChain>, ServiceError>;

    /// Guards an open position of the plugin with a reverse shield (`safety`): when it has gone
    /// against it by `share` of its stop distance an opposite hedge opens; when the price recovers
    /// to half that distance the hedge closes; it ends with the position.
    ///
    /// # Errors
    /// Capability denied, `share` outside (0, 1], no such open position, or no stop loss.
    fn shield_position(&mut self, position: PositionId, share: rust_decimal::Decimal) -> Result<Shield, ServiceError>;

    /// Whether a recovery may open now on `symbol`, with every reason it may not (`safety`).
    ///
    /// # Errors
    /// Capability denied.
    fn check_recovery_allowed(&mut self, symbol: &Symbol) -> Result<RecoveryCheck, ServiceError>;

    /// Whether every timeframe's trend agrees with `side` (`trend`).
    ///
    /// # Errors
    /// Capability denied.
    fn is_aligned(&mut self, symbol: &Symbol, side: Side, timeframes: &[Timeframe]) -> Result<bool, ServiceError> {
        for tf in timeframes {
            if !self.trend(symbol, *tf)?.agrees_with(side) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A plugin. Built-in plugins implement this directly; process plugins through a proxy.
///
/// Every method gets the plugin's context; errors and panics are caught by the engine and
/// counted; five consecutive failures disable the plugin.
pub trait Plugin: Send {
    /// Called once when the plugin starts running.
    ///
    /// # Errors
    /// Any failure keeps the plugin from running.
    fn on_start(&mut self, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// Called when the engine stops or the plugin is disabled.
    ///
    /// # Errors
    /// Reported; the plugin stops anyway.
    fn on_stop(&mut self, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// Sees every signal before routing, in priority order: pass, modify or reject.
    ///
    /// # Errors
    /// Counted as a failure; the signal passes unchanged.
    fn on_signal_received(&mut self, _signal: &Signal, _ctx: &mut dyn PluginContext) -> PluginResult<HookDecision> {
        Ok(HookDecision::Pass)
    }

    /// A closed bar of a feed the plugin subscribes to (strategy role: the manifest's `symbols`
    /// and `timeframes`, empty meaning any). Signals go out through
    /// [`PluginContext::emit_signal`].
    ///
    /// # Errors
    /// Counted as a failure.
    fn on_bar(&mut self, _feed: &Feed, _bar: &Bar, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// An entry signal routed to this plugin.
    ///
    /// # Errors
    /// A risk refusal is stored as the outcome; anything else counts as a failure.
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision>;

    /// An exit signal routed to this plugin.
    ///
    /// # Errors
    /// As for entries.
    fn process_exit_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        let symbol =
            signal.symbol.as_ref().ok_or_else(|| PluginError::Failed("exit signal without a symbol".into()))?;
        let trades = ctx.close_positions(symbol, None)?;
        if trades.is_empty() {
            return Ok(Decision::ignored(format!("no open position on {symbol}")));
        }
        Ok(Decision::executed(Vec::new(), trades.iter().map(|t| t.position.id).collect()))
    }

    /// A reversal signal: by default close every position on the symbol, then enter the new side.
    ///
    /// # Errors
    /// As for entries.
    fn process_reversal_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        let symbol =
            signal.symbol.as_ref().ok_or_else(|| PluginError::Failed("reversal signal without a symbol".into()))?;
        let closed: Vec<PositionId> = ctx.close_positions(symbol, None)?.iter().map(|t| t.position.id).collect();
        let mut decision = self.process_entry_signal(signal, ctx)?;
        decision.closed.splice(0..0, closed);
        if decision.kind != DecisionKind::Executed && !decision.closed.is_empty() {
            decision.kind = DecisionKind::Executed;
        }
        Ok(decision)
    }

    /// Any other signal type.
    ///
    /// # Errors
    /// As for entries.
    fn process_signal(&mut self, signal: &Signal, _ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        Ok(Decision::ignored(format!("no handler for `{}` signals", signal.kind)))
    }

    /// One of the plugin's positions hit its stop loss.
    ///
    /// # Errors
    /// Counted as a failure.
    fn on_sl_hit(&mut self, _trade: &Trade, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// One of the plugin's positions hit its take profit.
    ///
    /// # Errors
    /// Counted as a failure.
    fn on_tp_hit(&mut self, _trade: &Trade, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// An order of the plugin's was placed.
    ///
    /// # Errors
    /// Counted as a failure.
    fn on_order_placed(&mut self, _order: &Order, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// The daily reset happened.
    ///
    /// # Errors
    /// Counted as a failure.
    fn on_daily_reset(&mut self, _ctx: &mut dyn PluginContext) -> PluginResult<()> {
        Ok(())
    }

    /// Plugin-specific status, shown with the engine's counters.
    fn status(&self) -> Value {
        Value::Null
    }
}

/// A built-in plugin: its manifest and how to build it from validated settings.
#[derive(Clone, Copy)]
pub struct BuiltinPlugin {
    /// The manifest, as code.
    pub manifest: fn() -> Manifest,
    /// Builds the plugin from its validated settings.
    pub build: BuildFn,
}

/// Builds a plugin from its validated settings.
pub type BuildFn = fn(&Settings) -> Result<Box<dyn Plugin>, String>;

impl fmt::Debug for BuiltinPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltinPlugin").field("id", &(self.manifest)().id).finish()
    }
}
