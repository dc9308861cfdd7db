//! The `[server]` table of `zepix.toml`: where to listen and who may talk to the engine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The addresses TradingView sends webhooks from (its documentation lists exactly these four).
pub const TRADINGVIEW_IPS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(52, 89, 214, 238)),
    IpAddr::V4(Ipv4Addr::new(34, 212, 75, 30)),
    IpAddr::V4(Ipv4Addr::new(54, 218, 53, 128)),
    IpAddr::V4(Ipv4Addr::new(52, 32, 178, 7)),
];

/// The HTTP server's settings. Every key has a default; unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// The webhook's shared secret, given in the body (`secret`) or the path (`/webhook/<secret>`).
    /// `None` accepts alerts without one.
    pub secret: Option<String>,
    /// Largest webhook body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Webhook requests per second allowed on average, all senders together; 0 turns the limit off.
    pub rate_limit_per_sec: u32,
    /// Webhook requests allowed at once above the average rate.
    pub rate_burst: u32,
    /// Peers allowed to call the webhook; empty allows any.
    pub allow_ips: Vec<IpAddr>,
    /// Adds TradingView's four addresses to `allow_ips`.
    pub allow_tradingview: bool,
    /// When set, `/api/*` requires `Authorization: Bearer <token>`.
    pub api_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            secret: None,
            body_limit_bytes: 65_536,
            rate_limit_per_sec: 200,
            rate_burst: 400,
            allow_ips: Vec::new(),
            allow_tradingview: false,
            api_token: None,
        }
    }
}

/// A `[server]` setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server.{key}: {message}")]
pub struct ConfigError {
    /// The key, e.g. `secret`.
    pub key: &'static str,
    /// What is wrong and what would work.
    pub message: String,
}

impl ServerConfig {
    /// Checks the values serde cannot: an empty secret or token (usually an unset `${VAR}`), a
    /// zero body limit, a zero burst with a rate limit on.
    ///
    /// # Errors
    /// The first setting that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, message: &str| Err(ConfigError { key, message: message.to_owned() });
        if self.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return bad("secret", "is empty (an unset variable?): give a secret or remove the key");
        }
        if self.api_token.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return bad("api_token", "is empty (an unset variable?): give a token or remove the key");
        }
        if self.body_limit_bytes == 0 {
            return bad("body_limit_bytes", "must be above 0");
        }
        if self.rate_limit_per_sec > 0 && self.rate_burst == 0 {
            return bad("rate_burst", "must be at least 1 while rate_limit_per_sec is above 0");
        }
        Ok(())
    }

    /// The webhook's allowlist: `allow_ips`, plus TradingView's addresses when asked. Empty
    /// means any peer.
    #[must_use]
    pub fn allowlist(&self) -> Vec<IpAddr> {
        let mut ips = self.allow_ips.clone();
        if self.allow_tradingview {
            ips.extend(TRADINGVIEW_IPS);
        }
        ips.sort_unstable();
        ips.dedup();
        ips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: ServerConfig = toml::from_str("").unwrap();
        assert_eq!(c, ServerConfig::default());
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!((c.body_limit_bytes, c.rate_limit_per_sec, c.rate_burst), (65_536, 200, 400));
        let err = toml::from_str::<ServerConfig>("secrett = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field `secrett`"), "{err}");
    }

    #[test]
    fn allowlist_adds_tradingview() {
        let c: ServerConfig = toml::from_str("allow_ips = [\"10.0.0.1\"]\nallow_tradingview = true").unwrap();
        let list = c.allowlist();
        assert_eq!(list.len(), 5);
        assert!(list.contains(&"52.32.178.7".parse().unwrap()));
        assert!(ServerConfig::default().allowlist().is_empty());
    }

    #[test]
    fn validate_refuses_empty_secret_and_zero_burst() {
        let c = ServerConfig { secret: Some(" ".into()), ..ServerConfig::default() };
        assert_eq!(c.validate().unwrap_err().key, "secret");
        let c = ServerConfig { rate_burst: 0, ..ServerConfig::default() };
        assert_eq!(c.validate().unwrap_err().key, "rate_burst");
        let c = ServerConfig { rate_burst: 0, rate_limit_per_sec: 0, ..ServerConfig::default() };
        assert!(c.validate().is_ok());
    }
}
