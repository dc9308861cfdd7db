//! zepix's HTTP surfaces, over a running engine's [`zepix_engine::EngineHandle`].
//!
//! - [`config`]: the `[server]` table of `zepix.toml`.
//! - [`server`]: the [`router`] (testable without a socket) and [`serve`] (a bound listener and a
//!   shutdown future).
//! - [`webhook`]: `POST /webhook` and `POST /webhook/{secret}`, TradingView's entry point.
//! - [`api`]: the REST API under `/api`, `GET /health` and the index at `/`.
//! - [`prometheus`]: `GET /metrics` in the Prometheus text format.
//! - [`guard`]: the IP allowlist, the rate limiter and the constant-time token checks.
//! - [`state`]: what every handler shares. [`error`]: the one HTTP error type.

pub mod api;
pub mod config;
pub mod error;
pub mod guard;
pub mod prometheus;
pub mod server;
pub mod state;
pub mod webhook;

pub use config::{ConfigError, ServerConfig, TRADINGVIEW_IPS};
pub use error::ApiError;
pub use server::{router, serve};
pub use state::AppState;
