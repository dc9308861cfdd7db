//! The decisions of {{name}}, without the engine.

use serde_json::json;
use {{id}}::{Entry, Settings, decide_entry, exit_params};

fn signal(confidence: u32) -> serde_json::Value {
    json!({
        "id": "a-1", "type": "entry", "strategy": "{{strategy}}", "timeframe": "5m",
        "symbol": "XAUUSD", "direction": "buy", "price": "2030.5", "sl": "2025",
        "tp": ["2040", "2050"], "lot": "0.10", "confidence": confidence,
    })
}

#[test]
fn a_confident_entry_becomes_one_order_and_a_doubtful_one_is_rejected() {
    let settings = Settings::from_json(&json!({"min_confidence": 60}));
    assert_eq!(
        decide_entry(&signal(80), &settings),
        Entry::Place(json!({
            "symbol": "XAUUSD", "side": "buy", "lot": "0.10", "price": "2030.5", "sl": "2025",
            "tp": "2040", "signal_id": "a-1",
        }))
    );
    assert_eq!(decide_entry(&signal(40), &settings), Entry::Reject("confidence 40 below 60".into()));
    assert_eq!(exit_params(&signal(0)), json!({"symbol": "XAUUSD"}));
}
