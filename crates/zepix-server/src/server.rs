//! The router and the server loop: [`router`] is testable without a socket; [`serve`] runs it on a
//! bound listener until the shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::guard::secret_matches;
use crate::state::AppState;
use crate::{api, prometheus, webhook};

/// Every route. The webhook checks its own peers and rate; `/api/*` needs the bearer token when
/// `api_token` is set.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/status", get(api::status))
        .route("/plugins", get(api::plugins))
        .route("/plugins/{id}", get(api::plugin))
        .route("/plugins/{id}/enable", post(api::enable))
        .route("/plugins/{id}/disable", post(api::disable))
        .route("/plugins/{id}/reload", post(api::reload))
        .route("/plugins/{id}/promote", post(api::promote))
        .route("/plugins/{id}/shadow", post(api::shadow))
        .route("/shadow/report", get(api::shadow_report))
        .route("/signals", get(api::signals))
        .route("/signals/{id}", get(api::signal))
        .route("/orders", get(api::orders))
        .route("/positions", get(api::positions))
        .route("/positions/{id}/close", post(api::close_position))
        .route("/trades", get(api::trades))
        .route("/events", get(api::events))
        .route("/trading/{state}", post(api::set_trading))
        .route("/locks", get(api::locks))
        .route("/locks/{symbol}/unlock", post(api::unlock))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(api::index))
        .route("/webhook", post(webhook::webhook))
        .route("/webhook/{secret}", post(webhook::webhook_with_secret))
        .route("/health", get(api::health))
        .route("/metrics", get(prometheus::metrics))
        .nest("/api", api)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .with_state(state)
}

/// Refuses an `/api` request without `Authorization: Bearer <api_token>` when a token is set.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(expected) = state.config.api_token.as_deref() {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if !given.is_some_and(|g| !g.is_empty() && secret_matches(g, expected)) {
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, "missing or bad API token (Authorization: Bearer …)")
                    .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// Serves until `shutdown` completes, then lets requests in flight finish. Peers' addresses reach
/// the handlers, so the webhook's allowlist sees them.
///
/// # Errors
/// The listener failed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.config.secret.is_none() {
        tracing::warn!("server.secret is not set: the webhook accepts alerts from anyone who can reach it");
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("listening on http://{addr}");
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
