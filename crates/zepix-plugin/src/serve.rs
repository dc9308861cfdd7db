//! The engine's side of plugin → engine calls (protocol 1): a request's method and params become a
//! [`PluginContext`] call, whose answer (or refusal) becomes the JSON result or error. The context
//! checks capabilities and counts metrics exactly as for a built-in plugin.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zepix_model::{Level, Lots, Money, Pips, PositionId, Price, Side, Sizing, Symbol, Timeframe};

use crate::api::{NotifyLevel, OrderIntent, PluginContext, ServiceError, ServiceErrorCode};
use crate::chain::{DualPlan, PyramidPlan, ReentryPlan};
use crate::remote::{RpcError, code};

/// Methods that exist in protocol 1 but whose services are not built yet.
const NOT_YET: &[&str] = &["market.bars"];

/// Runs one plugin → engine request against the plugin's context.
///
/// # Errors
/// `-32601` for an unknown method, `-32602` for bad params, `-32006` for a service not built yet,
/// and the mapping of [`ServiceError`]s (capability denied, risk rejected, not found…).
pub fn serve(ctx: &mut dyn PluginContext, method: &str, params: Value) -> Result<Value, RpcError> {
    match method {
        "orders.place" => {
            let p: PlaceParams = parse(params)?;
            let intent = p.into_intent()?;
            let placed = ctx.place_order(intent).map_err(service_error)?;
            Ok(json!({"order": placed.order, "position": placed.position}))
        }
        "orders.modify" => {
            let p: ModifyParams = parse(params)?;
            let position = ctx.modify_position(p.position_id, p.sl, p.tp).map_err(service_error)?;
            to_json(&position)
        }
        "orders.close" => {
            let p: CloseParams = parse(params)?;
            to_json(&ctx.close_position(p.position_id).map_err(service_error)?)
        }
        "orders.close_all" => {
            let p: CloseAllParams = parse(params)?;
            to_json(&ctx.close_positions(&p.symbol, p.side).map_err(service_error)?)
        }
        "positions.list" => {
            let p: SymbolOpt = parse(params)?;
            to_json(&ctx.positions(p.symbol.as_ref()).map_err(service_error)?)
        }
        "risk.lot_size" => {
            let p: LotSizeParams = parse(params)?;
            let sizing = sizing(None, p.risk_pct, p.risk_amount)?
                .ok_or_else(|| invalid("risk.lot_size needs `risk_pct` or `risk_amount`"))?;
            let lots = ctx.lot_size(&p.symbol, p.entry, p.sl, sizing).map_err(service_error)?;
            Ok(json!({"lots": lots}))
        }
        "market.price" => {
            let p: SymbolParams = parse(params)?;
            Ok(json!({"price": ctx.last_price(&p.symbol).map_err(service_error)?}))
        }
        "trend.get" => {
            let p: TrendParams = parse(params)?;
            Ok(json!({"trend": ctx.trend(&p.symbol, p.timeframe).map_err(service_error)?}))
        }
        "trend.aligned" => {
            let p: AlignedParams = parse(params)?;
            Ok(json!({"aligned": ctx.is_aligned(&p.symbol, p.side, &p.timeframes).map_err(service_error)?}))
        }
        "notify.send" => {
            let p: NotifyParams = parse(params)?;
            ctx.notify(p.level.unwrap_or(NotifyLevel::Info), &p.message).map_err(service_error)?;
            Ok(Value::Null)
        }
        "dual_order.place" => {
            let (order, plan) = with_plan::<DualPlan>(params)?;
            let done = ctx.place_dual_order(order.into_intent()?, plan).map_err(service_error)?;
            let placed = |p: &crate::Placed| json!({"order": p.order, "position": p.position});
            Ok(json!({
                "id": done.id,
                "a": placed(&done.a),
                "b": done.b.as_ref().map(placed),
                "b_refused": done.b_refused,
                "chain": done.chain,
            }))
        }
        "profit_booking.start" => {
            let (order, plan) = with_plan::<PyramidPlan>(params)?;
            to_json(&ctx.start_profit_chain(order.into_intent()?, plan).map_err(service_error)?)
        }
        "profit_booking.chains" => {
            no_params("profit_booking.chains", &params)?;
            to_json(&ctx.profit_chains().map_err(service_error)?)
        }
        "reentry.start" => {
            let p: ReentryParams = parse(params)?;
            to_json(&ctx.start_reentry(p.position_id, p.plan.unwrap_or_default()).map_err(service_error)?)
        }
        "reentry.chains" => {
            no_params("reentry.chains", &params)?;
            to_json(&ctx.reentry_chains().map_err(service_error)?)
        }
        "safety.shield" => {
            let p: ShieldParams = parse(params)?;
            let share = decimal("share", &p.share)?;
            to_json(&ctx.shield_position(p.position_id, share).map_err(service_error)?)
        }
        "safety.check_recovery_allowed" => {
            let p: SymbolParams = parse(params)?;
            to_json(&ctx.check_recovery_allowed(&p.symbol).map_err(service_error)?)
        }
        "signals.emit" => {
            let p: EmitParams = parse(params)?;
            let body = p.signal.to_string();
            let parsed = zepix_model::signal::parse_alert(body.as_bytes(), ctx.now())
                .map_err(|e| invalid(format!("signal: {e}")))?;
            ctx.emit_signal(parsed.signal).map_err(service_error)?;
            Ok(Value::Null)
        }
        m if NOT_YET.iter().any(|prefix| m == *prefix || (prefix.ends_with('.') && m.starts_with(prefix))) => {
            Err(RpcError::new(
                code::UNAVAILABLE,
                format!("`{m}` is part of protocol 1 but not available in this engine yet"),
            ))
        }
        m => Err(RpcError::new(code::METHOD_NOT_FOUND, format!("unknown method `{m}`"))),
    }
}

/// The signal a request says it belongs to (`signal_id`), if any.
#[must_use]
pub fn signal_of(params: &Value) -> Option<&str> {
    params.get("signal_id")?.as_str()
}

/// A [`ServiceError`] as the protocol's error.
#[must_use]
pub fn service_error(e: ServiceError) -> RpcError {
    let message = e.to_string();
    match e.code {
        ServiceErrorCode::CapabilityDenied => RpcError::new(code::CAPABILITY_DENIED, message),
        ServiceErrorCode::RiskRejected(risk) => {
            RpcError::new(code::RISK_REJECTED, message).with_data(json!({"code": risk.as_str()}))
        }
        ServiceErrorCode::InvalidRequest => RpcError::new(code::INVALID_PARAMS, message),
        ServiceErrorCode::NotFound => RpcError::new(code::NOT_FOUND, message),
        ServiceErrorCode::Unavailable => RpcError::new(code::UNAVAILABLE, message),
    }
}

fn invalid(message: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_PARAMS, message)
}

fn parse<T: DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params).map_err(|e| invalid(format!("bad params: {e}")))
}

fn no_params(method: &str, params: &Value) -> Result<(), RpcError> {
    match params {
        Value::Null => Ok(()),
        Value::Object(o) if o.is_empty() => Ok(()),
        other => Err(invalid(format!("{method} takes no params, got {other}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShieldParams {
    position_id: PositionId,
    share: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReentryParams {
    position_id: PositionId,
    plan: Option<ReentryPlan>,
}

/// An order's params with an optional `plan` beside them (its defaults when absent).
fn with_plan<P: DeserializeOwned + Default>(params: Value) -> Result<(PlaceParams, P), RpcError> {
    let mut params = params;
    let plan = match params.as_object_mut().and_then(|o| o.remove("plan")) {
        Some(plan) => serde_json::from_value(plan).map_err(|e| invalid(format!("bad plan: {e}")))?,
        None => P::default(),
    };
    Ok((parse(params)?, plan))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| RpcError::new(code::INTERNAL, e.to_string()))
}

fn decimal(field: &str, value: &Value) -> Result<Decimal, RpcError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return Err(invalid(format!("`{field}` must be a number, got {value}"))),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| invalid(format!("`{field}` must be a number, got {value}")))
}

fn level(field: &str, value: &Value) -> Result<Level, RpcError> {
    let bad = |e: zepix_model::ModelError| invalid(format!("`{field}`: {e}"));
    match value {
        Value::Object(obj) if obj.len() == 1 && obj.contains_key("pips") => {
            Pips::new(decimal(field, &obj["pips"])?).map(Level::Pips).map_err(bad)
        }
        Value::Object(obj) if obj.len() == 1 && obj.contains_key("price") => {
            Price::new(decimal(field, &obj["price"])?).map(Level::Price).map_err(bad)
        }
        Value::Number(_) | Value::String(_) => Price::new(decimal(field, value)?).map(Level::Price).map_err(bad),
        _ => Err(invalid(format!("`{field}` must be a price or {{\"pips\": n}}, got {value}"))),
    }
}

fn sizing(lot: Option<&Value>, pct: Option<Value>, amount: Option<Value>) -> Result<Option<Sizing>, RpcError> {
    let bad = |e: zepix_model::ModelError| invalid(e.to_string());
    match (lot, pct, amount) {
        (Some(l), None, None) => Ok(Some(Sizing::Lots(Lots::new(decimal("lot", l)?).map_err(bad)?))),
        (None, Some(p), None) => Ok(Some(Sizing::RiskPct(decimal("risk_pct", &p)?))),
        (None, None, Some(a)) => Ok(Some(Sizing::RiskAmount(Money::from_decimal(decimal("risk_amount", &a)?)))),
        (None, None, None) => Ok(None),
        _ => Err(invalid("give at most one of `lot`, `risk_pct` and `risk_amount`")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitParams {
    signal: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceParams {
    symbol: Symbol,
    side: Side,
    lot: Option<Value>,
    risk_pct: Option<Value>,
    risk_amount: Option<Value>,
    price: Option<Price>,
    sl: Option<Value>,
    tp: Option<Value>,
    #[serde(default)]
    comment: String,
    #[serde(default, rename = "signal_id")]
    _signal_id: Option<Value>,
}

impl PlaceParams {
    fn into_intent(self) -> Result<OrderIntent, RpcError> {
        Ok(OrderIntent {
            size: sizing(self.lot.as_ref(), self.risk_pct, self.risk_amount)?,
            sl: self.sl.as_ref().map(|v| level("sl", v)).transpose()?,
            tp: self.tp.as_ref().map(|v| level("tp", v)).transpose()?,
            symbol: self.symbol,
            side: self.side,
            price: self.price,
            comment: self.comment,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifyParams {
    position_id: PositionId,
    sl: Option<Price>,
    tp: Option<Price>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseParams {
    position_id: PositionId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseAllParams {
    symbol: Symbol,
    side: Option<Side>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolOpt {
    symbol: Option<Symbol>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SymbolParams {
    symbol: Symbol,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LotSizeParams {
    symbol: Symbol,
    entry: Price,
    sl: Price,
    risk_pct: Option<Value>,
    risk_amount: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrendParams {
    symbol: Symbol,
    timeframe: Timeframe,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlignedParams {
    symbol: Symbol,
    side: Side,
    timeframes: Vec<Timeframe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyParams {
    level: Option<NotifyLevel>,
    message: String,
}

/// A plugin's answer to a `process_*` call: its decision, the orders it asks the engine to place
/// for the signal (`place`: each an `orders.place` params object) and the positions to close
/// (`close`: each an `orders.close_all` params object), which saves a round trip per order.
#[derive(Debug, Clone, PartialEq)]
pub struct WireDecision {
    /// The decision as given.
    pub decision: crate::api::Decision,
    /// Orders to place before the decision is stored.
    pub place: Vec<Value>,
    /// Positions to close before the decision is stored (`orders.close_all` params each).
    pub close: Vec<Value>,
}

/// Reads a plugin's answer to a `process_*` call.
///
/// # Errors
/// When it is not a decision (`{"kind": "executed"|"rejected"|"ignored", …}`).
pub fn decision(value: Value) -> Result<WireDecision, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wire {
        kind: crate::api::DecisionKind,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        orders: Vec<zepix_model::OrderId>,
        #[serde(default)]
        closed: Vec<PositionId>,
        #[serde(default)]
        place: Vec<Value>,
        #[serde(default)]
        close: Vec<Value>,
    }
    let w: Wire = serde_json::from_value(value).map_err(|e| format!("not a decision: {e}"))?;
    Ok(WireDecision {
        decision: crate::api::Decision { kind: w.kind, reason: w.reason, orders: w.orders, closed: w.closed },
        place: w.place,
        close: w.close,
    })
}

/// Reads a plugin's answer to `on_signal_received`.
///
/// # Errors
/// When it is not `{"action": "pass"|"modify"|"reject", …}` or a modified signal does not parse.
pub fn hook_decision(value: Value) -> Result<crate::api::HookDecision, String> {
    use crate::api::HookDecision;
    let action = value.get("action").and_then(Value::as_str).unwrap_or_default();
    match action {
        "pass" => Ok(HookDecision::Pass),
        "reject" => {
            let reason = value.get("reason").and_then(Value::as_str).unwrap_or("rejected by a hook");
            Ok(HookDecision::Reject(reason.to_owned()))
        }
        "modify" => {
            let signal = value.get("signal").cloned().ok_or("`modify` needs the changed `signal`")?;
            let signal: zepix_model::Signal =
                serde_json::from_value(signal).map_err(|e| format!("the modified signal is invalid: {e}"))?;
            Ok(HookDecision::Modify(Box::new(signal)))
        }
        other => Err(format!("`action` must be pass, modify or reject, got `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bad_params_and_unknown_methods_are_refused_clearly() {
        let e = sizing(Some(&json!("0.1")), Some(json!(1)), None).unwrap_err();
        assert_eq!(e.code, code::INVALID_PARAMS);
        assert!(level("sl", &json!({"pips": -3})).is_err());
        assert!(matches!(level("tp", &json!({"price": "2040.5"})), Ok(Level::Price(_))));
        assert!(matches!(level("sl", &json!(2020)), Ok(Level::Price(_))));
        assert!(level("sl", &json!([1])).unwrap_err().message.contains("`sl` must be a price"));
    }

    #[test]
    fn decisions_and_hook_answers_parse_or_say_why_not() {
        let d = decision(json!({"kind": "executed", "orders": [3], "closed": []})).unwrap();
        assert_eq!((d.decision.orders.len(), d.place.len()), (1, 0));
        let d = decision(json!({"kind": "executed", "place": [{"symbol": "XAUUSD", "side": "buy"}]})).unwrap();
        assert_eq!(d.place.len(), 1);
        assert!(decision(json!({"kind": "maybe"})).unwrap_err().starts_with("not a decision"));
        assert!(decision(json!({"kind": "ignored", "extra": 1})).is_err());
        assert_eq!(hook_decision(json!({"action": "pass"})).unwrap(), crate::api::HookDecision::Pass);
        assert!(hook_decision(json!({"action": "skip"})).unwrap_err().contains("got `skip`"));
        assert!(hook_decision(json!({"action": "modify"})).is_err());
    }
}
