//! Signals: a raw alert body is parsed leniently (aliases, numeric strings, `text/plain` JSON) and
//! validated into a strict, normalized [`Signal`]. Errors name the field, the value and what was
//! expected. A signal's canonical JSON form parses back to the same signal.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::shorten;
use crate::{Lots, Money, Pips, PluginId, Price, Side, SignalId, Symbol, Timeframe};

/// What a signal asks for; decides which plugin method receives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignalType {
    /// Open a position.
    Entry,
    /// Close the plugin's positions on the symbol.
    Exit,
    /// Close, then open the opposite side.
    Reversal,
    /// Set the trend of a symbol and timeframe.
    Trend,
    /// A price update (moves the paper venue, triggers SL/TP).
    Market,
    /// Anything else, handed to `process_signal`.
    Custom(String),
}

impl SignalType {
    /// The canonical name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Entry => "entry",
            Self::Exit => "exit",
            Self::Reversal => "reversal",
            Self::Trend => "trend",
            Self::Market => "market",
            Self::Custom(name) => name,
        }
    }
}

impl FromStr for SignalType {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        let t = text.trim().to_ascii_lowercase();
        Ok(match t.as_str() {
            "entry" | "open" => Self::Entry,
            "exit" | "close" | "flat" => Self::Exit,
            "reversal" | "reverse" => Self::Reversal,
            "trend" => Self::Trend,
            "market" | "price" | "tick" => Self::Market,
            _ if !t.is_empty() && t.len() <= 32 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Self::Custom(t)
            }
            _ => return Err(()),
        })
    }
}

impl fmt::Display for SignalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stop-loss or take-profit level: an absolute price or a distance in pips from the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// An absolute price.
    Price(Price),
    /// A distance from the fill price, in pips of the symbol.
    Pips(Pips),
}

/// How big the position should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// A fixed number of lots.
    Lots(Lots),
    /// Risk this percentage of the balance between entry and SL.
    RiskPct(Decimal),
    /// Risk this amount of account currency between entry and SL.
    RiskAmount(Money),
}

/// Where a signal came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignalSource {
    /// The HTTP webhook.
    Webhook,
    /// The command line.
    Cli,
    /// The REST API.
    Api,
    /// Emitted by a plugin.
    Plugin(PluginId),
}

impl fmt::Display for SignalSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Webhook => f.write_str("webhook"),
            Self::Cli => f.write_str("cli"),
            Self::Api => f.write_str("api"),
            Self::Plugin(id) => write!(f, "plugin:{id}"),
        }
    }
}

impl FromStr for SignalSource {
    type Err = crate::ModelError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "webhook" => Ok(Self::Webhook),
            "cli" => Ok(Self::Cli),
            "api" => Ok(Self::Api),
            _ => match text.strip_prefix("plugin:") {
                Some(id) => Ok(Self::Plugin(PluginId::new(id)?)),
                None => Err(crate::ModelError::new("signal source", text, "webhook, cli, api or plugin:<id>")),
            },
        }
    }
}

/// A validated, normalized signal. The secret is never part of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Idempotency key.
    pub id: SignalId,
    /// Strategy name used for routing, upper-cased.
    pub strategy: Option<String>,
    /// Timeframe of the alert's chart.
    pub timeframe: Option<Timeframe>,
    /// Instrument.
    pub symbol: Option<Symbol>,
    /// What is asked.
    pub kind: SignalType,
    /// Direction (for a trend signal, `None` means neutral).
    pub side: Option<Side>,
    /// The price the alert saw.
    pub price: Option<Price>,
    /// Stop loss.
    pub sl: Option<Level>,
    /// Take-profit targets, nearest first as given.
    pub tp: Vec<Level>,
    /// Size, fixed or by risk.
    pub size: Option<Sizing>,
    /// Route straight to this plugin.
    pub plugin_hint: Option<PluginId>,
    /// When the alert fired.
    pub timestamp: Option<DateTime<Utc>>,
    /// Reject the signal when it is older than this many seconds.
    pub max_lag: Option<u64>,
    /// Fields the engine does not know, passed to plugins (`adx`, `confidence`…).
    pub extra: Map<String, Value>,
}

/// A parsed alert: the signal and the secret that came with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedAlert {
    /// The signal.
    pub signal: Signal,
    /// The shared secret from the body, if any.
    pub secret: Option<String>,
}

/// Why an alert was refused: the field, the value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SignalError {
    /// The canonical field name (`body` for the whole alert).
    pub field: String,
    /// The offending value, shortened; `None` when the field was missing.
    pub value: Option<String>,
    /// What would have been accepted.
    pub expected: String,
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.value, self.field.as_str()) {
            (Some(v), _) => write!(f, "field `{}`: got `{}`, expected {}", self.field, v, self.expected),
            (None, "body") => write!(f, "the body is not valid: expected {}", self.expected),
            (None, _) => write!(f, "field `{}` is missing: expected {}", self.field, self.expected),
        }
    }
}

impl SignalError {
    fn bad(field: &str, value: &Value, expected: impl Into<String>) -> Self {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Self { field: field.to_owned(), value: Some(shorten(&shown)), expected: expected.into() }
    }

    fn missing(field: &str, expected: impl Into<String>) -> Self {
        Self { field: field.to_owned(), value: None, expected: expected.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Secret,
    Id,
    Strategy,
    Timeframe,
    Symbol,
    Type,
    Direction,
    Action,
    Price,
    Sl,
    Tp,
    Lot,
    RiskPct,
    RiskAmount,
    PluginHint,
    Timestamp,
    MaxLag,
}

/// Every accepted key, canonical name first within each field.
const KEYS: &[(&str, Field)] = &[
    ("secret", Field::Secret),
    ("passphrase", Field::Secret),
    ("token", Field::Secret),
    ("key", Field::Secret),
    ("id", Field::Id),
    ("alert_id", Field::Id),
    ("client_ref", Field::Id),
    ("strategy", Field::Strategy),
    ("bot", Field::Strategy),
    ("timeframe", Field::Timeframe),
    ("tf", Field::Timeframe),
    ("interval", Field::Timeframe),
    ("symbol", Field::Symbol),
    ("ticker", Field::Symbol),
    ("instrument", Field::Symbol),
    ("type", Field::Type),
    ("signal_type", Field::Type),
    ("direction", Field::Direction),
    ("side", Field::Direction),
    ("action", Field::Action),
    ("price", Field::Price),
    ("sl", Field::Sl),
    ("stop_loss", Field::Sl),
    ("tp", Field::Tp),
    ("take_profit", Field::Tp),
    ("lot", Field::Lot),
    ("qty", Field::Lot),
    ("quantity", Field::Lot),
    ("contracts", Field::Lot),
    ("risk_pct", Field::RiskPct),
    ("risk_amount", Field::RiskAmount),
    ("plugin_hint", Field::PluginHint),
    ("plugin", Field::PluginHint),
    ("timestamp", Field::Timestamp),
    ("max_lag", Field::MaxLag),
];

fn canonical_name(field: Field) -> &'static str {
    KEYS.iter().find(|(_, f)| *f == field).map_or("?", |(name, _)| name)
}

const EXPECT_TYPE: &str = "entry, exit, reversal, trend, market or a custom type name (letters, digits, _)";
const EXPECT_PRICE: &str = "a positive number or numeric string";
const EXPECT_LEVEL: &str = "a price, a numeric string, {\"pips\": n} or {\"price\": n}";

/// Parses an alert body (JSON, whatever the content type said).
///
/// `received_at` is used only to derive an id for an alert that has neither `id` nor `timestamp`:
/// the same body received within the same minute is then the same signal.
///
/// # Errors
/// A [`SignalError`] naming the first field that is wrong.
pub fn parse_alert(body: &[u8], received_at: DateTime<Utc>) -> Result<ParsedAlert, SignalError> {
    // The body is never echoed back: it holds the secret.
    let value: Value = serde_json::from_slice(body).map_err(|e| SignalError {
        field: "body".into(),
        value: None,
        expected: format!("a JSON object ({e})"),
    })?;
    let Value::Object(map) = value else {
        return Err(SignalError { field: "body".into(), value: None, expected: "a JSON object {…}".into() });
    };
    parse_object(map, received_at)
}

fn parse_object(map: Map<String, Value>, received_at: DateTime<Utc>) -> Result<ParsedAlert, SignalError> {
    let mut known: Vec<(Field, String, Value)> = Vec::new();
    let mut extra = Map::new();
    for (key, value) in map {
        let lower = key.to_ascii_lowercase();
        match KEYS.iter().find(|(name, _)| *name == lower) {
            Some((_, field)) => {
                if let Some((_, first, _)) = known.iter().find(|(f, _, _)| f == field) {
                    return Err(SignalError::bad(
                        canonical_name(*field),
                        &Value::String(format!("{first} and {key}")),
                        "the field once (it was given under two names)",
                    ));
                }
                let absent = value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty());
                if !absent {
                    known.push((*field, key, value));
                }
            }
            None => {
                extra.insert(key, value);
            }
        }
    }
    let take = |field: Field| known.iter().find(|(f, _, _)| *f == field).map(|(_, _, v)| v);

    // A secret of the wrong type is refused without repeating it.
    let secret = take(Field::Secret)
        .map(text_of)
        .transpose()
        .map_err(|_| SignalError::bad("secret", &Value::String("<redacted>".into()), "a string"))?;
    let strategy = take(Field::Strategy).map(parse_strategy).transpose()?;
    let timeframe = take(Field::Timeframe)
        .map(|v| {
            text_of(v).ok().and_then(|t| t.parse::<Timeframe>().ok()).ok_or_else(|| {
                SignalError::bad("timeframe", v, "1m, 5m, 15m, 1h, 4h, 1d or TradingView's 1, 5, 15, 60, 240, 1D")
            })
        })
        .transpose()?;
    let symbol = take(Field::Symbol)
        .map(|v| {
            text_of(v)
                .ok()
                .and_then(|t| Symbol::new(t).ok())
                .ok_or_else(|| SignalError::bad("symbol", v, "a ticker such as XAUUSD or OANDA:XAUUSD"))
        })
        .transpose()?;

    let (kind, side) = resolve_type_and_side(take(Field::Type), take(Field::Direction), take(Field::Action))?;

    let price = take(Field::Price).map(|v| parse_price("price", v)).transpose()?;
    let sl = take(Field::Sl).map(|v| parse_level("sl", v)).transpose()?;
    let tp = match take(Field::Tp) {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, v)| parse_level(&format!("tp[{i}]"), v)).collect::<Result<_, _>>()?
        }
        Some(v) => vec![parse_level("tp", v)?],
    };

    let mut sizes = Vec::new();
    if let Some(v) = take(Field::Lot) {
        let lots =
            decimal_of(v).and_then(|d| Lots::new(d).ok()).ok_or_else(|| SignalError::bad("lot", v, EXPECT_PRICE))?;
        sizes.push(("lot", Sizing::Lots(lots)));
    }
    if let Some(v) = take(Field::RiskPct) {
        let pct = decimal_of(v)
            .filter(|d| *d > Decimal::ZERO && *d <= Decimal::ONE_HUNDRED)
            .ok_or_else(|| SignalError::bad("risk_pct", v, "a percentage above 0 and at most 100"))?;
        sizes.push(("risk_pct", Sizing::RiskPct(pct.normalize())));
    }
    if let Some(v) = take(Field::RiskAmount) {
        let amount = decimal_of(v)
            .filter(|d| *d > Decimal::ZERO)
            .ok_or_else(|| SignalError::bad("risk_amount", v, "a positive amount"))?;
        sizes.push(("risk_amount", Sizing::RiskAmount(Money::from_decimal(amount))));
    }
    if sizes.len() > 1 {
        let names: Vec<&str> = sizes.iter().map(|(n, _)| *n).collect();
        return Err(SignalError::bad(
            "lot",
            &Value::String(names.join(", ")),
            "only one of lot, risk_pct, risk_amount",
        ));
    }
    let size = sizes.pop().map(|(_, s)| s);
    if matches!(size, Some(Sizing::RiskPct(_) | Sizing::RiskAmount(_))) && sl.is_none() {
        return Err(SignalError::missing(
            "sl",
            "a stop loss: risk_pct and risk_amount size the trade from the SL distance",
        ));
    }

    let plugin_hint = take(Field::PluginHint)
        .map(|v| {
            text_of(v)
                .ok()
                .and_then(|t| PluginId::new(t.trim()).ok())
                .ok_or_else(|| SignalError::bad("plugin_hint", v, "a plugin id (lowercase letters, digits, _)"))
        })
        .transpose()?;
    let timestamp = take(Field::Timestamp).map(parse_timestamp).transpose()?;
    let max_lag = take(Field::MaxLag)
        .map(|v| {
            decimal_of(v)
                .filter(|d| *d > Decimal::ZERO && d.fract().is_zero())
                .and_then(|d| u64::try_from(d).ok())
                .ok_or_else(|| SignalError::bad("max_lag", v, "a whole number of seconds above 0"))
        })
        .transpose()?;

    let mut signal = Signal {
        id: SignalId::new("pending").map_err(|e| SignalError::missing("id", e.to_string()))?,
        strategy,
        timeframe,
        symbol,
        kind,
        side,
        price,
        sl,
        tp,
        size,
        plugin_hint,
        timestamp,
        max_lag,
        extra,
    };
    signal.check_requirements()?;
    signal.id = match take(Field::Id) {
        Some(v) => text_of(v)
            .ok()
            .and_then(|t| SignalId::new(t).ok())
            .ok_or_else(|| SignalError::bad("id", v, "1 to 128 printable characters"))?,
        None => signal.derived_id(received_at),
    };
    Ok(ParsedAlert { signal, secret })
}

fn resolve_type_and_side(
    type_value: Option<&Value>,
    direction: Option<&Value>,
    action: Option<&Value>,
) -> Result<(SignalType, Option<Side>), SignalError> {
    let mut kind = type_value
        .map(|v| {
            text_of(v)
                .ok()
                .and_then(|t| t.parse::<SignalType>().ok())
                .ok_or_else(|| SignalError::bad("type", v, EXPECT_TYPE))
        })
        .transpose()?;
    let mut side = None;
    let mut neutral = false;
    if let Some(v) = direction {
        let text = text_of(v).map_err(|v| SignalError::bad("direction", &v, "buy/long or sell/short"))?;
        if matches!(text.trim().to_ascii_lowercase().as_str(), "neutral" | "flat" | "none" | "sideways") {
            neutral = true;
        } else {
            side = Some(text.parse::<Side>().map_err(|_| SignalError::bad("direction", v, "buy/long or sell/short"))?);
        }
    }
    if let Some(v) = action {
        let text = text_of(v).map_err(|v| {
            SignalError::bad("action", &v, "buy, sell, long, short, close, exit, flat, reverse or a type")
        })?;
        let (implied_kind, implied_side) = match text.trim().to_ascii_lowercase().as_str() {
            a @ ("buy" | "sell" | "long" | "short") => (None, a.parse::<Side>().ok()),
            "close" | "exit" | "flat" => (Some(SignalType::Exit), None),
            "reverse" => (Some(SignalType::Reversal), None),
            _ => (Some(text.parse::<SignalType>().map_err(|()| SignalError::bad("action", v, EXPECT_TYPE))?), None),
        };
        if let Some(s) = implied_side {
            if side.is_some_and(|d| d != s) {
                return Err(SignalError::bad("direction", v, format!("the same direction as action `{text}`")));
            }
            side = Some(s);
        }
        if let Some(k) = implied_kind {
            match &kind {
                Some(given) if *given != k => {
                    return Err(SignalError::bad("type", v, format!("the type action `{text}` implies ({k})")));
                }
                _ => kind = Some(k),
            }
        }
    }
    let kind = match kind {
        Some(k) => k,
        None if side.is_some() => SignalType::Entry,
        None => return Err(SignalError::missing("type", EXPECT_TYPE)),
    };
    if neutral && kind != SignalType::Trend {
        return Err(SignalError::bad(
            "direction",
            direction.unwrap_or(&Value::Null),
            "buy/long or sell/short (neutral is only for trend signals)",
        ));
    }
    Ok((kind, side))
}

fn text_of(value: &Value) -> Result<String, Value> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(other.clone()),
    }
}

fn decimal_of(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)).ok()
}

fn parse_price(field: &str, value: &Value) -> Result<Price, SignalError> {
    decimal_of(value).and_then(|d| Price::new(d).ok()).ok_or_else(|| SignalError::bad(field, value, EXPECT_PRICE))
}

fn parse_level(field: &str, value: &Value) -> Result<Level, SignalError> {
    match value {
        Value::Object(obj) if obj.len() == 1 => {
            if let Some(p) = obj.get("pips") {
                decimal_of(p)
                    .and_then(|d| Pips::new(d).ok())
                    .map(Level::Pips)
                    .ok_or_else(|| SignalError::bad(field, value, "a positive number of pips"))
            } else if let Some(p) = obj.get("price") {
                parse_price(field, p).map(Level::Price)
            } else {
                Err(SignalError::bad(field, value, EXPECT_LEVEL))
            }
        }
        Value::Number(_) | Value::String(_) => {
            parse_price(field, value).map(Level::Price).map_err(|_| SignalError::bad(field, value, EXPECT_LEVEL))
        }
        _ => Err(SignalError::bad(field, value, EXPECT_LEVEL)),
    }
}

fn parse_strategy(value: &Value) -> Result<String, SignalError> {
    let text = text_of(value).map_err(|v| SignalError::bad("strategy", &v, "a strategy name"))?;
    let name = text.trim().to_ascii_uppercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(SignalError::bad("strategy", value, "a strategy name such as V3_COMBINED (letters, digits, _ - .)"))
    }
}

fn parse_timestamp(value: &Value) -> Result<DateTime<Utc>, SignalError> {
    let expected = "an RFC 3339 time such as 2024-05-01T12:00:00Z, or unix seconds or milliseconds";
    if let Some(d) = decimal_of(value) {
        let secs = if d.abs() >= Decimal::from(100_000_000_000_i64) { d / Decimal::ONE_THOUSAND } else { d };
        let whole = i64::try_from(secs.trunc()).ok();
        let nanos = u32::try_from(((secs.fract()) * Decimal::from(1_000_000_000)).trunc()).ok();
        return whole
            .zip(nanos)
            .and_then(|(s, n)| DateTime::from_timestamp(s, n))
            .ok_or_else(|| SignalError::bad("timestamp", value, expected));
    }
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| SignalError::bad("timestamp", value, expected))
}

impl Signal {
    fn check_requirements(&self) -> Result<(), SignalError> {
        let need_symbol = !matches!(self.kind, SignalType::Custom(_));
        if need_symbol && self.symbol.is_none() {
            return Err(SignalError::missing("symbol", format!("a symbol for a {} signal", self.kind)));
        }
        match self.kind {
            SignalType::Entry | SignalType::Reversal if self.side.is_none() => {
                return Err(SignalError::missing(
                    "direction",
                    format!("buy/long or sell/short for a {} signal", self.kind),
                ));
            }
            SignalType::Trend if self.timeframe.is_none() => {
                return Err(SignalError::missing("timeframe", "the timeframe the trend applies to"));
            }
            SignalType::Market if self.price.is_none() => {
                return Err(SignalError::missing("price", "the market price of a market update"));
            }
            _ => {}
        }
        if let (Some(side), Some(price), SignalType::Entry | SignalType::Reversal) = (self.side, self.price, &self.kind)
        {
            let wrong_side = |level: &Level, stop: bool| match level {
                Level::Price(p) => {
                    let below = *p < price;
                    let protective_below = (side == Side::Buy) == stop;
                    below != protective_below || *p == price
                }
                Level::Pips(_) => false,
            };
            if let Some(sl) = &self.sl
                && wrong_side(sl, true)
            {
                let where_ = if side == Side::Buy { "below" } else { "above" };
                return Err(SignalError::bad(
                    "sl",
                    &level_json(sl),
                    format!("a stop loss {where_} the price {price} for a {side}"),
                ));
            }
            for (i, tp) in self.tp.iter().enumerate() {
                if wrong_side(tp, false) {
                    let where_ = if side == Side::Buy { "above" } else { "below" };
                    return Err(SignalError::bad(
                        &format!("tp[{i}]"),
                        &level_json(tp),
                        format!("a take profit {where_} the price {price} for a {side}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn derived_id(&self, received_at: DateTime<Utc>) -> SignalId {
        let mut hasher = Sha256::new();
        hasher.update(Value::Object(self.canonical_fields(false)).to_string().as_bytes());
        if self.timestamp.is_none() {
            hasher.update(received_at.timestamp().div_euclid(60).to_le_bytes());
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        SignalId::new(format!("h-{hex}")).unwrap_or_else(|_| self.id.clone())
    }

    /// How old the signal is, when it carries `max_lag` and is older than that at `now`.
    #[must_use]
    pub fn stale_by(&self, now: DateTime<Utc>) -> Option<i64> {
        let (ts, lag) = (self.timestamp?, self.max_lag?);
        let age = (now - ts).num_seconds();
        (age > i64::try_from(lag).unwrap_or(i64::MAX)).then_some(age)
    }

    /// A number from `extra` (e.g. `adx`, `confidence`), accepting numeric strings.
    #[must_use]
    pub fn extra_decimal(&self, key: &str) -> Option<Decimal> {
        self.extra.get(key).and_then(decimal_of)
    }

    /// The canonical JSON form: canonical field names, prices as strings, `tp` as a list.
    #[must_use]
    pub fn to_canonical(&self) -> Value {
        Value::Object(self.canonical_fields(true))
    }

    fn canonical_fields(&self, with_id: bool) -> Map<String, Value> {
        let mut m = self.extra.clone();
        let s = |v: &dyn fmt::Display| Value::String(v.to_string());
        if with_id {
            m.insert("id".into(), s(&self.id));
        }
        m.insert("type".into(), s(&self.kind));
        if let Some(v) = &self.strategy {
            m.insert("strategy".into(), s(v));
        }
        if let Some(v) = &self.timeframe {
            m.insert("timeframe".into(), s(v));
        }
        if let Some(v) = &self.symbol {
            m.insert("symbol".into(), s(v));
        }
        match (self.side, &self.kind) {
            (Some(v), _) => {
                m.insert("direction".into(), s(&v));
            }
            (None, SignalType::Trend) => {
                m.insert("direction".into(), "neutral".into());
            }
            (None, _) => {}
        }
        if let Some(v) = &self.price {
            m.insert("price".into(), s(v));
        }
        if let Some(v) = &self.sl {
            m.insert("sl".into(), level_json(v));
        }
        if !self.tp.is_empty() {
            m.insert("tp".into(), Value::Array(self.tp.iter().map(level_json).collect()));
        }
        match &self.size {
            Some(Sizing::Lots(v)) => m.insert("lot".into(), s(v)),
            Some(Sizing::RiskPct(v)) => m.insert("risk_pct".into(), s(v)),
            Some(Sizing::RiskAmount(v)) => m.insert("risk_amount".into(), s(v)),
            None => None,
        };
        if let Some(v) = &self.plugin_hint {
            m.insert("plugin_hint".into(), s(v));
        }
        if let Some(v) = &self.timestamp {
            m.insert("timestamp".into(), Value::String(v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
        }
        if let Some(v) = self.max_lag {
            m.insert("max_lag".into(), Value::from(v));
        }
        m
    }
}

fn level_json(level: &Level) -> Value {
    match level {
        Level::Price(p) => Value::String(p.to_string()),
        Level::Pips(p) => serde_json::json!({ "pips": p.to_string() }),
    }
}

impl Serialize for Signal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_canonical().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        if !map.contains_key("id") {
            return Err(serde::de::Error::custom("a stored signal needs its id"));
        }
        parse_object(map, DateTime::UNIX_EPOCH).map(|p| p.signal).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
