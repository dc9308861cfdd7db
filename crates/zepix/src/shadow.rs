//! `zepix shadow report`, `zepix plugin promote` and `zepix plugin shadow`: shadow mode from the
//! command line, through a running engine's API.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::client::Client;
use crate::commands::{engine_addr, load_config, text};

/// `zepix shadow report`.
pub async fn report(config: Option<PathBuf>, url: Option<String>, json: bool) -> Result<ExitCode> {
    let config = load_config(config)?;
    let addr = engine_addr(&config, url)?;
    let mut client = Client::connect(addr).await?;
    let report = client.get_json("/api/shadow/report", config.server.api_token.as_deref()).await?;
    if json {
        crate::say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::say_part!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn rows(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// The report as tables.
fn render(report: &Value) -> String {
    let mut out = String::new();
    let plugins = rows(&report["plugins"]);
    if plugins.is_empty() {
        out.push_str("no shadow results yet: run the engine with [engine] mode = \"HYBRID\" and a plugin in shadow\n");
        return out;
    }
    out.push_str(&format!(
        "{:<22} {:<7} {:>6} {:>8} {:>12} {:>12} {:>5}  decisions\n",
        "plugin", "book", "trades", "win %", "net P&L", "max DD", "open"
    ));
    for p in &plugins {
        let decisions: Vec<String> =
            p["decisions"].as_object().map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect()).unwrap_or_default();
        out.push_str(&format!(
            "{:<22} {:<7} {:>6} {:>8} {:>12} {:>12} {:>5}  {}\n",
            text(&p["plugin"]),
            text(&p["book"]),
            text(&p["trades"]),
            text(&p["win_rate"]),
            text(&p["net_pnl"]),
            text(&p["max_drawdown"]),
            text(&p["open_positions"]),
            decisions.join(", ")
        ));
    }
    let comparisons = rows(&report["comparisons"]);
    if !comparisons.is_empty() {
        out.push_str("\nshadow against live on the same signals:\n");
        for c in &comparisons {
            out.push_str(&format!(
                "  {} vs {}: {} signals, agreed on {} ({}%), both filled {}, mean fill difference {}\n",
                text(&c["shadow"]),
                text(&c["live"]),
                text(&c["signals"]),
                text(&c["agreed"]),
                text(&c["agreement"]),
                text(&c["both_filled"]),
                text(&c["mean_fill_difference"])
            ));
        }
    }
    let signals = rows(&report["signals"]);
    if !signals.is_empty() {
        out.push_str("\nrecent signals (newest first):\n");
        let decision = |d: &Value| {
            let fill = d["fill"].as_str().map(|f| format!(" @ {f}")).unwrap_or_default();
            let code = d["code"].as_str().map(|c| format!(" ({c})")).unwrap_or_default();
            format!("{} {}{code}{fill}", text(&d["plugin"]), text(&d["status"]))
        };
        for s in &signals {
            let live = if s["live"].is_null() { "no live plugin".to_owned() } else { decision(&s["live"]) };
            let shadow: Vec<String> = rows(&s["shadow"]).iter().map(decision).collect();
            out.push_str(&format!(
                "  {:<28} live: {:<32} shadow: {}\n",
                text(&s["signal_id"]),
                live,
                shadow.join("; ")
            ));
        }
    }
    out
}

/// `zepix plugin promote ID` (`to_live`) and `zepix plugin shadow ID`.
pub async fn set_mode(
    config: Option<PathBuf>,
    id: &str,
    url: Option<String>,
    to_live: bool,
    yes: bool,
) -> Result<ExitCode> {
    let config = load_config(config)?;
    let addr = engine_addr(&config, url)?;
    let token = config.server.api_token.as_deref();
    let mut client = Client::connect(addr).await?;
    if to_live && !yes && !confirm(id)? {
        crate::say!("{id} stays in shadow");
        return Ok(ExitCode::FAILURE);
    }
    let path = format!("/api/plugins/{id}/{}", if to_live { "promote" } else { "shadow" });
    let (status, body) = client.send(Method::POST, &path, Bytes::new(), token).await?;
    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
    if status == StatusCode::OK {
        let next = if to_live { "the venue" } else { "its virtual book" };
        crate::say!("{id} is {}: its next orders go to {next}", text(&answer["mode"]));
        Ok(ExitCode::SUCCESS)
    } else {
        let why = answer["error"].as_str().map_or_else(|| String::from_utf8_lossy(&body).into_owned(), str::to_owned);
        eprintln!("{path} failed ({status}): {why}");
        Ok(ExitCode::FAILURE)
    }
}

fn confirm(id: &str) -> Result<bool> {
    crate::say_part!("Promote {id} to live? Its next orders go to the engine's venue, not its virtual book. [y/N] ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the answer")?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_books_comparisons_and_signals() {
        let report = json!({
            "plugins": [
                {"plugin": "signal_executor", "book": "live", "trades": 2, "win_rate": "50.0", "net_pnl": "-3.50",
                 "max_drawdown": "8.00", "open_positions": 0, "decisions": {"executed": 2}},
                {"plugin": "candidate", "book": "shadow", "trades": 1, "win_rate": "100.0", "net_pnl": "4.50",
                 "max_drawdown": "0", "open_positions": 1, "decisions": {"executed": 1, "rejected": 1}}
            ],
            "comparisons": [{"shadow": "candidate", "live": "signal_executor", "signals": 2, "agreed": 1,
                             "agreement": "50.0", "both_filled": 1, "mean_fill_difference": "0.0002"}],
            "signals": [{"signal_id": "s2", "live": {"plugin": "signal_executor", "status": "executed", "fill": "1.1"},
                         "shadow": [{"plugin": "candidate", "status": "rejected", "code": "plugin_rejected"}]}]
        });
        let text = render(&report);
        assert!(text.contains("candidate              shadow       1    100.0"), "{text}");
        assert!(text.contains("executed 1, rejected 1"), "{text}");
        assert!(text.contains("candidate vs signal_executor: 2 signals, agreed on 1 (50.0%)"), "{text}");
        assert!(text.contains("signal_executor executed @ 1.1"), "{text}");
        assert!(text.contains("shadow: candidate rejected (plugin_rejected)"), "{text}");
    }

    #[test]
    fn an_empty_report_says_how_to_get_one() {
        assert!(render(&json!({"plugins": [], "comparisons": [], "signals": []})).contains("HYBRID"));
    }
}
