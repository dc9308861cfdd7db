//! The risk gate every order passes, trading state, and lot sizing.
//!
//! An order reaches a venue only as a [`RiskApproved`] value, which only this module can make.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use chrono::Timelike;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use zepix_model::{Lots, Money, PluginId, Price, Sizing, Symbol, SymbolSpec};
use zepix_plugin::RiskCode;
use zepix_plugin::chain::RecoveryCheck;

use crate::ports::OrderTicket;

/// Whether the engine trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TradingState {
    /// Orders pass the other checks.
    Active,
    /// Reduce-only: closes pass, new positions do not.
    Paused,
    /// Nothing passes from plugins; SL/TP on the venue still work, operators can still close.
    Halted,
}

impl TradingState {
    /// The lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Halted => "halted",
        }
    }
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TradingState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            "halted" => Ok(Self::Halted),
            other => Err(format!("`{other}` is not a trading state: expected active, paused or halted")),
        }
    }
}

/// A value that passed the risk gate. Only the gate makes them, so a venue cannot be handed an
/// unchecked order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

impl<T> RiskApproved<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(value)
    }

    /// The approved value.
    #[must_use]
    pub const fn get(&self) -> &T {
        &self.0
    }

    /// Unwraps the approved value.
    #[must_use]
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Approves anything, for venue tests in other crates.
#[cfg(any(test, feature = "testkit"))]
#[must_use]
pub const fn approve_for_tests<T>(value: T) -> RiskApproved<T> {
    RiskApproved::new(value)
}

/// Risk limits, from `[risk]` in `zepix.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Open positions across every plugin.
    pub max_open_positions: u32,
    /// Open positions per plugin.
    pub max_open_per_plugin: u32,
    /// Loss (realized today plus unrealized) after which only reducing orders pass until the
    /// daily reset. `0` disables the limit.
    pub daily_loss_limit: Decimal,
    /// New orders per minute across every plugin.
    pub max_orders_per_minute: u32,
    /// Lot size used when a signal gives none.
    pub default_lot: Decimal,
    /// Minutes a symbol stays locked for new positions after a stop loss on it. `0` = off.
    pub sl_cooldown_minutes: u32,
    /// Open lots per symbol across every plugin (both sides added). `0` = off.
    pub max_lots_per_symbol: Decimal,
    /// Recoveries (re-entries) per day across every plugin.
    pub daily_recovery_cap: u32,
    /// Stop losses in a row on a symbol (per plugin) after which its recoveries stop until a win
    /// or the daily reset. `0` = off.
    pub consecutive_loss_cap: u32,
    /// UTC hours in which recoveries may open, `HH:MM-HH:MM` (may wrap past midnight).
    pub recovery_hours_utc: String,
    /// Widest spread, in pips, at which a recovery may open. `0` = off.
    pub max_recovery_spread_pips: Decimal,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            max_open_positions: 50,
            max_open_per_plugin: 10,
            daily_loss_limit: Decimal::from(500),
            max_orders_per_minute: 120,
            default_lot: Decimal::new(1, 2),
            sl_cooldown_minutes: 0,
            max_lots_per_symbol: Decimal::ZERO,
            daily_recovery_cap: 10,
            consecutive_loss_cap: 3,
            recovery_hours_utc: "00:00-24:00".into(),
            max_recovery_spread_pips: Decimal::ZERO,
        }
    }
}

/// A refusal: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Stable code.
    pub code: RiskCode,
    /// For humans.
    pub message: String,
}

impl Denial {
    fn new(code: RiskCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Counts the gate needs about open positions.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenCounts {
    /// Across every plugin.
    pub total: usize,
    /// The ordering plugin's.
    pub plugin: usize,
    /// Lots open on the order's symbol (both sides added).
    pub symbol_lots: Decimal,
}

/// Parses `HH:MM-HH:MM` into minutes of the day (`24:00` is the end of the day).
///
/// # Errors
/// When it is not two times separated by `-`.
pub fn parse_hours(text: &str) -> Result<(u32, u32), String> {
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    text.split_once('-')
        .and_then(|(a, b)| Some((minutes(a)?, minutes(b)?)))
        .ok_or_else(|| format!("`{text}` is not hours such as 07:00-20:00"))
}

/// Recovery refusals that last until the daily reset: a re-entry chain they meet ends, where
/// the others (cooldown, spread, hours, trading state) leave it watching.
pub const LASTING_REFUSALS: [&str; 2] = ["daily_recovery_cap", "consecutive_losses"];

/// What the safety service counts, kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyCounters {
    /// Recoveries opened since the daily reset.
    pub recoveries_today: u32,
    /// Stop losses in a row, by `plugin:SYMBOL`.
    pub losses_in_a_row: BTreeMap<String, u32>,
    /// Recovery checks refused, by reason code.
    pub refused: BTreeMap<String, u32>,
    /// When they were stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<DateTime<Utc>>,
}

impl SafetyCounters {
    /// The counters as they stand after `day_start`: a daily reset since they were stored
    /// restarts the recovery count and the losses in a row.
    #[must_use]
    pub fn as_of(mut self, day_start: DateTime<Utc>) -> Self {
        if self.saved_at.is_some_and(|at| at < day_start) {
            self.recoveries_today = 0;
            self.losses_in_a_row.clear();
        }
        self
    }
}

/// A symbol on which no new position opens until `until` (its cooldown after a stop loss).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolLock {
    /// The symbol.
    pub symbol: Symbol,
    /// When it opens again.
    pub until: DateTime<Utc>,
    /// Why it is locked.
    pub reason: String,
}

/// The risk gate: trading state, daily loss lock, limits, order rate.
#[derive(Debug)]
pub struct RiskGate {
    config: RiskConfig,
    state: TradingState,
    loss_locked: bool,
    recent_orders: VecDeque<DateTime<Utc>>,
    locks: BTreeMap<Symbol, SymbolLock>,
    safety: SafetyCounters,
    /// When each `plugin:SYMBOL` last counted a stop.
    last_stop: BTreeMap<String, DateTime<Utc>>,
}

impl RiskGate {
    /// A gate in `state`.
    #[must_use]
    pub fn new(config: RiskConfig, state: TradingState) -> Self {
        Self {
            config,
            state,
            loss_locked: false,
            recent_orders: VecDeque::new(),
            locks: BTreeMap::new(),
            safety: SafetyCounters::default(),
            last_stop: BTreeMap::new(),
        }
    }

    /// What the safety service has counted.
    #[must_use]
    pub const fn safety(&self) -> &SafetyCounters {
        &self.safety
    }

    /// Restores the safety counters stored before a restart.
    pub fn restore_safety(&mut self, counters: SafetyCounters) {
        self.safety = counters;
    }

    /// A live trade closed: a stop loss adds to its symbol's losses in a row (stops of several
    /// orders at the same moment, as a pyramid level's, count once), a win clears them. Whether
    /// the counters changed.
    pub fn record_result(
        &mut self,
        plugin: &PluginId,
        symbol: &Symbol,
        stopped: bool,
        won: bool,
        at: DateTime<Utc>,
    ) -> bool {
        let key = format!("{plugin}:{symbol}");
        if stopped {
            if self.last_stop.get(&key) == Some(&at) {
                return false;
            }
            self.last_stop.insert(key.clone(), at);
            *self.safety.losses_in_a_row.entry(key).or_insert(0) += 1;
            true
        } else {
            won && self.safety.losses_in_a_row.remove(&key).is_some()
        }
    }

    /// A recovery opened.
    pub fn record_recovery(&mut self) {
        self.safety.recoveries_today += 1;
    }

    /// Whether a recovery (a re-entry) may open now on `symbol` for `plugin`, with every reason
    /// it may not; refusals are counted by reason. On a virtual book (`virtual_book`) only the
    /// trading state, the spread and the window apply, and nothing is counted: the live
    /// account's loss lock, budget, losses and locks are not the shadow plugin's.
    pub fn check_recovery(
        &mut self,
        plugin: &PluginId,
        symbol: &Symbol,
        now: DateTime<Utc>,
        spread_pips: Option<Decimal>,
        virtual_book: bool,
    ) -> RecoveryCheck {
        let refusals = self.recovery_refusals(plugin, symbol, now, spread_pips, virtual_book);
        if !virtual_book {
            self.count_refusals(&refusals);
        }
        RecoveryCheck {
            allowed: refusals.is_empty(),
            reasons: refusals.into_iter().map(|(code, why)| format!("{code}: {why}")).collect(),
        }
    }

    /// Counts a refused recovery under each of its codes (the counters `safety` reports).
    pub fn count_refusals(&mut self, refusals: &[(&'static str, String)]) {
        for (code, _) in refusals {
            *self.safety.refused.entry((*code).to_owned()).or_insert(0) += 1;
        }
    }

    /// Why a recovery may not open now, as `(code, reason)`; empty when it may. Counts nothing.
    #[must_use]
    pub fn recovery_refusals(
        &self,
        plugin: &PluginId,
        symbol: &Symbol,
        now: DateTime<Utc>,
        spread_pips: Option<Decimal>,
        virtual_book: bool,
    ) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut reasons: Vec<(&'static str, String)> = Vec::new();
        let loss_locked = self.loss_locked && !virtual_book;
        if self.state != TradingState::Active || loss_locked {
            let why = if self.loss_locked {
                "daily loss limit reached".to_owned()
            } else {
                format!("trading is {}", self.state)
            };
            reasons.push(("trading_state", why));
        }
        if !virtual_book && self.safety.recoveries_today >= c.daily_recovery_cap {
            reasons.push((
                "daily_recovery_cap",
                format!("{} recoveries today (max {})", self.safety.recoveries_today, c.daily_recovery_cap),
            ));
        }
        let losses = self.safety.losses_in_a_row.get(&format!("{plugin}:{symbol}")).copied().unwrap_or(0);
        if !virtual_book && c.consecutive_loss_cap > 0 && losses >= c.consecutive_loss_cap {
            reasons.push((
                "consecutive_losses",
                format!("{losses} stop losses in a row on {symbol} (max {})", c.consecutive_loss_cap),
            ));
        }
        if let Some(lock) = self.locks.get(symbol).filter(|l| l.until > now && !virtual_book) {
            reasons.push(("cooldown", format!("{symbol} is locked until {}", lock.until.format("%H:%M:%S UTC"))));
        }
        if c.max_recovery_spread_pips > Decimal::ZERO
            && let Some(spread) = spread_pips.filter(|s| *s > c.max_recovery_spread_pips)
        {
            reasons.push(("spread", format!("spread {spread} pips (max {})", c.max_recovery_spread_pips)));
        }
        if let Ok((from, to)) = parse_hours(&c.recovery_hours_utc) {
            let minute = now.hour() * 60 + now.minute();
            let inside = if from <= to { (from..to).contains(&minute) } else { minute >= from || minute < to };
            if !inside {
                reasons.push((
                    "trading_window",
                    format!("{} UTC is outside {}", now.format("%H:%M"), c.recovery_hours_utc),
                ));
            }
        }
        reasons
    }

    /// Locks a symbol for the configured cooldown after a stop loss; `None` when cooldowns are
    /// off.
    pub fn lock_after_stop(&mut self, symbol: &Symbol, now: DateTime<Utc>, why: &str) -> Option<SymbolLock> {
        let minutes = self.config.sl_cooldown_minutes;
        if minutes == 0 {
            return None;
        }
        let until = now + Duration::minutes(i64::from(minutes));
        let lock = SymbolLock { symbol: symbol.clone(), until, reason: why.to_owned() };
        self.locks.insert(symbol.clone(), lock.clone());
        Some(lock)
    }

    /// The locks still in force at `now`, by symbol.
    #[must_use]
    pub fn locks(&self, now: DateTime<Utc>) -> Vec<SymbolLock> {
        self.locks.values().filter(|l| l.until > now).cloned().collect()
    }

    /// Lifts a symbol's lock; the lock it lifted, if one was in force.
    pub fn unlock(&mut self, symbol: &Symbol, now: DateTime<Utc>) -> Option<SymbolLock> {
        self.locks.remove(symbol).filter(|l| l.until > now)
    }

    /// Restores the locks stored before a restart.
    pub fn restore_locks(&mut self, locks: impl IntoIterator<Item = SymbolLock>) {
        self.locks.extend(locks.into_iter().map(|l| (l.symbol.clone(), l)));
    }

    /// The limits.
    #[must_use]
    pub const fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Trading state.
    #[must_use]
    pub const fn state(&self) -> TradingState {
        self.state
    }

    /// Sets the trading state.
    pub fn set_state(&mut self, state: TradingState) {
        self.state = state;
    }

    /// Whether the daily loss limit has locked new positions.
    #[must_use]
    pub const fn loss_locked(&self) -> bool {
        self.loss_locked
    }

    /// Re-evaluates the daily loss lock from today's realized and the open unrealized P&L.
    /// Returns true when this call locked it.
    pub fn update_daily_pnl(&mut self, realized_today: Money, unrealized: Money) -> bool {
        let limit = self.config.daily_loss_limit;
        if self.loss_locked || limit <= Decimal::ZERO {
            return false;
        }
        let day = (realized_today + unrealized).value();
        self.loss_locked = day <= -limit;
        self.loss_locked
    }

    /// The daily reset: the loss lock opens, the recovery count and the losses in a row restart.
    pub fn daily_reset(&mut self) {
        self.loss_locked = false;
        self.safety.recoveries_today = 0;
        self.safety.losses_in_a_row.clear();
    }

    /// Checks an order that opens a position, and approves it.
    ///
    /// # Errors
    /// The first limit it breaks, with its code.
    pub fn check_open(
        &mut self,
        ticket: OrderTicket,
        allowed: &[Symbol],
        spec: Option<&SymbolSpec>,
        open: OpenCounts,
        now: DateTime<Utc>,
    ) -> Result<RiskApproved<OrderTicket>, Denial> {
        self.check_state()?;
        if self.loss_locked {
            return Err(Denial::new(
                RiskCode::DailyLossLimit,
                format!("daily loss limit {} reached: reduce-only until the daily reset", self.config.daily_loss_limit),
            ));
        }
        let symbol = &ticket.request.symbol;
        if let Some(lock) = self.locks.get(symbol) {
            if lock.until > now {
                return Err(Denial::new(
                    RiskCode::SymbolLocked,
                    format!(
                        "{symbol} is locked until {} ({}): no new position until then, unless an operator unlocks it",
                        lock.until.format("%Y-%m-%d %H:%M:%S UTC"),
                        lock.reason
                    ),
                ));
            }
            self.locks.remove(symbol);
        }
        self.check_limits(&ticket, allowed, spec, open)?;
        let window_start = now - Duration::minutes(1);
        while self.recent_orders.front().is_some_and(|t| *t <= window_start) {
            self.recent_orders.pop_front();
        }
        if self.recent_orders.len() >= self.config.max_orders_per_minute as usize {
            return Err(Denial::new(
                RiskCode::OrderRateLimit,
                format!(
                    "{} orders in the last minute (max {})",
                    self.recent_orders.len(),
                    self.config.max_orders_per_minute
                ),
            ));
        }
        self.recent_orders.push_back(now);
        Ok(RiskApproved::new(ticket))
    }

    /// Checks an order for a shadow plugin's virtual book, and approves it for that book: the
    /// trading state, the symbol and lot rules and the position limits (counted in the book)
    /// apply; the live account's daily loss lock and order rate do not, since the order never
    /// reaches the live venue.
    ///
    /// # Errors
    /// The first limit it breaks, with its code.
    pub fn check_virtual(
        &self,
        ticket: OrderTicket,
        allowed: &[Symbol],
        spec: Option<&SymbolSpec>,
        open: OpenCounts,
    ) -> Result<RiskApproved<OrderTicket>, Denial> {
        self.check_state()?;
        self.check_limits(&ticket, allowed, spec, open)?;
        Ok(RiskApproved::new(ticket))
    }

    fn check_state(&self) -> Result<(), Denial> {
        match self.state {
            TradingState::Halted => Err(Denial::new(RiskCode::TradingHalted, "trading is halted")),
            TradingState::Paused => Err(Denial::new(RiskCode::TradingPaused, "trading is paused: reduce-only")),
            TradingState::Active => Ok(()),
        }
    }

    fn check_limits(
        &self,
        ticket: &OrderTicket,
        allowed: &[Symbol],
        spec: Option<&SymbolSpec>,
        open: OpenCounts,
    ) -> Result<(), Denial> {
        let req = &ticket.request;
        if !allowed.is_empty() && !allowed.contains(&req.symbol) {
            return Err(Denial::new(
                RiskCode::SymbolNotAllowed,
                format!("{} is not in the plugin's symbols", req.symbol),
            ));
        }
        let Some(spec) = spec else {
            return Err(Denial::new(
                RiskCode::UnknownSymbol,
                format!("{} is not in the symbol table: add it under [symbols.{}]", req.symbol, req.symbol),
            ));
        };
        let lots = req.lots.value();
        if lots < spec.lot_min {
            return Err(Denial::new(
                RiskCode::LotBelowMin,
                format!("{lots} lots is below the minimum {}", spec.lot_min),
            ));
        }
        if lots > spec.lot_max {
            return Err(Denial::new(
                RiskCode::LotAboveMax,
                format!("{lots} lots is above the maximum {}", spec.lot_max),
            ));
        }
        if !spec.lots_valid(req.lots) {
            return Err(Denial::new(RiskCode::LotStep, format!("{lots} lots is not a multiple of {}", spec.lot_step)));
        }
        if open.plugin >= self.config.max_open_per_plugin as usize {
            return Err(Denial::new(
                RiskCode::MaxPositionsPlugin,
                format!("the plugin has {} open positions (max {})", open.plugin, self.config.max_open_per_plugin),
            ));
        }
        if open.total >= self.config.max_open_positions as usize {
            return Err(Denial::new(
                RiskCode::MaxPositionsTotal,
                format!("{} open positions (max {})", open.total, self.config.max_open_positions),
            ));
        }
        let max_lots = self.config.max_lots_per_symbol;
        if max_lots > Decimal::ZERO && open.symbol_lots + lots > max_lots {
            return Err(Denial::new(
                RiskCode::MaxSymbolExposure,
                format!(
                    "{} lots open on {} and {lots} more would pass the limit of {max_lots} lots per symbol",
                    open.symbol_lots.normalize(),
                    req.symbol
                ),
            ));
        }
        Ok(())
    }

    /// Checks a plugin's order that reduces or closes a position.
    ///
    /// # Errors
    /// When trading is halted.
    pub fn check_reduce(&self) -> Result<(), Denial> {
        if self.state == TradingState::Halted {
            return Err(Denial::new(RiskCode::TradingHalted, "trading is halted"));
        }
        Ok(())
    }
}

/// Lot size for a signal's sizing: fixed lots as given; `risk_pct` of `balance` or `risk_amount`
/// spread over the SL distance, rounded down to the lot step.
///
/// # Errors
/// No SL for risk sizing, or a result below the symbol's minimum.
pub fn lot_size(
    spec: &SymbolSpec,
    balance: Money,
    entry: Price,
    sl: Option<Price>,
    sizing: Sizing,
) -> Result<Lots, Denial> {
    let amount = match sizing {
        Sizing::Lots(lots) => return Ok(lots),
        Sizing::RiskPct(pct) => balance.value() * pct / Decimal::ONE_HUNDRED,
        Sizing::RiskAmount(money) => money.value(),
    };
    let Some(sl) = sl else {
        return Err(Denial::new(RiskCode::NoStopLoss, "risk sizing needs a stop loss"));
    };
    let distance = (entry.value() - sl.value()).abs();
    let per_lot = spec.value_per_lot(distance, entry);
    if per_lot <= Decimal::ZERO {
        return Err(Denial::new(RiskCode::InvalidLevels, "the stop loss equals the entry price"));
    }
    spec.round_lots(amount / per_lot).ok_or_else(|| {
        Denial::new(
            RiskCode::LotBelowMin,
            format!("risking {amount} over {distance} gives less than the minimum {} lots", spec.lot_min),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zepix_model::{OrderId, OrderRequest, PluginId, Side, SymbolTable};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn ticket(symbol: &str, lots: &str) -> OrderTicket {
        OrderTicket {
            id: OrderId(1),
            plugin: PluginId::new("p").unwrap(),
            signal_id: None,
            request: OrderRequest {
                symbol: Symbol::new(symbol).unwrap(),
                side: Side::Buy,
                lots: lots.parse().unwrap(),
                sl: None,
                tp: None,
                price: None,
                comment: String::new(),
            },
        }
    }

    fn code(gate: &mut RiskGate, t: OrderTicket, allowed: &[Symbol], open: OpenCounts) -> Option<RiskCode> {
        let table = SymbolTable::default();
        let spec = table.get(&t.request.symbol).cloned();
        gate.check_open(t, allowed, spec.as_ref(), open, now()).err().map(|d| d.code)
    }

    #[test]
    fn each_limit_has_its_code() {
        let mut gate = RiskGate::new(RiskConfig::default(), TradingState::Active);
        let none = OpenCounts::default();
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &[], none), None);
        assert_eq!(code(&mut gate, ticket("FOO", "0.01"), &[], none), Some(RiskCode::UnknownSymbol));
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.001"), &[], none), Some(RiskCode::LotBelowMin));
        assert_eq!(code(&mut gate, ticket("XAUUSD", "500"), &[], none), Some(RiskCode::LotAboveMax));
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.015"), &[], none), Some(RiskCode::LotStep));
        let eur = [Symbol::new("EURUSD").unwrap()];
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &eur, none), Some(RiskCode::SymbolNotAllowed));
        let full_plugin = OpenCounts { total: 10, plugin: 10, ..OpenCounts::default() };
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &[], full_plugin), Some(RiskCode::MaxPositionsPlugin));
        let full = OpenCounts { total: 50, plugin: 0, ..OpenCounts::default() };
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &[], full), Some(RiskCode::MaxPositionsTotal));
        gate.set_state(TradingState::Paused);
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &[], none), Some(RiskCode::TradingPaused));
        assert!(gate.check_reduce().is_ok());
        gate.set_state(TradingState::Halted);
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &[], none), Some(RiskCode::TradingHalted));
        assert!(gate.check_reduce().is_err());
    }

    #[test]
    fn order_rate_limit_slides() {
        let config = RiskConfig { max_orders_per_minute: 2, ..RiskConfig::default() };
        let mut gate = RiskGate::new(config, TradingState::Active);
        let table = SymbolTable::default();
        let spec = table.get(&Symbol::new("XAUUSD").unwrap());
        let mut at = now();
        for _ in 0..2 {
            assert!(gate.check_open(ticket("XAUUSD", "0.01"), &[], spec, OpenCounts::default(), at).is_ok());
        }
        let denied = gate.check_open(ticket("XAUUSD", "0.01"), &[], spec, OpenCounts::default(), at).unwrap_err();
        assert_eq!(denied.code, RiskCode::OrderRateLimit);
        at += Duration::seconds(61);
        assert!(gate.check_open(ticket("XAUUSD", "0.01"), &[], spec, OpenCounts::default(), at).is_ok());
    }

    #[test]
    fn a_stop_loss_locks_its_symbol_for_the_cooldown() {
        let config = RiskConfig { sl_cooldown_minutes: 30, ..RiskConfig::default() };
        let mut gate = RiskGate::new(config, TradingState::Active);
        let table = SymbolTable::default();
        let (xau, eur) = (Symbol::new("XAUUSD").unwrap(), Symbol::new("EURUSD").unwrap());
        let lock = gate.lock_after_stop(&xau, now(), "stop loss of #1").unwrap();
        assert_eq!(lock.until, now() + Duration::minutes(30));
        let check = |gate: &mut RiskGate, symbol: &str, at| {
            let t = ticket(symbol, "0.01");
            let spec = table.get(&t.request.symbol).cloned();
            gate.check_open(t, &[], spec.as_ref(), OpenCounts::default(), at).err()
        };
        let denied = check(&mut gate, "XAUUSD", now() + Duration::minutes(29)).unwrap();
        assert_eq!(denied.code, RiskCode::SymbolLocked);
        assert!(denied.message.contains("locked until") && denied.message.contains("stop loss of #1"), "{denied:?}");
        assert!(check(&mut gate, "EURUSD", now()).is_none(), "other symbols trade on");
        assert!(check(&mut gate, "XAUUSD", now() + Duration::minutes(30)).is_none(), "the cooldown ends");
        assert!(gate.locks(now()).is_empty(), "an ended lock is gone");

        gate.lock_after_stop(&eur, now(), "stop loss of #2");
        assert_eq!(gate.locks(now()).len(), 1);
        assert!(gate.unlock(&eur, now()).is_some());
        assert!(check(&mut gate, "EURUSD", now()).is_none(), "an operator lifted it");
        assert!(gate.unlock(&eur, now()).is_none(), "nothing left to lift");

        let mut off = RiskGate::new(RiskConfig::default(), TradingState::Active);
        assert!(off.lock_after_stop(&xau, now(), "stop").is_none(), "cooldowns are off by default");
    }

    #[test]
    fn recovery_checks_list_every_reason() {
        let config = RiskConfig {
            daily_recovery_cap: 1,
            max_recovery_spread_pips: Decimal::from(3),
            recovery_hours_utc: "22:00-06:00".into(),
            ..RiskConfig::default()
        };
        let mut gate = RiskGate::new(config, TradingState::Active);
        let (p, xau) = (PluginId::new("p").unwrap(), Symbol::new("XAUUSD").unwrap());
        let night: DateTime<Utc> = "2026-03-02T23:30:00Z".parse().unwrap();
        let ok = gate.check_recovery(&p, &xau, night, Some(Decimal::from(2)), false);
        assert!(ok.allowed && ok.reasons.is_empty(), "inside a window that wraps past midnight: {ok:?}");
        gate.record_recovery();
        let noon: DateTime<Utc> = "2026-03-02T12:00:00Z".parse().unwrap();
        let refused = gate.check_recovery(&p, &xau, noon, Some(Decimal::from(5)), false);
        let codes: Vec<&str> = refused.reasons.iter().filter_map(|r| r.split(':').next()).collect();
        assert_eq!(codes, ["daily_recovery_cap", "spread", "trading_window"], "{refused:?}");
        assert!(!refused.allowed);
        gate.daily_reset();
        assert!(gate.check_recovery(&p, &xau, night, None, false).allowed, "the daily reset restarts the count");
        let shadow = gate.check_recovery(&p, &xau, noon, None, true);
        assert_eq!(shadow.reasons.len(), 1, "a virtual book only meets the window: {shadow:?}");
        assert_eq!(parse_hours("24:00-07:00"), Ok((1440, 420)));
        assert!(parse_hours("25:00-07:00").is_err() && parse_hours("0700").is_err());
    }

    #[test]
    fn stored_safety_counters_restart_after_a_reset_missed_while_stopped() {
        let mut counters = SafetyCounters { recoveries_today: 4, ..SafetyCounters::default() };
        counters.losses_in_a_row.insert("p:XAUUSD".into(), 2);
        counters.refused.insert("spread".into(), 1);
        counters.saved_at = Some("2026-03-02T21:00:00Z".parse().unwrap());
        let same_day = counters.clone().as_of("2026-03-01T22:05:00Z".parse().unwrap());
        assert_eq!(same_day.recoveries_today, 4);
        let next_day = counters.as_of("2026-03-02T22:05:00Z".parse().unwrap());
        assert_eq!((next_day.recoveries_today, next_day.losses_in_a_row.len()), (0, 0));
        assert_eq!(next_day.refused["spread"], 1, "refusals are statistics, not a daily limit");
    }

    #[test]
    fn open_lots_per_symbol_are_capped() {
        let config = RiskConfig { max_lots_per_symbol: Decimal::ONE, ..RiskConfig::default() };
        let mut gate = RiskGate::new(config, TradingState::Active);
        let with = |lots: &str| OpenCounts { symbol_lots: lots.parse().unwrap(), ..OpenCounts::default() };
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.5"), &[], with("0.5")), None, "exactly at the cap");
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.51"), &[], with("0.5")), Some(RiskCode::MaxSymbolExposure));
    }

    #[test]
    fn daily_loss_locks_until_reset() {
        let mut gate = RiskGate::new(RiskConfig::default(), TradingState::Active);
        let m = |v: i64| Money::from_decimal(Decimal::from(v));
        assert!(!gate.update_daily_pnl(m(-300), m(-100)));
        assert!(gate.update_daily_pnl(m(-300), m(-200)));
        assert!(!gate.update_daily_pnl(m(0), m(0)), "stays locked when the price recovers");
        assert_eq!(
            code(&mut gate, ticket("XAUUSD", "0.01"), &[], OpenCounts::default()),
            Some(RiskCode::DailyLossLimit)
        );
        gate.daily_reset();
        assert_eq!(code(&mut gate, ticket("XAUUSD", "0.01"), &[], OpenCounts::default()), None);
    }

    #[test]
    fn lot_sizing_from_risk() {
        let table = SymbolTable::default();
        let gold = table.get(&Symbol::new("XAUUSD").unwrap()).unwrap();
        let balance = Money::from_decimal(Decimal::from(10_000));
        let entry: Price = "2000".parse().unwrap();
        let sl: Price = "1990".parse().unwrap();
        // 1 % of 10 000 = 100; 10 $ of price per lot-unit × 100 oz = 1000 per lot → 0.1 lots.
        let lots = lot_size(gold, balance, entry, Some(sl), Sizing::RiskPct(Decimal::ONE)).unwrap();
        assert_eq!(lots.to_string(), "0.1");
        let lots = lot_size(gold, balance, entry, Some(sl), Sizing::RiskAmount(Money::from_decimal(Decimal::from(55))))
            .unwrap();
        assert_eq!(lots.to_string(), "0.05");
        let tiny = lot_size(gold, balance, entry, Some(sl), Sizing::RiskAmount(Money::from_decimal(Decimal::ONE)));
        assert_eq!(tiny.unwrap_err().code, RiskCode::LotBelowMin);
        assert_eq!(
            lot_size(gold, balance, entry, None, Sizing::RiskPct(Decimal::ONE)).unwrap_err().code,
            RiskCode::NoStopLoss
        );
    }
}
