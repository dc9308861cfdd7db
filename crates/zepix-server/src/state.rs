//! What every handler shares: the engine handle, the settings, the allowlist and the rate limiter.

use std::sync::Arc;
use std::time::Instant;

use zepix_engine::EngineHandle;

use crate::config::ServerConfig;
use crate::guard::{Allowlist, RateLimiter};

/// The server's shared state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The running engine.
    pub handle: EngineHandle,
    /// The `[server]` settings.
    pub config: Arc<ServerConfig>,
    /// The webhook's allowed peers.
    pub allowlist: Arc<Allowlist>,
    /// The webhook's rate limit.
    pub limiter: Arc<RateLimiter>,
}

impl AppState {
    /// State over a running engine. The settings are taken as given: call
    /// [`ServerConfig::validate`] when loading them.
    #[must_use]
    pub fn new(handle: EngineHandle, config: ServerConfig) -> Self {
        let allowlist = Arc::new(Allowlist::new(config.allowlist()));
        let limiter = Arc::new(RateLimiter::new(config.rate_limit_per_sec, config.rate_burst, Instant::now()));
        Self { handle, config: Arc::new(config), allowlist, limiter }
    }
}
