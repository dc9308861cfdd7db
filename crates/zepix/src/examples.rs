//! Ready alerts for `zepix alert send --example NAME`, one set per built-in plugin.

use serde_json::{Value, json};

/// An example: its name, what it shows, and the alerts it sends in order.
pub struct Example {
    /// Name given to `--example`.
    pub name: &'static str,
    /// One line.
    pub about: &'static str,
    /// Alerts.
    pub alerts: fn() -> Vec<Value>,
}

/// Every example.
pub const EXAMPLES: &[Example] = &[
    Example {
        name: "v3-trend",
        about: "XAUUSD 15m and 1h trends bullish (lets v3-entry and v6-entry pass their trend filters)",
        alerts: || {
            vec![
                json!({"type": "trend", "symbol": "OANDA:XAUUSD", "tf": "15", "direction": "bullish"}),
                json!({"type": "trend", "symbol": "OANDA:XAUUSD", "tf": "60", "direction": "bullish"}),
            ]
        },
    },
    Example {
        name: "v3-entry",
        about: "V3_COMBINED 15m buy XAUUSD at 2350, SL 2340, TP 2370, 0.10 lots (v3_combined)",
        alerts: || {
            vec![json!({"strategy": "V3_COMBINED", "tf": "15", "ticker": "OANDA:XAUUSD", "action": "buy",
                        "price": "2350.00", "sl": "2340.00", "tp": "2370.00", "lot": "0.10"})]
        },
    },
    Example {
        name: "v3-exit",
        about: "V3_COMBINED exit: closes v3_combined's XAUUSD positions at 2355",
        alerts: || {
            vec![
                json!({"strategy": "V3_COMBINED", "tf": "15", "ticker": "OANDA:XAUUSD", "action": "close", "price": 2355}),
            ]
        },
    },
    Example {
        name: "v6-entry",
        about: "V6_PRICE_ACTION 5m buy XAUUSD at 2350 with adx 31 and confidence 82; SL/TP/risk from the plugin's 5m defaults",
        alerts: || {
            vec![json!({"strategy": "V6_PRICE_ACTION", "interval": "5", "symbol": "XAUUSD", "side": "long",
                        "price": 2350, "adx": 31, "confidence": 82})]
        },
    },
    Example {
        name: "v6-weak",
        about: "V6_PRICE_ACTION 5m buy with adx 18: rejected by the plugin's ADX filter",
        alerts: || {
            vec![json!({"strategy": "V6_PRICE_ACTION", "interval": "5", "symbol": "XAUUSD", "side": "long",
                        "price": 2350, "adx": 18, "confidence": 82})]
        },
    },
    Example {
        name: "executor-entry",
        about: "SIGNAL_EXECUTOR buy EURUSD at 1.0850, SL 30 pips, TP 1.0900, risking 1 % (signal_executor)",
        alerts: || {
            vec![json!({"strategy": "SIGNAL_EXECUTOR", "symbol": "FX:EURUSD", "side": "buy", "price": 1.0850,
                        "sl": {"pips": 30}, "tp": 1.0900, "risk_pct": 1})]
        },
    },
    Example {
        name: "executor-exit",
        about: "SIGNAL_EXECUTOR exit: closes signal_executor's EURUSD positions at 1.0860",
        alerts: || vec![json!({"strategy": "SIGNAL_EXECUTOR", "symbol": "EURUSD", "type": "exit", "price": 1.0860})],
    },
    Example {
        name: "market",
        about: "a market price update: XAUUSD at 2371 (hits v3-entry's take profit)",
        alerts: || vec![json!({"type": "market", "symbol": "XAUUSD", "price": 2371})],
    },
];

/// An example by name.
#[must_use]
pub fn find(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}
