//! What keeps the webhook safe to expose: the peer allowlist, a global token-bucket rate limit,
//! and constant-time comparison of secrets and tokens.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use subtle::ConstantTimeEq;

/// Whether `given` equals `expected`, in time that does not depend on where they differ.
#[must_use]
pub fn secret_matches(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The peers allowed to call the webhook. Empty allows any.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(Vec<IpAddr>);

impl Allowlist {
    /// An allowlist of these addresses.
    #[must_use]
    pub fn new(mut ips: Vec<IpAddr>) -> Self {
        for ip in &mut ips {
            *ip = ip.to_canonical();
        }
        Self(ips)
    }

    /// Whether a peer may call. An IPv4 peer seen through an IPv6 socket (`::ffff:a.b.c.d`) is
    /// compared as IPv4. With a non-empty list, an unknown peer is refused.
    #[must_use]
    pub fn allows(&self, peer: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        peer.is_some_and(|ip| self.0.contains(&ip.to_canonical()))
    }
}

/// A token bucket shared by every sender: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter allowing `per_sec` on average and `burst` at once; `per_sec == 0` allows all.
    /// A burst of 0 with a rate is read as 1, so the limiter never refuses everything.
    #[must_use]
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self { rate: f64::from(per_sec), burst, bucket: Mutex::new(Bucket { tokens: burst, at: now }) }
    }

    /// Takes one token if there is one at `now`.
    pub fn try_acquire_at(&self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut b = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token if there is one now.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(10, 3, t0);
        assert!((0..3).all(|_| limiter.try_acquire_at(t0)));
        assert!(!limiter.try_acquire_at(t0), "burst spent");
        assert!(!limiter.try_acquire_at(t0 + Duration::from_millis(50)), "half a token");
        assert!(limiter.try_acquire_at(t0 + Duration::from_millis(100)), "one token after 1/rate");
        assert!(!limiter.try_acquire_at(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| limiter.try_acquire_at(later)).count(), 3, "never more than the burst");
    }

    #[test]
    fn zero_rate_is_off() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(0, 1, t0);
        assert!((0..1000).all(|_| limiter.try_acquire_at(t0)));
    }

    #[test]
    fn allowlist_empty_allows_any_and_maps_ipv4_in_ipv6() {
        assert!(Allowlist::default().allows(None));
        let list = Allowlist::new(vec!["52.89.214.238".parse().unwrap()]);
        assert!(list.allows(Some("52.89.214.238".parse().unwrap())));
        assert!(list.allows(Some("::ffff:52.89.214.238".parse().unwrap())));
        assert!(!list.allows(Some("52.89.214.239".parse().unwrap())));
        assert!(!list.allows(None), "unknown peer with a list is refused");
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cre", "s3cret"));
        assert!(!secret_matches("s3creT", "s3cret"));
        assert!(!secret_matches("", "s3cret"));
    }
}
