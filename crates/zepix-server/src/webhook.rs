//! The webhook: `POST /webhook` and `POST /webhook/{secret}`.
//!
//! TradingView cannot send headers, so the secret travels in the body or in the path, and the body
//! is read as bytes whatever its content type (`text/plain` unless the message is valid JSON).
//! Checks run cheapest first: peer allowlist (403), rate limit (429), body size (413), parse (400),
//! secret (401), then the inbox answers accepted or duplicate once the signal is durable.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use http_body_util::LengthLimitError;
use serde_json::{Value, json};
use zepix_engine::metrics::Intake;
use zepix_engine::{SubmitError, Submitted};
use zepix_model::SignalSource;
use zepix_model::signal::parse_alert;

use crate::error::ApiError;
use crate::guard::secret_matches;
use crate::state::AppState;

/// `POST /webhook`: the secret, if one is configured, must be in the body.
///
/// # Errors
/// 403, 429, 413, 400, 401 or 503, as [`intake`] answers.
pub async fn webhook(State(state): State<AppState>, request: Request) -> Result<Json<Value>, ApiError> {
    intake(&state, None, request).await
}

/// `POST /webhook/{secret}`: the secret in the path (or in the body).
///
/// # Errors
/// 403, 429, 413, 400, 401 or 503, as [`intake`] answers.
pub async fn webhook_with_secret(
    State(state): State<AppState>,
    secret: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    // A path that does not decode cannot be the secret; it is answered like a wrong one.
    let secret = secret.map(|Path(s)| s).unwrap_or_default();
    intake(&state, Some(&secret), request).await
}

/// Takes one alert: checks it, parses it, authenticates it and makes it durable. Every refusal is
/// counted in the engine's intake metrics (accepted and duplicate are counted by the engine).
///
/// # Errors
/// 403 for a peer outside the allowlist, 429 over the rate limit, 413 for a body over the limit,
/// 400 for a malformed or stale alert (naming the field), 401 for a bad or missing secret, 503
/// when the inbox cannot store it (nothing was stored; the sender may retry).
pub async fn intake(state: &AppState, path_secret: Option<&str>, request: Request) -> Result<Json<Value>, ApiError> {
    let metrics = state.handle.metrics();
    let refuse = |what: Intake, error: ApiError| {
        metrics.count_intake(what);
        error
    };

    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    if !state.allowlist.allows(peer) {
        tracing::warn!(?peer, "webhook refused: peer is not in server.allow_ips");
        return Err(refuse(
            Intake::Unauthorized,
            ApiError::new(StatusCode::FORBIDDEN, "this address may not send alerts"),
        ));
    }
    if !state.limiter.try_acquire() {
        let rate = state.config.rate_limit_per_sec;
        return Err(refuse(
            Intake::RateLimited,
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, format!("over the rate limit of {rate} alerts a second")),
        ));
    }

    let body = read_body(request, state.config.body_limit_bytes).await.map_err(|e| refuse(Intake::Invalid, e))?;
    let parsed = parse_alert(&body, state.handle.now()).map_err(|e| refuse(Intake::Invalid, e.into()))?;

    if let Some(expected) = state.config.secret.as_deref() {
        let check = |given: Option<&str>| given.is_some_and(|g| !g.is_empty() && secret_matches(g, expected));
        // Both are checked, so timing does not tell which one was tried.
        let ok = check(path_secret) | check(parsed.secret.as_deref());
        if !ok {
            tracing::warn!(?peer, "webhook refused: bad or missing secret");
            return Err(refuse(Intake::Unauthorized, ApiError::new(StatusCode::UNAUTHORIZED, "bad or missing secret")));
        }
    }

    match state.handle.submit(parsed.signal, SignalSource::Webhook).await {
        Ok(Submitted::Accepted(id)) => Ok(Json(json!({"status": "accepted", "signal_id": id}))),
        Ok(Submitted::Duplicate(id)) => Ok(Json(json!({"status": "duplicate", "signal_id": id}))),
        Err(e @ SubmitError::Stale { max_lag, .. }) => Err(ApiError::bad_request("timestamp", e.to_string())
            .with_expected(format!("a signal at most {max_lag} s old (check the sender's clock and max_lag)"))),
        Err(SubmitError::Inbox(e)) => Err(ApiError::unavailable("the signal was not stored", &e)),
    }
}

/// Reads the whole body, refusing one over `limit` bytes (by its `Content-Length` before reading
/// when it has one).
async fn read_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("body over {limit} bytes"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body: Body = request.into_body();
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large()
        } else {
            tracing::debug!("webhook body could not be read: {e}");
            ApiError::bad_request("body", "the body could not be read")
        }
    })
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<LengthLimitError>() {
            return true;
        }
        next = err.source();
    }
    false
}
