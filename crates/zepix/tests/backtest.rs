//! `zepix backtest` as a trader runs it: the real binary on a generated file, checked against a
//! straightforward computation of the same strategy written here, from the file's text.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::path::Path;
use std::process::{Command, Output};

use rust_decimal::Decimal;
use serde_json::Value;

fn zepix(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zepix")).args(args).current_dir(dir).env("ZEPIX_LOG", "error").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A fixed file: 20,000 one-minute bars of a seeded random walk.
fn generated(dir: &Path) -> std::path::PathBuf {
    let start = "2024-01-01T00:00:00Z".parse().unwrap();
    let bars = zepix_data::generate(20_000, 7, start);
    let file = dir.join("bars.csv");
    zepix_data::write_all(&file, &bars).unwrap();
    file
}

/// (time, open, close) of every row, read from the CSV text.
fn rows(file: &Path) -> Vec<(String, Decimal, Decimal)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[1].parse().unwrap(), f[4].parse().unwrap())
        })
        .collect()
}

/// Bollinger(20, 2.0) long only as a trader would write it in a spreadsheet: the mean and the
/// population deviation of the last 20 closes recomputed from scratch on every bar; buy one unit
/// below the lower band, sell above the middle. Fills at the signal bar's close, or at the next
/// bar's open. Returns (closed trades, their P&L).
fn reference(rows: &[(String, Decimal, Decimal)], next_open: bool) -> (usize, Decimal) {
    let closes: Vec<f64> = rows.iter().map(|r| r.2.to_string().parse().unwrap()).collect();
    let mut entry: Option<Decimal> = None;
    let mut pending: Option<bool> = None; // Some(true) = buy at the next open, Some(false) = sell
    let (mut trades, mut pnl) = (0, Decimal::ZERO);
    for i in 0..rows.len() {
        if let Some(buy) = pending.take() {
            let open = rows[i].1;
            if buy {
                entry = Some(open);
            } else {
                pnl += open - entry.take().unwrap();
                trades += 1;
            }
        }
        if i + 1 < 20 {
            continue;
        }
        let window = &closes[i + 1 - 20..=i];
        let mean = window.iter().sum::<f64>() / 20.0;
        let sd = (window.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 20.0).sqrt();
        let close = closes[i];
        let holding = entry.is_some() || pending == Some(true);
        let (buy, sell) = (!holding && close < mean - 2.0 * sd, holding && close > mean);
        if !(buy || sell) {
            continue;
        }
        if next_open {
            pending = Some(buy);
        } else if buy {
            entry = Some(rows[i].2);
        } else {
            pnl += rows[i].2 - entry.take().unwrap();
            trades += 1;
        }
    }
    (trades, pnl)
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn bollinger_matches_a_reference_computation_and_reruns_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let file = generated(tmp.path());
    let rows = rows(&file);
    for (fill, next_open) in [("close", false), ("next-open", true)] {
        let out = zepix(
            tmp.path(),
            &["backtest", "--data", "bars.csv", "--plugin", "bollinger", "--fill", fill, "--report", fill],
        );
        assert!(out.status.success(), "{}", text(&out));
        let (trades, pnl) = reference(&rows, next_open);
        assert!(trades > 50, "the file should make the strategy trade: {trades}");
        let got = report(&tmp.path().join(fill));
        assert_eq!(got["metrics"]["trades"], trades as u64, "{fill}: trade count");
        let net: Decimal = got["metrics"]["net_pnl"].as_str().unwrap().parse().unwrap();
        assert_eq!(net.round_dp(2), pnl.round_dp(2), "{fill}: net P&L to the cent");
        let html = std::fs::read_to_string(tmp.path().join(fill).join("index.html")).unwrap();
        assert!(html.contains("<svg"), "the page draws the equity curve");
        assert!(text(&out).contains("bars/s"), "progress and speed are shown: {}", text(&out));
    }
    let again = zepix(tmp.path(), &["backtest", "--data", "bars.csv", "--plugin", "bollinger", "--report", "again"]);
    assert!(again.status.success(), "{}", text(&again));
    for name in ["report.json", "index.html"] {
        let first = std::fs::read(tmp.path().join("close").join(name)).unwrap();
        let second = std::fs::read(tmp.path().join("again").join(name)).unwrap();
        assert!(first == second, "{name} differs between two runs of the same inputs");
    }
}

#[test]
fn settings_and_time_bounds_change_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    generated(tmp.path());
    let base = ["backtest", "--data", "bars.csv", "--plugin", "bollinger"];
    let run = |extra: &[&str], dir: &str| {
        let args: Vec<&str> = base.iter().chain(extra).chain(&["--report", dir]).copied().collect();
        let out = zepix(tmp.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        report(&tmp.path().join(dir))
    };
    let wide = run(&["--set", "k=3"], "wide");
    let normal = run(&[], "normal");
    assert_eq!(wide["run"]["settings"]["k"], 3, "{}", wide["run"]);
    assert!(wide["metrics"]["trades"].as_u64() < normal["metrics"]["trades"].as_u64());
    let part = run(&["--from", "2024-01-05T00:00:00Z", "--to", "2024-01-06T00:00:00Z"], "day");
    assert_eq!(part["run"]["bars"], 1440);
}

#[test]
fn a_sweep_prints_every_combination_sorted_by_the_metric() {
    let tmp = tempfile::tempdir().unwrap();
    generated(tmp.path());
    let out = zepix(
        tmp.path(),
        &[
            "backtest",
            "--data",
            "bars.csv",
            "--plugin",
            "bollinger",
            "--sweep",
            "period=10..30:10",
            "--sweep",
            "k=1.5,2.5",
            "--sort",
            "trades",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let body: Vec<&str> = table.lines().filter(|l| l.contains("period")).collect();
    assert!(!body.is_empty(), "{table}");
    for period in ["10", "20", "30"] {
        for k in ["1.5", "2.5"] {
            assert!(table.contains(period) && table.contains(k), "{period} {k} missing:\n{table}");
        }
    }
}

#[test]
fn bad_input_is_refused_with_what_was_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    generated(tmp.path());
    std::fs::write(tmp.path().join("broken.csv"), "timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,3\n2024-01-01T00:01:00Z,1,x,0.5,1.5,3\n").unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--data", "broken.csv", "--plugin", "bollinger"], "broken.csv:3: column high"),
        (&["--data", "missing.csv", "--plugin", "bollinger"], "missing.csv"),
        (&["--data", "bars.csv", "--plugin", "ghost"], "no plugin `ghost`"),
        (&["--data", "bars.csv", "--plugin", "signal_executor"], "not a strategy plugin"),
        (&["--data", "bars.csv", "--plugin", "bollinger", "--set", "period"], "expected KEY=VALUE"),
        (&["--data", "bars.csv", "--plugin", "bollinger", "--set", "period=1"], "period"),
        (&["--data", "bars.csv", "--plugin", "bollinger", "--sweep", "period=30..10:5"], "--sweep"),
    ];
    for (args, needle) in cases {
        let all: Vec<&str> = ["backtest"].iter().chain(args).copied().collect();
        let out = zepix(tmp.path(), &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: `{needle}` not in {}", text(&out));
    }
}

#[test]
fn a_bad_row_deep_in_the_file_stops_the_run_naming_its_line_and_writes_no_report() {
    let tmp = tempfile::tempdir().unwrap();
    let file = generated(tmp.path());
    // The bars are replayed while the file is read: this row comes long after the first bars ran.
    let mut rows = std::fs::read_to_string(&file).unwrap();
    rows.push_str("2030-01-01T00:00:00Z,1,x,0.5,1.5,3\n");
    std::fs::write(tmp.path().join("late.csv"), rows).unwrap();
    let out = zepix(tmp.path(), &["backtest", "--data", "late.csv", "--plugin", "bollinger", "--report", "rep"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("late.csv:20002: column high"), "{}", text(&out));
    assert!(!tmp.path().join("rep").exists());
    assert!(!tmp.path().join("late.csv.zbars").exists(), "no cache of a bad file");
}

#[test]
fn the_python_strategy_trades_exactly_as_the_built_in_one() {
    let tmp = tempfile::tempdir().unwrap();
    generated(tmp.path());
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/bollinger_py");
    let plugin = plugin.to_str().unwrap();
    for (name, id) in [("py", plugin), ("native", "bollinger")] {
        let out = zepix(tmp.path(), &["backtest", "--data", "bars.csv", "--plugin", id, "--report", name]);
        assert!(out.status.success(), "{name}: {}", text(&out));
    }
    let (py, native) = (report(&tmp.path().join("py")), report(&tmp.path().join("native")));
    assert_eq!(py["run"]["plugin"], "bollinger_py");
    assert!(native["metrics"]["trades"].as_u64().unwrap() > 50);
    assert_eq!(py["metrics"]["trades"], native["metrics"]["trades"]);
    assert_eq!(py["metrics"]["net_pnl"], native["metrics"]["net_pnl"]);
    let prices = |r: &Value| -> Vec<Value> {
        r["trades"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| serde_json::json!([t["position"]["entry_price"], t["exit_price"]]))
            .collect()
    };
    assert_eq!(prices(&py), prices(&native), "the same entries and exits");
}

#[test]
fn recorded_alerts_replay_against_the_bars_for_their_stops_and_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let file = generated(tmp.path());
    let bars = zepix_data::load(&file).unwrap();
    let entry = bars[100].close.value();
    let (sl, tp) = (entry - Decimal::from(2), entry + Decimal::from(2));
    let at = (bars[100].time + chrono::Duration::seconds(30)).to_rfc3339();
    let alert = serde_json::json!({"id": "rec-1", "strategy": "SIGNAL_EXECUTOR", "symbol": "BTCUSDT", "side": "buy",
        "price": entry.to_string(), "sl": sl.to_string(), "tp": tp.to_string(), "lot": 1, "timestamp": at});
    std::fs::write(tmp.path().join("alerts.jsonl"), format!("{alert}\n")).unwrap();
    // Where the bars take it: the first later bar reaching a level; the stop first when both.
    let (exit, reason) = bars[101..]
        .iter()
        .find_map(|b| {
            if b.open.value() <= sl {
                Some((b.open.value(), "stop_loss"))
            } else if b.low.value() <= sl {
                Some((sl, "stop_loss"))
            } else if b.high.value() >= tp {
                Some((tp, "take_profit"))
            } else {
                None
            }
        })
        .unwrap();
    let out = zepix(
        tmp.path(),
        &[
            "backtest",
            "--data",
            "bars.csv",
            "--plugin",
            "signal_executor",
            "--signals",
            "alerts.jsonl",
            "--report",
            "rec",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let got = report(&tmp.path().join("rec"));
    assert_eq!(got["metrics"]["trades"], 1, "{}", got["trades"]);
    let trade = &got["trades"][0];
    assert_eq!(trade["reason"], reason);
    let exit_price: Decimal = trade["exit_price"].as_str().unwrap().parse().unwrap();
    assert_eq!(exit_price, exit);
    let pnl: Decimal = trade["pnl"].as_str().unwrap().parse().unwrap();
    assert_eq!(pnl, exit - entry);

    let out = zepix(tmp.path(), &["backtest", "--data", "bars.csv", "--plugin", "signal_executor"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("--signals FILE"), "{}", text(&out));
}
