//! The REST API under `/api`, `GET /health` and the endpoint index at `/`.
//!
//! Ids in paths are validated into their types (a bad one is a 400 naming the field); lists take
//! `?limit=N` (default 50, at most 1000) and come newest first. Store queries run on the blocking
//! pool so a slow database never stalls the webhook.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::{Value, json};
use zepix_engine::{EngineHandle, PluginMode, Store, StoreError, TradingState};
use zepix_model::{PluginId, PositionId, SignalId, Symbol};

use crate::error::ApiError;
use crate::state::AppState;

/// Items a list returns when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` a list accepts.
pub const MAX_LIMIT: usize = 1000;

/// A JSON answer, or an error.
pub type ApiResult = Result<Json<Value>, ApiError>;

/// The query string of a list.
pub type ListQuery = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The one parameter of a path, as text; a path that does not decode is a 400 naming `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(text)) => Ok(Self(text)),
            Err(e) => Err(ApiError::bad_request("path", e.body_text())),
        }
    }
}

fn to_json(value: &impl Serialize) -> ApiResult {
    serde_json::to_value(value).map(Json).map_err(|e| ApiError::internal("the answer could not be encoded", &e))
}

/// `limit` from the query string: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
fn limit(query: ListQuery) -> Result<usize, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => text.trim().parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request("limit", format!("limit `{text}` is not a number from 1 to {MAX_LIMIT}"))
                .with_expected(format!("a whole number from 1 to {MAX_LIMIT}"))
        }),
    }
}

/// Runs a store query on the blocking pool.
async fn query<T: Send + 'static>(
    handle: &EngineHandle,
    what: &'static str,
    run: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let handle = handle.clone();
    match tokio::task::spawn_blocking(move || run(handle.store())).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ApiError::unavailable(what, &e)),
        Err(e) => Err(ApiError::internal(what, &e)),
    }
}

fn plugin_id(text: &str) -> Result<PluginId, ApiError> {
    PluginId::new(text).map_err(|e| ApiError::bad_request("plugin_id", e.to_string()))
}

/// `GET /`: what this server answers.
pub async fn index() -> Json<Value> {
    Json(json!({
        "name": "zepix",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": [
            {"method": "POST", "path": "/webhook", "about": "TradingView alert; secret in the body"},
            {"method": "POST", "path": "/webhook/{secret}", "about": "TradingView alert; secret in the path"},
            {"method": "GET", "path": "/health", "about": "liveness, trading state, running plugins"},
            {"method": "GET", "path": "/metrics", "about": "Prometheus metrics"},
            {"method": "GET", "path": "/api/status", "about": "engine status"},
            {"method": "GET", "path": "/api/plugins", "about": "every plugin's status"},
            {"method": "GET", "path": "/api/plugins/{id}", "about": "one plugin's status"},
            {"method": "POST", "path": "/api/plugins/{id}/enable", "about": "enable a plugin"},
            {"method": "POST", "path": "/api/plugins/{id}/disable", "about": "disable a plugin"},
            {"method": "POST", "path": "/api/plugins/{id}/reload", "about": "hot-reload a process plugin"},
            {"method": "POST", "path": "/api/plugins/{id}/promote", "about": "shadow → live (HYBRID)"},
            {"method": "POST", "path": "/api/plugins/{id}/shadow", "about": "live → shadow (HYBRID)"},
            {"method": "GET", "path": "/api/shadow/report", "about": "shadow plugins against live ones"},
            {"method": "GET", "path": "/api/signals?limit=N", "about": "recent processed signals"},
            {"method": "GET", "path": "/api/signals/{id}", "about": "one signal and its outcome"},
            {"method": "GET", "path": "/api/orders?limit=N", "about": "recent orders"},
            {"method": "GET", "path": "/api/positions", "about": "open positions and the account"},
            {"method": "POST", "path": "/api/positions/{id}/close", "about": "close a position"},
            {"method": "GET", "path": "/api/trades?limit=N", "about": "recent closed trades"},
            {"method": "GET", "path": "/api/events?limit=N", "about": "recent events"},
            {"method": "POST", "path": "/api/trading/{active|paused|halted}", "about": "set the trading state"},
            {"method": "GET", "path": "/api/locks", "about": "symbols in their cooldown after a stop loss"},
            {"method": "POST", "path": "/api/locks/{symbol}/unlock", "about": "lift a symbol's lock"},
        ],
    }))
}

/// `GET /health`: 200 with the trading state and how many plugins run; 503 once the engine has
/// stopped.
///
/// # Errors
/// 503 when the engine does not answer.
pub async fn health(State(state): State<AppState>) -> ApiResult {
    let status = state.handle.status().await?;
    let running = status.plugins.iter().filter(|(_, s)| *s == zepix_engine::PluginState::Running).count();
    Ok(Json(json!({"status": "ok", "trading_state": status.trading_state, "plugins_running": running})))
}

/// `GET /api/status`: the engine as a whole.
///
/// # Errors
/// 503 when the engine does not answer.
pub async fn status(State(state): State<AppState>) -> ApiResult {
    to_json(&state.handle.status().await?)
}

/// `GET /api/plugins`: every plugin's status.
///
/// # Errors
/// 503 when the engine does not answer.
pub async fn plugins(State(state): State<AppState>) -> ApiResult {
    Ok(Json(json!({"plugins": to_json(&state.handle.plugins().await?)?.0})))
}

/// `GET /api/plugins/{id}`: one plugin's status.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 503 when the engine does not answer.
pub async fn plugin(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let id = plugin_id(&id)?;
    let found = state.handle.plugins().await?.into_iter().find(|p| p.id == id);
    match found {
        Some(p) => to_json(&p),
        None => Err(ApiError::not_found(format!("no plugin `{id}`"))),
    }
}

async fn set_enabled(state: &AppState, id: &str, enabled: bool) -> ApiResult {
    let id = plugin_id(id)?;
    let status = state.handle.set_enabled(id, enabled).await?;
    to_json(&status)
}

/// `POST /api/plugins/{id}/enable`.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 409 when the lifecycle refuses.
pub async fn enable(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    set_enabled(&state, &id, true).await
}

/// `POST /api/plugins/{id}/disable`.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 409 when the lifecycle refuses.
pub async fn disable(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    set_enabled(&state, &id, false).await
}

/// `POST /api/plugins/{id}/reload`: starts the plugin's current code beside the running version
/// and switches once it is initialized; answers with what the new version said about itself.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 409 for a built-in plugin or a new version that
/// failed to start (the old one keeps running; the message says why).
pub async fn reload(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let id = plugin_id(&id)?;
    let info = state.handle.reload(id.clone()).await?;
    Ok(Json(serde_json::json!({"plugin": id, "reloaded": true, "running": info})))
}

async fn set_mode(state: &AppState, id: &str, mode: PluginMode) -> ApiResult {
    let id = plugin_id(id)?;
    let status = state.handle.set_mode(id, mode).await?;
    to_json(&status)
}

/// `POST /api/plugins/{id}/promote`: a shadow plugin's next orders go to the venue.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 409 when the engine is not in `HYBRID`.
pub async fn promote(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    set_mode(&state, &id, PluginMode::Live).await
}

/// `POST /api/plugins/{id}/shadow`: a live plugin's next orders go to its virtual book.
///
/// # Errors
/// 400 for a malformed id, 404 for an unknown one, 409 when the engine is not in `HYBRID`.
pub async fn shadow(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    set_mode(&state, &id, PluginMode::Shadow).await
}

/// `GET /api/shadow/report`: every shadow plugin against the live plugins on the same signals.
///
/// # Errors
/// 503 when the engine does not answer, 500 when the store fails.
pub async fn shadow_report(State(state): State<AppState>) -> ApiResult {
    to_json(&state.handle.shadow_report().await?)
}

/// `GET /api/signals?limit=N`: recent processed signals with their outcomes, newest first.
///
/// # Errors
/// 400 for a bad limit, 503 when the store fails.
pub async fn signals(State(state): State<AppState>, q: ListQuery) -> ApiResult {
    let n = limit(q)?;
    let rows = query(&state.handle, "signals could not be read", move |s| s.recent_signals(n)).await?;
    Ok(Json(json!({"signals": to_json(&rows)?.0})))
}

/// `GET /api/signals/{id}`: one signal and its outcome.
///
/// # Errors
/// 400 for a malformed id, 404 while it is not processed (or was never sent), 503 when the store
/// fails.
pub async fn signal(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let id = SignalId::new(&id).map_err(|e| ApiError::bad_request("signal_id", e.to_string()))?;
    let key = id.clone();
    match query(&state.handle, "the signal could not be read", move |s| s.signal(&key)).await? {
        Some(record) => to_json(&record),
        None => Err(ApiError::not_found(format!(
            "no processed signal {id} (one accepted moments ago may still be processing)"
        ))),
    }
}

/// `GET /api/orders?limit=N`: recent orders, newest first.
///
/// # Errors
/// 400 for a bad limit, 503 when the store fails.
pub async fn orders(State(state): State<AppState>, q: ListQuery) -> ApiResult {
    let n = limit(q)?;
    let rows = query(&state.handle, "orders could not be read", move |s| s.orders(n)).await?;
    Ok(Json(json!({"orders": to_json(&rows)?.0})))
}

/// `GET /api/trades?limit=N`: recent closed trades, newest first.
///
/// # Errors
/// 400 for a bad limit, 503 when the store fails.
pub async fn trades(State(state): State<AppState>, q: ListQuery) -> ApiResult {
    let n = limit(q)?;
    let rows = query(&state.handle, "trades could not be read", move |s| s.trades(n)).await?;
    Ok(Json(json!({"trades": to_json(&rows)?.0})))
}

/// `GET /api/events?limit=N`: recent events, newest first.
///
/// # Errors
/// 400 for a bad limit, 503 when the store fails.
pub async fn events(State(state): State<AppState>, q: ListQuery) -> ApiResult {
    let n = limit(q)?;
    let rows = query(&state.handle, "events could not be read", move |s| s.events(n)).await?;
    Ok(Json(json!({"events": to_json(&rows)?.0})))
}

/// `GET /api/positions`: open positions and the account.
///
/// # Errors
/// 503 when the engine does not answer.
pub async fn positions(State(state): State<AppState>) -> ApiResult {
    let status = state.handle.status().await?;
    Ok(Json(json!({
        "positions": to_json(&status.positions)?.0,
        "account": to_json(&status.account)?.0,
    })))
}

/// `POST /api/positions/{id}/close`: closes a position at the current price.
///
/// # Errors
/// 400 for a malformed id, 404 for no such open position, 409 when it cannot be closed (no price).
pub async fn close_position(State(state): State<AppState>, PathParam(id): PathParam) -> ApiResult {
    let id = id.trim().parse::<u64>().map(PositionId).map_err(|_| {
        ApiError::bad_request("position_id", format!("position id `{id}` is not a whole number"))
            .with_expected("a position id such as 12")
    })?;
    let trade = state.handle.close_position(id).await?;
    Ok(Json(json!({"closed": to_json(&trade)?.0})))
}

/// `POST /api/trading/{state}`: sets the trading state to `active`, `paused` or `halted`.
///
/// # Errors
/// 400 for another state, 503 when the engine does not answer.
pub async fn set_trading(State(state): State<AppState>, PathParam(wanted): PathParam) -> ApiResult {
    let wanted: TradingState = wanted
        .parse()
        .map_err(|e: String| ApiError::bad_request("state", e).with_expected("active, paused or halted"))?;
    state.handle.set_trading_state(wanted).await?;
    Ok(Json(json!({"trading_state": wanted})))
}

/// `GET /api/locks`: symbols in their cooldown after a stop loss.
///
/// # Errors
/// 503 when the engine does not answer.
pub async fn locks(State(state): State<AppState>) -> ApiResult {
    Ok(Json(json!({"locks": state.handle.status().await?.locks})))
}

/// `POST /api/locks/{symbol}/unlock`: lifts a symbol's lock.
///
/// # Errors
/// 400 for a malformed symbol, 409 when it is not locked, 503 when the engine does not answer.
pub async fn unlock(State(state): State<AppState>, PathParam(symbol): PathParam) -> ApiResult {
    let symbol: Symbol = symbol.parse().map_err(|e: zepix_model::ModelError| {
        ApiError::bad_request("symbol", e.to_string()).with_expected("a symbol such as XAUUSD")
    })?;
    let lifted = state.handle.unlock(symbol).await?;
    Ok(Json(json!({"unlocked": lifted})))
}

/// Answer for a route that does not exist.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; GET / lists them")
}

/// Answer for a known route called with the wrong method.
/// The path is not repeated: under `/webhook/` it holds the secret.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed here; GET / lists the endpoints"))
}
