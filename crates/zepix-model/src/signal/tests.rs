use super::*;
use proptest::prelude::*;
use serde_json::json;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_564_800, 0).unwrap()
}

fn parse(v: Value) -> Result<ParsedAlert, SignalError> {
    parse_alert(v.to_string().as_bytes(), at())
}

#[test]
fn tradingview_entry_with_aliases_and_strings() {
    let alert = parse(json!({
        "passphrase": "s3cret", "alert_id": "tv-1", "bot": "v3_combined", "interval": "15",
        "ticker": "OANDA:XAUUSD", "side": "long", "price": "2020.50", "stop_loss": {"pips": 25},
        "take_profit": ["2030", {"pips": 50}], "qty": "0.10", "adx": 31.5, "confidence": "80"
    }))
    .unwrap();
    let s = &alert.signal;
    assert_eq!(alert.secret.as_deref(), Some("s3cret"));
    assert_eq!(s.id.as_str(), "tv-1");
    assert_eq!(s.strategy.as_deref(), Some("V3_COMBINED"));
    assert_eq!(s.timeframe, Some(Timeframe::M15));
    assert_eq!(s.symbol.as_ref().unwrap().as_str(), "XAUUSD");
    assert_eq!(s.kind, SignalType::Entry);
    assert_eq!(s.side, Some(Side::Buy));
    assert_eq!(s.price.unwrap().to_string(), "2020.5");
    assert_eq!(s.sl, Some(Level::Pips("25".parse().unwrap())));
    assert_eq!(s.tp.len(), 2);
    assert_eq!(s.size, Some(Sizing::Lots("0.1".parse().unwrap())));
    assert_eq!(s.extra_decimal("adx"), Some(Decimal::new(315, 1)));
    assert_eq!(s.extra_decimal("confidence"), Some(Decimal::new(80, 0)));
    assert!(!s.to_canonical().to_string().contains("s3cret"), "the secret never enters the signal");
}

#[test]
fn strategy_action_sets_direction_and_type() {
    let buy = parse(json!({"symbol": "EURUSD", "action": "buy"})).unwrap().signal;
    assert_eq!((buy.kind, buy.side), (SignalType::Entry, Some(Side::Buy)));
    let close = parse(json!({"symbol": "EURUSD", "action": "close"})).unwrap().signal;
    assert_eq!(close.kind, SignalType::Exit);
    let rev = parse(json!({"symbol": "EURUSD", "action": "reverse", "direction": "short"})).unwrap().signal;
    assert_eq!((rev.kind, rev.side), (SignalType::Reversal, Some(Side::Sell)));
    let custom = parse(json!({"action": "Breakout_Watch"})).unwrap().signal;
    assert_eq!(custom.kind, SignalType::Custom("breakout_watch".into()));
}

#[test]
fn trend_signals_may_be_neutral() {
    let s = parse(json!({"type": "trend", "symbol": "XAUUSD", "tf": "1H", "direction": "neutral"})).unwrap().signal;
    assert_eq!((s.kind, s.side, s.timeframe), (SignalType::Trend, None, Some(Timeframe::H1)));
    let err = parse(json!({"type": "entry", "symbol": "XAUUSD", "direction": "flat"})).unwrap_err();
    assert_eq!(err.field, "direction");
}

#[test]
fn errors_name_field_value_and_expectation() {
    let cases = [
        (json!({"symbol": "XAUUSD", "side": "buy", "price": "abc"}), "price", Some("abc")),
        (json!({"symbol": "XAUUSD", "side": "up"}), "direction", Some("up")),
        (json!({"symbol": "XAUUSD"}), "type", None),
        (json!({"side": "buy"}), "symbol", None),
        (json!({"symbol": "XAUUSD", "side": "buy", "tf": "7x"}), "timeframe", Some("7x")),
        (json!({"symbol": "XAUUSD", "side": "buy", "sl": {"points": 3}}), "sl", Some("{\"points\":3}")),
        (json!({"symbol": "XAUUSD", "side": "buy", "risk_pct": 1}), "sl", None),
        (json!({"symbol": "XAUUSD", "side": "buy", "lot": 1, "risk_pct": 1, "sl": 1900}), "lot", Some("lot, risk_pct")),
        (json!({"symbol": "XAUUSD", "side": "buy", "price": 2000, "sl": 2010}), "sl", Some("2010")),
        (json!({"symbol": "XAUUSD", "side": "sell", "price": 2000, "tp": [1990, 2010]}), "tp[1]", Some("2010")),
        (json!({"symbol": "XAUUSD", "ticker": "EURUSD", "side": "buy"}), "symbol", Some("symbol and ticker")),
        (json!({"type": "market", "symbol": "XAUUSD"}), "price", None),
        (json!({"symbol": "XAUUSD", "side": "buy", "max_lag": -3}), "max_lag", Some("-3")),
        (json!({"symbol": "XAUUSD", "side": "buy", "timestamp": "yesterday"}), "timestamp", Some("yesterday")),
        (json!({"symbol": "XAUUSD", "side": "buy", "plugin": "Not An Id"}), "plugin_hint", Some("Not An Id")),
    ];
    for (body, field, value) in cases {
        let err = parse(body.clone()).unwrap_err();
        assert_eq!(err.field, field, "{body}");
        assert_eq!(err.value.as_deref(), value, "{body}");
        assert!(!err.expected.is_empty());
    }
}

#[test]
fn malformed_json_says_where() {
    let err = parse_alert(b"{\"secret\": \"s3cret\", \"symbol\": \"XAUUSD\" \"side\": \"buy\"}", at()).unwrap_err();
    assert_eq!(err.field, "body");
    assert!(err.expected.contains("line 1 column 41"), "{}", err.expected);
    assert!(!err.to_string().contains("s3cret"), "the body and its secret are never echoed: {err}");
    assert_eq!(err.value, None);
    assert_eq!(parse_alert(b"[1,2]", at()).unwrap_err().field, "body");
    let err = parse_alert(br#"{"secret": ["s3cret"], "symbol": "XAUUSD", "side": "buy"}"#, at()).unwrap_err();
    assert_eq!((err.field.as_str(), err.value.as_deref()), ("secret", Some("<redacted>")));
}

#[test]
fn null_and_empty_optional_fields_are_absent() {
    let s = parse(json!({"symbol": "XAUUSD", "side": "buy", "sl": null, "tp": ""})).unwrap().signal;
    assert!(s.sl.is_none() && s.tp.is_empty());
}

#[test]
fn derived_ids_are_stable_within_the_minute() {
    let body = json!({"symbol": "XAUUSD", "side": "buy"});
    let a = parse(body.clone()).unwrap().signal.id;
    let b = parse_alert(body.to_string().as_bytes(), at() + chrono::Duration::seconds(59)).unwrap().signal.id;
    let c = parse_alert(body.to_string().as_bytes(), at() + chrono::Duration::seconds(61)).unwrap().signal.id;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.as_str().starts_with("h-"));
    let with_ts = json!({"symbol": "XAUUSD", "side": "buy", "timestamp": "2024-05-01T12:00:00Z"});
    let d = parse(with_ts.clone()).unwrap().signal.id;
    let e = parse_alert(with_ts.to_string().as_bytes(), at() + chrono::Duration::hours(5)).unwrap().signal.id;
    assert_eq!(d, e, "with a timestamp the id depends on the body only");
}

#[test]
fn staleness() {
    let s =
        parse(json!({"symbol": "XAUUSD", "side": "buy", "timestamp": 1_714_564_800, "max_lag": 30})).unwrap().signal;
    assert_eq!(s.stale_by(at() + chrono::Duration::seconds(30)), None);
    assert_eq!(s.stale_by(at() + chrono::Duration::seconds(31)), Some(31));
    let ms = parse(json!({"symbol": "XAUUSD", "side": "buy", "timestamp": "1714564800000"})).unwrap().signal;
    assert_eq!(ms.timestamp, Some(at()));
}

fn arb_signal() -> impl Strategy<Value = Signal> {
    let level = prop_oneof![
        (1i64..10_000_000, 0u32..5).prop_map(|(m, s)| Level::Price(Price::new(Decimal::new(m, s)).unwrap())),
        (1i64..100_000, 0u32..2).prop_map(|(m, s)| Level::Pips(Pips::new(Decimal::new(m, s)).unwrap())),
    ];
    let kind = prop_oneof![
        Just(SignalType::Exit),
        Just(SignalType::Trend),
        Just(SignalType::Market),
        "[a-z][a-z0-9_]{0,10}".prop_filter_map("reserved", |t| match t.parse::<SignalType>() {
            Ok(k @ SignalType::Custom(_)) => Some(k),
            _ => None,
        }),
    ];
    (
        "[A-Za-z0-9_.-]{1,40}",
        proptest::option::of("[A-Z][A-Z0-9_]{0,20}"),
        proptest::option::of(1u32..10_080),
        prop_oneof![Just("XAUUSD"), Just("EURUSD"), Just("BTCUSDT.P")],
        kind,
        proptest::option::of(prop_oneof![Just(Side::Buy), Just(Side::Sell)]),
        (1i64..10_000_000, 0u32..5),
        (proptest::option::of(level.clone()), proptest::collection::vec(level, 0..3)),
        proptest::option::of((1i64..1_000_000, 0u32..3)),
        proptest::option::of(0i64..2_000_000_000),
        proptest::option::of(1u64..86_400),
        proptest::collection::btree_map("[a-z]{3,8}", -1000i64..1000, 0..3),
    )
        .prop_map(|(id, strategy, tf, sym, kind, side, price, (sl, tp), lot, ts, lag, extra)| Signal {
            id: SignalId::new(id).unwrap(),
            strategy,
            timeframe: tf.map(|m| Timeframe::from_minutes(m).unwrap()),
            symbol: Some(Symbol::new(sym).unwrap()),
            kind,
            side,
            price: Some(Price::new(Decimal::new(price.0, price.1)).unwrap()),
            sl,
            tp,
            size: lot.map(|(m, s)| Sizing::Lots(Lots::new(Decimal::new(m, s)).unwrap())),
            plugin_hint: None,
            timestamp: ts.map(|t| DateTime::from_timestamp(t, 0).unwrap()),
            max_lag: lag,
            extra: extra.into_iter().map(|(k, v)| (format!("x_{k}"), Value::from(v))).collect(),
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_alert(&bytes, at());
    }

    #[test]
    fn arbitrary_json_objects_never_panic(map in proptest::collection::btree_map(
        prop_oneof![Just("symbol".to_string()), Just("side".to_string()), Just("sl".to_string()), Just("tp".to_string()),
                    Just("type".to_string()), Just("lot".to_string()), Just("timestamp".to_string()), "[a-z]{1,6}"],
        prop_oneof![any::<i64>().prop_map(Value::from), any::<f64>().prop_map(Value::from), ".{0,12}".prop_map(Value::from),
                    Just(json!({"pips": "x"})), Just(json!([1, "2", null]))],
        0..8)) {
        let body = Value::Object(map.into_iter().collect()).to_string();
        let _ = parse_alert(body.as_bytes(), at());
    }

    #[test]
    fn canonical_form_round_trips(signal in arb_signal()) {
        let mut signal = signal;
        if signal.kind == SignalType::Trend && signal.timeframe.is_none() {
            signal.timeframe = Some(Timeframe::H1);
        }
        let text = signal.to_canonical().to_string();
        let back = parse_alert(text.as_bytes(), at()).unwrap().signal;
        prop_assert_eq!(&back, &signal);
        let stored: Signal = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(stored, signal);
    }
}
