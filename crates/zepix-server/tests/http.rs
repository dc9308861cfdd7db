//! The server as a user sees it: requests through the router over a running test engine, and one
//! run over a real socket.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a failure is a failed test")]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use zepix_engine::testkit::{ScriptedPlugin, TestEngine, manifest, slot};
use zepix_model::TestClock;
use zepix_server::{AppState, ServerConfig, router, serve};

fn start() -> DateTime<Utc> {
    "2026-03-02T10:00:00Z".parse().unwrap()
}

struct Harness {
    engine: TestEngine,
    app: Router,
}

impl Harness {
    fn new(config: ServerConfig) -> Self {
        let clock = TestClock::new(start());
        let plugin = slot(manifest("exec", "EXEC", &[]), Box::new(ScriptedPlugin::executor()));
        let engine = TestEngine::start(Arc::new(clock), vec![plugin]);
        let app = router(AppState::new(engine.handle.clone(), config));
        Self { engine, app }
    }

    fn open() -> Self {
        Self::new(ServerConfig::default())
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, text) = self.send_text(request).await;
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, value)
    }

    async fn send_text(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Request::post(uri).body(Body::empty()).unwrap()).await
    }

    async fn alert(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(webhook(uri, body.to_string())).await
    }

    async fn drain(&self) {
        self.engine.handle.drain().await.unwrap();
    }
}

/// A webhook request as TradingView sends it: `text/plain`, no other headers.
fn webhook(uri: &str, body: impl Into<String>) -> Request<Body> {
    Request::post(uri).header(header::CONTENT_TYPE, "text/plain; charset=utf-8").body(Body::from(body.into())).unwrap()
}

fn entry(id: &str) -> Value {
    json!({"id": id, "strategy": "EXEC", "symbol": "OANDA:XAUUSD", "side": "buy", "price": 2000, "sl": 1990, "tp": 2020, "lot": 0.1})
}

fn with(mut alert: Value, key: &str, value: Value) -> Value {
    alert.as_object_mut().unwrap().insert(key.to_owned(), value);
    alert
}

fn from_peer(mut request: Request<Body>, peer: &str) -> Request<Body> {
    let addr: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

fn secured() -> ServerConfig {
    ServerConfig { secret: Some("s3cret".into()), ..ServerConfig::default() }
}

#[tokio::test]
async fn accepted_then_duplicate_stores_once_and_trades_once() {
    let h = Harness::open();
    let (status, body) = h.alert("/webhook", &entry("a1")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "accepted", "signal_id": "a1"})));
    let (status, body) = h.alert("/webhook", &entry("a1")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "duplicate", "signal_id": "a1"})));
    h.drain().await;

    let stored = h.engine.store.signals();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].signal.id.as_str(), "a1");
    let (status, body) = h.get("/api/positions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["positions"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["positions"][0]["entry_price"], "2000");
    assert_eq!(body["account"]["balance"], "10000");
}

#[tokio::test]
async fn json_without_a_content_type_is_read_by_content() {
    let h = Harness::open();
    let request = Request::post("/webhook").body(Body::from(entry("n1").to_string())).unwrap();
    let (status, body) = h.send(request).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("accepted")));
}

#[tokio::test]
async fn wrong_or_missing_secret_is_401_and_stores_nothing() {
    let h = Harness::new(secured());
    let (status, body) = h.alert("/webhook", &with(entry("s1"), "secret", json!("nope"))).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"error": "bad or missing secret"})));
    let (status, _) = h.alert("/webhook", &entry("s1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.alert("/webhook", &with(entry("s1"), "passphrase", json!("s3cre"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a prefix of the secret is not the secret");
    h.drain().await;
    assert!(h.engine.store.signals().is_empty());
    let (_, text) = h.send_text(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(text.contains("zepix_webhook_requests_total{result=\"unauthorized\"} 3\n"), "{text}");

    // The same id with the right secret is new: the refused ones left no trace.
    let (status, body) = h.alert("/webhook", &with(entry("s1"), "secret", json!("s3cret"))).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("accepted")));
}

#[tokio::test]
async fn secret_in_the_path_works_and_a_wrong_one_does_not() {
    let h = Harness::new(secured());
    let (status, body) = h.alert("/webhook/s3cret", &entry("p1")).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("accepted")));
    let (status, _) = h.alert("/webhook/s3cret-not", &entry("p2")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.drain().await;
    let ids: Vec<String> = h.engine.store.signals().iter().map(|r| r.signal.id.to_string()).collect();
    assert_eq!(ids, ["p1"]);
}

#[tokio::test]
async fn malformed_json_names_the_body_and_where_it_broke() {
    let h = Harness::open();
    // The classic: a missing comma in TradingView's alert box.
    let (status, body) = h.send(webhook("/webhook", r#"{"strategy": "EXEC" "symbol": "XAUUSD"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "body");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("line 1 column 21"), "{error}");
    let (_, text) = h.send_text(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(text.contains("zepix_webhook_requests_total{result=\"invalid\"} 1\n"), "{text}");
}

#[tokio::test]
async fn a_bad_field_is_named_with_its_value_and_what_was_expected() {
    let h = Harness::open();
    let (status, body) = h.alert("/webhook", &with(entry("f1"), "tf", json!("soon"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "timeframe");
    assert_eq!(body["value"], "soon");
    assert!(body["expected"].as_str().unwrap().contains("1h"), "{body}");
    assert!(body["error"].as_str().unwrap().contains("timeframe"), "{body}");
    h.drain().await;
    assert!(h.engine.store.signals().is_empty());
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let h = Harness::new(ServerConfig { body_limit_bytes: 64, ..ServerConfig::default() });
    let big = with(entry("big"), "note", json!("x".repeat(100))).to_string();
    // Streamed with no Content-Length: the reader stops at the limit.
    let (status, body) = h.send(webhook("/webhook", big.clone())).await;
    assert_eq!((status, body), (StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body over 64 bytes"})));
    // Declared up front: refused before reading.
    let mut request = webhook("/webhook", big.clone());
    request.headers_mut().insert(header::CONTENT_LENGTH, big.len().into());
    let (status, _) = h.send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // At the limit is fine.
    let small = r#"{"id":"s","strategy":"EXEC","symbol":"XAUUSD","side":"buy"}"#;
    assert!(small.len() <= 64);
    let (status, body) = h.send(webhook("/webhook", small)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn over_the_burst_is_429() {
    // One token a second: the bucket cannot refill within this test's few milliseconds.
    let h = Harness::new(ServerConfig { rate_limit_per_sec: 1, rate_burst: 2, ..ServerConfig::default() });
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(h.alert("/webhook", &entry(&format!("r{i}"))).await.0);
    }
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS]
    );
    let response = h.app.clone().oneshot(webhook("/webhook", entry("r9").to_string())).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    h.drain().await;
    assert_eq!(h.engine.store.signals().len(), 2);
    let (_, text) = h.send_text(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(text.contains("zepix_webhook_requests_total{result=\"rate_limited\"} 3\n"), "{text}");
}

#[tokio::test]
async fn peers_outside_the_allowlist_are_403() {
    let config = ServerConfig {
        allow_ips: vec!["10.0.0.1".parse().unwrap()],
        allow_tradingview: true,
        ..ServerConfig::default()
    };
    let h = Harness::new(config);
    let request = from_peer(webhook("/webhook", entry("i1").to_string()), "192.0.2.7:40000");
    let (status, body) = h.send(request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = h.send(webhook("/webhook", entry("i1").to_string())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an unknown peer is refused when a list is set");

    let request = from_peer(webhook("/webhook", entry("i1").to_string()), "10.0.0.1:40000");
    assert_eq!(h.send(request).await.0, StatusCode::OK);
    // TradingView's address, as an IPv6 socket sees it.
    let request = from_peer(webhook("/webhook", entry("i2").to_string()), "[::ffff:52.89.214.238]:443");
    assert_eq!(h.send(request).await.0, StatusCode::OK);
    h.drain().await;
    assert_eq!(h.engine.store.signals().len(), 2);
}

#[tokio::test]
async fn a_stale_alert_is_400_on_timestamp() {
    let h = Harness::open();
    let old = (start() - chrono::Duration::seconds(120)).to_rfc3339();
    let alert = with(with(entry("old"), "timestamp", json!(old)), "max_lag", json!(60));
    let (status, body) = h.alert("/webhook", &alert).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "timestamp");
    assert!(body["error"].as_str().unwrap().contains("120 s old"), "{body}");
    let fresh = with(with(entry("new"), "timestamp", json!(start().to_rfc3339())), "max_lag", json!(60));
    assert_eq!(h.alert("/webhook", &fresh).await.0, StatusCode::OK);
    h.drain().await;
    assert_eq!(h.engine.store.signals().len(), 1);
}

#[tokio::test]
async fn plugins_list_disable_enable_and_unknown() {
    let h = Harness::open();
    let (status, body) = h.get("/api/plugins").await;
    assert_eq!(status, StatusCode::OK);
    let plugins = body["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1);
    assert_eq!((plugins[0]["id"].as_str(), plugins[0]["state"].as_str()), (Some("exec"), Some("running")));

    let (status, body) = h.post("/api/plugins/exec/disable").await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("disabled")));
    assert_eq!(h.get("/api/plugins/exec").await.1["state"], "disabled");
    let (status, body) = h.post("/api/plugins/exec/disable").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("disabled"), "{body}");

    let (status, body) = h.post("/api/plugins/exec/enable").await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("running")));
    assert_eq!(h.get("/api/plugins/exec").await.1["state"], "running");

    let (status, body) = h.get("/api/plugins/nope").await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"error": "no plugin `nope`"})));
    assert_eq!(h.post("/api/plugins/nope/enable").await.0, StatusCode::NOT_FOUND);
    let (status, body) = h.get("/api/plugins/Bad-Id").await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("plugin_id")));
}

#[tokio::test]
async fn a_signal_shows_its_outcome_once_processed() {
    let h = Harness::open();
    let (status, body) = h.get("/api/signals/o1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no processed signal o1 (one accepted moments ago may still be processing)");
    h.alert("/webhook", &entry("o1")).await;
    h.drain().await;
    let (status, body) = h.get("/api/signals/o1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"]["status"], "executed");
    assert_eq!(body["outcome"]["plugin"], "exec");
    assert_eq!(body["source"], "webhook");

    let (status, body) = h.get("/api/signals").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["signals"][0]["signal"]["id"], "o1", "{body}");
}

#[tokio::test]
async fn lists_take_a_bounded_limit() {
    let h = Harness::open();
    for i in 0..3 {
        h.alert("/webhook", &entry(&format!("l{i}"))).await;
    }
    h.drain().await;
    let (status, body) = h.get("/api/orders?limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["orders"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(h.get("/api/orders").await.1["orders"].as_array().unwrap().len(), 3);
    assert_eq!(h.get("/api/signals?limit=1000").await.1["signals"].as_array().unwrap().len(), 3);
    for bad in ["0", "1001", "ten"] {
        let (status, body) = h.get(&format!("/api/signals?limit={bad}")).await;
        assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")), "{bad}");
    }
    let (status, body) = h.get("/api/events?limit=5").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body["events"].as_array().unwrap().is_empty(), "{body}");
    let (status, body) = h.get("/api/trades").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"trades": []})));
}

#[tokio::test]
async fn metrics_show_the_accepted_counter_and_histograms() {
    let h = Harness::open();
    h.alert("/webhook", &entry("m1")).await;
    h.drain().await;
    let response = h.app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("zepix_webhook_requests_total{result=\"accepted\"} 1\n"), "{text}");
    assert!(text.contains("# TYPE zepix_ack_latency_seconds histogram\n"), "{text}");
    assert!(text.contains("zepix_ack_latency_seconds_bucket{le=\"+Inf\"} 1\n"), "{text}");
    assert!(text.contains("zepix_ack_latency_seconds_count 1\n"), "{text}");
    assert!(text.contains("zepix_plugin_state{plugin=\"exec\",state=\"running\"} 1\n"), "{text}");
    assert!(text.contains("zepix_plugin_signals_total{plugin=\"exec\",result=\"executed\"} 1\n"), "{text}");
    assert!(text.contains("zepix_plugin_service_calls_total{plugin=\"exec\",service=\"orders\"} 1\n"), "{text}");
    assert!(text.contains("zepix_trading_state{state=\"active\"} 1\n"), "{text}");
    assert!(text.contains("zepix_trading_state{state=\"halted\"} 0\n"), "{text}");
    assert!(text.contains("zepix_open_positions 1\n"), "{text}");
    assert!(text.contains("zepix_balance 10000\n"), "{text}");
}

#[tokio::test]
async fn api_token_is_required_when_set() {
    let h = Harness::new(ServerConfig { api_token: Some("tok".into()), ..ServerConfig::default() });
    let (status, body) = h.get("/api/status").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].as_str().unwrap().contains("API token"), "{body}");
    let wrong = Request::get("/api/status").header(header::AUTHORIZATION, "Bearer tok2").body(Body::empty()).unwrap();
    assert_eq!(h.send(wrong).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = h.post("/api/trading/halted").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "commands are guarded too");

    let no_scheme = Request::get("/api/status").header(header::AUTHORIZATION, "tok").body(Body::empty()).unwrap();
    assert_eq!(h.send(no_scheme).await.0, StatusCode::UNAUTHORIZED);

    let right = Request::get("/api/status").header(header::AUTHORIZATION, "bearer tok").body(Body::empty()).unwrap();
    let (status, body) = h.send(right).await;
    assert_eq!((status, body["trading_state"].as_str()), (StatusCode::OK, Some("active")));
    // The webhook and health are not under /api.
    assert_eq!(h.get("/health").await.0, StatusCode::OK);
    assert_eq!(h.alert("/webhook", &entry("t1")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn health_reports_running_plugins_then_503_once_stopped() {
    let h = Harness::open();
    let (status, body) = h.get("/health").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "ok", "trading_state": "active", "plugins_running": 1}))
    );
    h.engine.handle.shutdown().await.unwrap();
    let (status, body) = h.get("/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].as_str().unwrap().contains("not running"), "{body}");
    // Metrics still answer with the counters.
    let (status, text) = h.send_text(Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("zepix_webhook_requests_total"), "{text}");
}

#[tokio::test]
async fn trading_state_commands() {
    let h = Harness::open();
    let (status, body) = h.post("/api/trading/paused").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"trading_state": "paused"})));
    assert_eq!(h.get("/api/status").await.1["trading_state"], "paused");
    assert_eq!(h.get("/health").await.1["trading_state"], "paused");
    let (status, body) = h.post("/api/trading/sideways").await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("state")));
    assert_eq!(h.get("/api/status").await.1["trading_state"], "paused");
}

#[tokio::test]
async fn closing_positions_by_id() {
    let h = Harness::open();
    h.alert("/webhook", &entry("c1")).await;
    h.alert("/webhook", &json!({"id": "px", "type": "market", "symbol": "XAUUSD", "price": 2010})).await;
    h.drain().await;
    let id = h.get("/api/positions").await.1["positions"][0]["id"].as_u64().unwrap();

    let (status, body) = h.post(&format!("/api/positions/{id}/close")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["closed"]["exit_price"], "2010");
    assert_eq!(body["closed"]["pnl"], "100");
    assert_eq!(h.get("/api/positions").await.1["positions"], json!([]));
    h.drain().await;
    assert_eq!(h.get("/api/trades").await.1["trades"].as_array().unwrap().len(), 1);

    let (status, _) = h.post(&format!("/api/positions/{id}/close")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already closed");
    let (status, body) = h.post("/api/positions/abc/close").await;
    assert_eq!((status, body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("position_id")));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let h = Harness::open();
    let (status, body) = h.get("/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let (status, body) = h.get("/webhook/s3cret").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!body.to_string().contains("s3cret"), "the path secret is not echoed: {body}");
    let (status, body) = h.get("/").await;
    assert_eq!(status, StatusCode::OK);
    let paths: Vec<&str> = body["endpoints"].as_array().unwrap().iter().filter_map(|e| e["path"].as_str()).collect();
    assert!(paths.contains(&"/webhook") && paths.contains(&"/metrics") && paths.contains(&"/api/signals/{id}"));
}

#[tokio::test]
async fn serves_on_a_socket_sees_the_peer_and_stops_on_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let clock = TestClock::new(start());
    let engine = TestEngine::start(Arc::new(clock), Vec::new());
    // Only 10.0.0.1 may send alerts, so this test's own 127.0.0.1 must be refused.
    let config = ServerConfig { allow_ips: vec!["10.0.0.1".parse().unwrap()], ..ServerConfig::default() };
    let state = AppState::new(engine.handle.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));

    let call = |request: String| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = call("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""status":"ok""#), "{answer}");
    let body = entry("sock").to_string();
    let answer = call(format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn subscribers_see_each_recorded_event_as_it_happens() {
    let h = Harness::open();
    h.drain().await;
    let mut events = h.engine.handle.subscribe();
    let (status, _) = h.alert("/webhook", &entry("bus-1")).await;
    assert_eq!(status, StatusCode::OK);
    h.drain().await;
    let event = events.recv().await.unwrap();
    assert_eq!(event.kind, zepix_model::EventKind::OrderPlaced, "{event:?}");
    assert_eq!(event.plugin.as_ref().map(ToString::to_string).as_deref(), Some("exec"));
    assert!(events.try_recv().is_err(), "one alert, one event");
}
