//! `GET /metrics`: the engine's counters, histograms and gauges in the Prometheus text format
//! (version 0.0.4), written by hand: the format is a few lines per family.

use std::fmt::{Display, Write as _};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use zepix_engine::metrics::{CallStatsView, Histogram, LATENCY_BUCKETS_US};
use zepix_engine::{EngineMetrics, EngineStatus, PluginStatus, TradingState};

use crate::state::AppState;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`. The counters are always there; the engine's state and the plugins only while
/// the engine answers.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let status = state.handle.status().await.ok();
    let plugins = state.handle.plugins().await.ok();
    let text = render(state.handle.metrics(), status.as_ref(), plugins.as_deref());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}

/// Renders every family.
#[must_use]
pub fn render(metrics: &EngineMetrics, status: Option<&EngineStatus>, plugins: Option<&[PluginStatus]>) -> String {
    let mut w = Writer::default();

    w.family("zepix_webhook_requests_total", "Webhook requests by result.", "counter");
    for (what, n) in metrics.intake_counts() {
        w.sample("zepix_webhook_requests_total", &[("result", what.as_str())], n);
    }
    w.family("zepix_signals_processed_total", "Signals processed by outcome.", "counter");
    for (outcome, n) in metrics.outcome_counts() {
        w.sample("zepix_signals_processed_total", &[("outcome", outcome.as_str())], n);
    }
    w.histogram(
        "zepix_ack_latency_seconds",
        "From receipt of a signal to its durable acknowledgement.",
        &metrics.ack_latency,
    );
    w.histogram(
        "zepix_process_latency_seconds",
        "From receipt of a signal to the end of its processing.",
        &metrics.process_latency,
    );

    if let Some(plugins) = plugins {
        render_plugins(&mut w, plugins);
    }
    if let Some(status) = status {
        render_status(&mut w, status);
    }
    w.out
}

fn render_plugins(w: &mut Writer, plugins: &[PluginStatus]) {
    w.family("zepix_plugin_state", "Lifecycle state of each plugin (1 for the current state).", "gauge");
    for p in plugins {
        w.sample("zepix_plugin_state", &[("plugin", p.id.as_str()), ("state", p.state.as_str())], 1);
    }
    w.family("zepix_plugin_signals_total", "Signals each plugin handled, by result.", "counter");
    for p in plugins {
        let c = &p.counters;
        let results = [
            ("delivered", c.signals),
            ("executed", c.executed),
            ("rejected", c.rejected),
            ("ignored", c.ignored),
            ("failed", c.failures),
        ];
        for (result, n) in results {
            w.sample("zepix_plugin_signals_total", &[("plugin", p.id.as_str()), ("result", result)], n);
        }
    }
    for f in SERVICE_FAMILIES {
        w.family(f.name, f.help, f.kind);
        for p in plugins {
            for (service, view) in &p.services {
                w.sample(f.name, &[("plugin", p.id.as_str()), ("service", service.as_str())], (f.value)(view));
            }
        }
    }
}

/// A per-plugin, per-service family and how to read its value from the call statistics.
struct ServiceFamily {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: fn(&CallStatsView) -> f64,
}

#[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^53 and Prometheus values are floats")]
const SERVICE_FAMILIES: [ServiceFamily; 5] = [
    ServiceFamily {
        name: "zepix_plugin_service_calls_total",
        help: "Service calls by plugin and service.",
        kind: "counter",
        value: |v| v.calls as f64,
    },
    ServiceFamily {
        name: "zepix_plugin_service_errors_total",
        help: "Failed service calls by plugin and service.",
        kind: "counter",
        value: |v| v.errors as f64,
    },
    ServiceFamily {
        name: "zepix_plugin_service_denied_total",
        help: "Orders the risk gate refused, by plugin and service.",
        kind: "counter",
        value: |v| v.denied as f64,
    },
    ServiceFamily {
        name: "zepix_plugin_service_latency_avg_seconds",
        help: "Average service call latency.",
        kind: "gauge",
        value: |v| v.avg_latency_us / 1e6,
    },
    ServiceFamily {
        name: "zepix_plugin_service_latency_max_seconds",
        help: "Largest service call latency.",
        kind: "gauge",
        value: |v| v.max_latency_us / 1e6,
    },
];

fn render_status(w: &mut Writer, status: &EngineStatus) {
    w.family("zepix_trading_state", "Trading state (1 for the current state).", "gauge");
    for s in [TradingState::Active, TradingState::Paused, TradingState::Halted] {
        w.sample("zepix_trading_state", &[("state", s.as_str())], u8::from(s == status.trading_state));
    }
    w.family("zepix_daily_loss_locked", "1 while the daily loss limit blocks new positions.", "gauge");
    w.sample("zepix_daily_loss_locked", &[], u8::from(status.daily_loss_locked));
    let account = &status.account;
    let gauges = [
        ("zepix_equity", "Balance plus unrealized P&L, in account currency.", account.equity),
        ("zepix_balance", "Starting balance plus realized P&L, in account currency.", account.balance),
        ("zepix_unrealized_pnl", "Unrealized P&L of open positions, in account currency.", account.unrealized),
        ("zepix_realized_pnl_today", "Realized P&L since the last daily reset.", status.realized_today),
    ];
    for (name, help, value) in gauges {
        w.family(name, help, "gauge");
        w.sample(name, &[], value);
    }
    w.family("zepix_open_positions", "Open positions.", "gauge");
    w.sample("zepix_open_positions", &[], status.positions.len());
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(key);
                self.out.push_str("=\"");
                escape_label(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, help, "histogram");
        let snap = histogram.snapshot();
        let bucket = format!("{name}_bucket");
        for (bound_us, n) in LATENCY_BUCKETS_US.iter().zip(&snap.cumulative) {
            let le = (*bound_us as f64 / 1e6).to_string();
            self.sample(&bucket, &[("le", &le)], n);
        }
        self.sample(&bucket, &[("le", "+Inf")], snap.count);
        self.sample(&format!("{name}_sum"), &[], snap.sum_us as f64 / 1e6);
        self.sample(&format!("{name}_count"), &[], snap.count);
    }
}

/// Label values escape `\`, `"` and line feeds, as the text format requires.
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zepix_engine::metrics::Intake;

    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut w = Writer::default();
        w.sample("m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(w.out, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn counters_and_histograms_in_text_format() {
        let m = EngineMetrics::default();
        m.count_intake(Intake::Accepted);
        m.count_intake(Intake::Accepted);
        m.count_intake(Intake::RateLimited);
        m.ack_latency.observe(Duration::from_micros(40));
        m.ack_latency.observe(Duration::from_micros(700));
        m.ack_latency.observe(Duration::from_secs(60));
        let text = render(&m, None, None);
        assert!(text.contains("# TYPE zepix_webhook_requests_total counter\n"), "{text}");
        assert!(text.contains("zepix_webhook_requests_total{result=\"accepted\"} 2\n"), "{text}");
        assert!(text.contains("zepix_webhook_requests_total{result=\"rate_limited\"} 1\n"), "{text}");
        assert!(text.contains("zepix_ack_latency_seconds_bucket{le=\"0.00005\"} 1\n"), "{text}");
        assert!(text.contains("zepix_ack_latency_seconds_bucket{le=\"0.001\"} 2\n"), "{text}");
        assert!(text.contains("zepix_ack_latency_seconds_bucket{le=\"5\"} 2\n"), "{text}");
        assert!(text.contains("zepix_ack_latency_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("zepix_ack_latency_seconds_count 3\n"), "{text}");
        assert!(text.contains("zepix_ack_latency_seconds_sum 60.00074\n"), "{text}");
        assert!(text.contains("# TYPE zepix_process_latency_seconds histogram\n"), "{text}");
        // Every sample line belongs to a family declared before it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    declared
                        .iter()
                        .any(|d| name == d || name.strip_prefix(d.as_str()).is_some_and(|s| s.starts_with('_'))),
                    "{name} has no TYPE line"
                );
            }
        }
    }
}
