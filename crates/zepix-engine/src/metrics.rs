//! Metrics: per-service call statistics of each plugin, and the engine's signal counters and
//! latency histograms (shared with the HTTP server through atomics).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use zepix_plugin::Service;

use crate::outcome::OutcomeStatus;

/// Calls to one service by one plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    calls: u64,
    errors: u64,
    denied: u64,
    total_ns: u64,
    max_ns: u64,
}

impl CallStats {
    /// Records one call. A risk denial is a normal answer, counted apart from errors.
    pub fn record(&mut self, took: Duration, error: bool, denied: bool) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.calls += 1;
        self.errors += u64::from(error);
        self.denied += u64::from(denied);
        self.total_ns = self.total_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// A view for status and metrics.
    #[must_use]
    pub fn view(&self) -> CallStatsView {
        let avg = if self.calls == 0 { 0.0 } else { self.total_ns as f64 / self.calls as f64 / 1e3 };
        let rate = if self.calls == 0 { 0.0 } else { self.errors as f64 / self.calls as f64 };
        CallStatsView {
            calls: self.calls,
            errors: self.errors,
            denied: self.denied,
            avg_latency_us: (avg * 10.0).round() / 10.0,
            max_latency_us: (self.max_ns as f64 / 100.0).round() / 10.0,
            error_rate: (rate * 10_000.0).round() / 10_000.0,
        }
    }
}

/// Call statistics as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallStatsView {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed (capability denied, invalid, unavailable).
    pub errors: u64,
    /// Orders the risk gate refused.
    pub denied: u64,
    /// Average latency in microseconds.
    pub avg_latency_us: f64,
    /// Largest latency in microseconds.
    pub max_latency_us: f64,
    /// errors / calls.
    pub error_rate: f64,
}

/// Per-service statistics of one plugin.
#[derive(Debug, Clone, Default)]
pub struct ServiceMetrics(BTreeMap<Service, CallStats>);

impl ServiceMetrics {
    /// The stats of one service, created on first use.
    pub fn entry(&mut self, service: Service) -> &mut CallStats {
        self.0.entry(service).or_default()
    }

    /// Views of every service called at least once.
    #[must_use]
    pub fn views(&self) -> BTreeMap<Service, CallStatsView> {
        self.0.iter().map(|(s, c)| (*s, c.view())).collect()
    }
}

/// Upper bounds of the latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 14] =
    [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 5_000_000];

/// A fixed-bucket latency histogram that many threads update.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// A snapshot of a histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_US`].
    pub cumulative: Vec<u64>,
    /// Observations.
    pub count: u64,
    /// Sum of observations in microseconds.
    pub sum_us: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BUCKETS_US.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Cumulative counts, as Prometheus wants them.
    #[must_use]
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            count: self.count.load(Ordering::Relaxed),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// Intake results at the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Stored.
    Accepted,
    /// Seen before.
    Duplicate,
    /// Malformed or stale.
    Invalid,
    /// Wrong secret.
    Unauthorized,
    /// Over the rate limit.
    RateLimited,
}

impl Intake {
    /// Every intake result.
    pub const ALL: [Self; 5] = [Self::Accepted, Self::Duplicate, Self::Invalid, Self::Unauthorized, Self::RateLimited];

    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Invalid => "invalid",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// Engine-wide counters, shared by the kernel thread and the server.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    intake: [AtomicU64; Intake::ALL.len()],
    outcomes: [AtomicU64; OutcomeStatus::ALL.len()],
    /// From receipt to durable acknowledgement.
    pub ack_latency: Histogram,
    /// From receipt to the end of processing.
    pub process_latency: Histogram,
}

impl EngineMetrics {
    /// Counts an intake result.
    pub fn count_intake(&self, what: Intake) {
        if let Some(i) = Intake::ALL.iter().position(|x| *x == what) {
            self.intake[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a processed signal's outcome.
    pub fn count_outcome(&self, status: OutcomeStatus) {
        if let Some(i) = OutcomeStatus::ALL.iter().position(|x| *x == status) {
            self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Intake counts by result.
    #[must_use]
    pub fn intake_counts(&self) -> Vec<(Intake, u64)> {
        Intake::ALL.iter().zip(&self.intake).map(|(k, v)| (*k, v.load(Ordering::Relaxed))).collect()
    }

    /// Processed signals by outcome.
    #[must_use]
    pub fn outcome_counts(&self) -> Vec<(OutcomeStatus, u64)> {
        OutcomeStatus::ALL.iter().zip(&self.outcomes).map(|(k, v)| (*k, v.load(Ordering::Relaxed))).collect()
    }

    /// Signals processed so far (every outcome).
    #[must_use]
    pub fn processed(&self) -> u64 {
        self.outcomes.iter().map(|v| v.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_stats_average_max_and_rate() {
        let mut s = CallStats::default();
        s.record(Duration::from_micros(10), false, false);
        s.record(Duration::from_micros(30), true, false);
        s.record(Duration::from_micros(20), false, true);
        let v = s.view();
        assert_eq!((v.calls, v.errors, v.denied), (3, 1, 1));
        assert!((v.avg_latency_us - 20.0).abs() < 1e-9);
        assert!((v.max_latency_us - 30.0).abs() < 1e-9);
        assert!((v.error_rate - 0.3333).abs() < 1e-9);
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(40));
        h.observe(Duration::from_micros(700));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[4], 2);
        assert_eq!(*s.cumulative.last().unwrap(), 2, "beyond the last bucket only counts in +Inf");
        assert_eq!(s.count, 3);
    }
}
