//! The three bots against a local fake Bot API server that speaks the real HTTP API
//! (`/bot<token>/<method>`, JSON and multipart bodies, the `{ok, result}` envelope, 429 with
//! `parameters.retry_after`), over a running test engine.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a failure is a failed test")]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::Notify;
use zepix_engine::TradingState;
use zepix_engine::testkit::{ScriptedPlugin, TestEngine, manifest, slot};
use zepix_model::signal::parse_alert;
use zepix_model::{EventKind, SignalSource, TestClock};
use zepix_telegram::outbox::{Limits, dropped_notice};
use zepix_telegram::{BotConfig, Bots, Context, Role, TelegramConfig, TelegramUser};

const ADMIN: i64 = 1001;
const TRADER: i64 = 1002;
const VIEWER: i64 = 1003;
const STRANGER: i64 = 6666;
const GROUP: i64 = -100_500;
const NOTIFY_CHAT: i64 = 77;
const ANALYTICS_CHAT: i64 = 78;

/// What the fake server received.
#[derive(Debug, Clone)]
struct Call {
    token: String,
    method: String,
    body: Value,
}

#[derive(Default)]
struct Fake {
    updates: Mutex<VecDeque<Value>>,
    new_update: Notify,
    calls: Mutex<Vec<Call>>,
    new_call: Notify,
    next_update: AtomicU64,
    /// Sends answered 502 while set.
    down: std::sync::atomic::AtomicBool,
    /// The next this many sends get a 429.
    throttle: AtomicU32,
}

async fn api(State(fake): State<Arc<Fake>>, Path((bot, method)): Path<(String, String)>, body: String) -> Response {
    let token = bot.strip_prefix("bot").unwrap_or_default().to_owned();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if method == "getUpdates" {
        let offset = body["offset"].as_i64().unwrap_or(0);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        loop {
            let wake = fake.new_update.notified();
            let ready: Vec<Value> = {
                let mut updates = fake.updates.lock().unwrap();
                updates.retain(|u| u["update_id"].as_i64().unwrap() >= offset);
                updates.iter().filter(|u| u["token"] == token).map(|u| u["update"].clone()).collect()
            };
            if !ready.is_empty() || tokio::time::timeout_at(deadline, wake).await.is_err() {
                return Json(json!({"ok": true, "result": ready})).into_response();
            }
        }
    }
    record(&fake, Call { token, method: method.clone(), body }).await
}

async fn record(fake: &Fake, call: Call) -> Response {
    let sends = ["sendMessage", "sendPhoto", "editMessageText"].contains(&call.method.as_str());
    if sends && fake.down.load(Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, "bad gateway").into_response();
    }
    if sends && fake.throttle.load(Ordering::SeqCst) > 0 {
        fake.throttle.fetch_sub(1, Ordering::SeqCst);
        let answer = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1}});
        return (StatusCode::TOO_MANY_REQUESTS, Json(answer)).into_response();
    }
    let result = match call.method.as_str() {
        "getMe" => json!({"id": 1, "is_bot": true, "username": "zepix_bot"}),
        "setMyCommands" | "answerCallbackQuery" => json!(true),
        _ => json!({"message_id": 1, "chat": {"id": call.body["chat_id"]}}),
    };
    fake.calls.lock().unwrap().push(call);
    fake.new_call.notify_waiters();
    Json(json!({"ok": true, "result": result})).into_response()
}

async fn photo(State(fake): State<Arc<Fake>>, Path(bot): Path<String>, mut form: Multipart) -> Response {
    let mut body = json!({});
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap().to_owned();
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.unwrap();
        body[&name] = if name == "photo" {
            json!({"len": bytes.len(), "png": bytes.starts_with(b"\x89PNG"), "type": content_type})
        } else {
            json!(String::from_utf8_lossy(&bytes))
        };
    }
    let token = bot.strip_prefix("bot").unwrap_or_default().to_owned();
    record(&fake, Call { token, method: "sendPhoto".into(), body }).await
}

struct Harness {
    fake: Arc<Fake>,
    engine: TestEngine,
    bots: Option<Bots>,
    seen: usize,
}

fn start_time() -> DateTime<Utc> {
    "2026-03-02T10:00:00Z".parse().unwrap()
}

fn fast_limits() -> Limits {
    Limits {
        per_chat: Duration::ZERO,
        global_window: Duration::from_millis(1),
        backoff: Duration::from_millis(20),
        backoff_max: Duration::from_millis(50),
        ..Limits::default()
    }
}

impl Harness {
    async fn start(adjust: impl FnOnce(&mut TelegramConfig)) -> Self {
        let fake = Arc::new(Fake::default());
        let app = Router::new()
            .route("/{bot}/sendPhoto", post(photo))
            .route("/{bot}/{method}", post(api))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let clock = TestClock::new(start_time());
        let plugin = slot(manifest("exec", "EXEC", &[]), Box::new(ScriptedPlugin::executor()));
        let engine = TestEngine::start(Arc::new(clock), vec![plugin]);
        let mut config = TelegramConfig {
            api_url: format!("http://{addr}"),
            controller: Some(BotConfig { token: "1:ctl".into(), chat_id: 0 }),
            notifier: Some(BotConfig { token: "2:ntf".into(), chat_id: NOTIFY_CHAT }),
            analytics: Some(BotConfig { token: "3:ana".into(), chat_id: ANALYTICS_CHAT }),
            users: vec![
                TelegramUser { id: ADMIN, role: Role::Admin },
                TelegramUser { id: TRADER, role: Role::Trader },
                TelegramUser { id: VIEWER, role: Role::Viewer },
            ],
            ..TelegramConfig::default()
        };
        adjust(&mut config);
        let ctx = Context {
            engine: engine.handle.clone(),
            config_text: "[server]\nsecret = <redacted>".into(),
            daily_loss_limit: Decimal::from(500),
        };
        let bots = Bots::start(&config, ctx, fast_limits()).unwrap();
        let mut h = Self { fake, engine, bots: Some(bots), seen: 0 };
        h.wait(|c| c.method == "setMyCommands" && c.token == "1:ctl").await;
        h
    }

    fn calls(&self) -> Vec<Call> {
        self.fake.calls.lock().unwrap().clone()
    }

    /// Waits (bounded) for a call after the ones already seen that matches; marks it seen.
    async fn wait(&mut self, pred: impl Fn(&Call) -> bool) -> Call {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let wake = self.fake.new_call.notified();
            let calls = self.calls();
            if let Some(i) = calls.iter().skip(self.seen).position(&pred) {
                self.seen += i + 1;
                return calls[self.seen - 1].clone();
            }
            assert!(
                tokio::time::timeout_at(deadline, wake).await.is_ok(),
                "no matching call; calls: {:#?}",
                &calls[self.seen..]
            );
        }
    }

    /// Waits (bounded) until some call, seen or not, matches: for calls whose order against
    /// others is not fixed (each bot starts on its own task).
    async fn wait_ever(&self, pred: impl Fn(&Call) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let wake = self.fake.new_call.notified();
            let calls = self.calls();
            if calls.iter().any(&pred) {
                return;
            }
            assert!(tokio::time::timeout_at(deadline, wake).await.is_ok(), "no matching call; calls: {calls:#?}");
        }
    }

    fn push(&self, token: &str, update: Value) {
        let id = self.fake.next_update.fetch_add(1, Ordering::SeqCst) as i64 + 1;
        let mut update = update;
        update["update_id"] = json!(id);
        self.fake.updates.lock().unwrap().push_back(json!({"token": token, "update_id": id, "update": update}));
        self.fake.new_update.notify_waiters();
    }

    fn say_in(&self, token: &str, user: i64, chat: i64, text: &str) {
        self.push(
            token,
            json!({"message": {"message_id": 5, "from": {"id": user, "is_bot": false, "first_name": "u"},
            "chat": {"id": chat, "type": if chat < 0 { "group" } else { "private" }}, "date": 0, "text": text}}),
        );
    }

    /// `user` sends `text` to the controller in their private chat; returns the reply.
    async fn ask(&mut self, user: i64, text: &str) -> String {
        self.say_in("1:ctl", user, user, text);
        let reply = self.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
        reply.body["text"].as_str().unwrap().to_owned()
    }

    async fn press(&mut self, user: i64, data: &str) -> String {
        self.push("1:ctl", json!({"callback_query": {"id": format!("cb{data}{user}"), "from": {"id": user, "is_bot": false, "first_name": "u"},
            "message": {"message_id": 9, "chat": {"id": user, "type": "private"}, "date": 0, "text": "?"}, "chat_instance": "x", "data": data}}));
        let answer = self.wait(|c| c.method == "answerCallbackQuery").await;
        answer.body["text"].as_str().unwrap().to_owned()
    }

    async fn trade(&self, id: &str, extra: Value) {
        let mut alert = json!({"id": id, "strategy": "EXEC", "symbol": "XAUUSD", "side": "buy", "price": 2000, "sl": 1990, "tp": 2020, "lot": 0.1});
        for (k, v) in extra.as_object().unwrap() {
            alert[k] = v.clone();
        }
        let parsed = parse_alert(alert.to_string().as_bytes(), start_time()).unwrap();
        self.engine.handle.submit(parsed.signal, SignalSource::Api).await.unwrap();
    }

    async fn stop(mut self) {
        self.bots.take().unwrap().stop().await;
    }
}

fn buttons(call: &Call) -> Vec<String> {
    call.body["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|b| b["callback_data"].as_str().unwrap().to_owned()))
        .collect()
}

fn command_events(h: &Harness) -> Vec<Value> {
    h.engine.store.event_log().into_iter().filter(|e| e.kind == EventKind::Command).map(|e| e.data).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answers_an_allowed_user() {
    let mut h = Harness::start(|_| {}).await;
    let menu = h.calls().into_iter().find(|c| c.method == "setMyCommands" && c.token == "1:ctl").unwrap();
    assert!(menu.body["commands"].as_array().unwrap().iter().any(|c| c["command"] == "performance"));
    h.trade("t1", json!({})).await;
    h.engine.handle.drain().await.unwrap();

    for (command, expect) in [
        ("/start", "You are a admin"),
        ("/help", "/close <id|SYMBOL|all>"),
        ("/status", "trading   active"),
        ("/plugins", "exec"),
        ("/positions", "#1 buy 0.1 XAUUSD @ 2000 sl 1990 tp 2020 [exec]"),
        ("/signals", "t1 executed exec"),
        ("/trend", "No trends set yet."),
        ("/trend XAUUSD 15 bullish", "XAUUSD 15m trend set to bullish"),
        ("/trend", "XAUUSD 15m bullish"),
        ("/daily", "Today so far"),
        ("/risk", "XAUUSD"),
        ("/shadow", "No shadow results yet"),
        ("/locks", "No symbol is locked"),
        ("/unlock XAUUSD", "Nothing to lift: XAUUSD is not locked"),
        ("/config", "<redacted>"),
        ("/pause", "Trading paused"),
        ("/resume", "Trading active"),
        ("/sell everything", "unknown command /sell"),
        ("/close", "Usage: /close <id|SYMBOL|all>"),
        ("/close 99", "No open position #99"),
        ("/plugin nope", "No plugin `nope`"),
        ("hello", "Send /help"),
    ] {
        let reply = h.ask(ADMIN, command).await;
        assert!(reply.contains(expect), "{command}: `{expect}` not in:\n{reply}");
    }
    let status = h.engine.handle.status().await.unwrap();
    assert_eq!(status.trading_state, TradingState::Active);
    assert_eq!(status.trends.len(), 1, "the trend was set in the engine");

    // /performance: the text and the equity chart, uploaded as a PNG photo.
    h.say_in("1:ctl", ADMIN, ADMIN, "/performance");
    let photo = h.wait(|c| c.token == "1:ctl" && c.method == "sendPhoto").await;
    assert_eq!(photo.body["photo"]["png"], true);
    assert_eq!(photo.body["photo"]["type"], "image/png");
    assert_eq!(photo.body["chat_id"], ADMIN.to_string());
    assert!(photo.body["caption"].as_str().unwrap().starts_with("Equity over 0 trades"));
    let text = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    assert!(text.body["text"].as_str().unwrap().contains("Performance"));

    // Every command was written to the event log, the bad ones as invalid.
    h.engine.handle.drain().await.unwrap();
    let events = command_events(&h);
    assert!(events.iter().any(|e| e["command"] == "/pause" && e["outcome"] == "allowed" && e["user"] == ADMIN));
    assert!(events.iter().any(|e| e["command"] == "/sell" && e["outcome"] == "invalid"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_groups_and_roles_are_refused() {
    let mut h = Harness::start(|_| {}).await;
    h.trade("t1", json!({})).await;
    h.engine.handle.drain().await.unwrap();

    let reply = h.ask(STRANGER, "/status").await;
    assert_eq!(reply, zepix_telegram::auth::NOT_ALLOWED);
    assert!(!reply.contains("10000") && !reply.contains("XAUUSD"), "nothing about the account");
    // In a group an allowed admin is also present: the stranger's message still grants nothing.
    h.say_in("1:ctl", STRANGER, GROUP, "/positions");
    let reply = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    assert_eq!(reply.body["chat_id"], GROUP);
    assert_eq!(reply.body["text"], zepix_telegram::auth::NOT_ALLOWED);
    // The stranger presses a button they saw: refused too.
    assert_eq!(h.press(STRANGER, "ok:1").await, zepix_telegram::auth::NOT_ALLOWED);

    assert!(h.ask(VIEWER, "/status").await.contains("balance"));
    assert_eq!(h.ask(VIEWER, "/pause").await, "Sorry, /pause needs the trader role; you are a viewer.");
    assert!(h.ask(VIEWER, "/close all").await.contains("needs the trader role"));
    assert!(h.ask(TRADER, "/config").await.contains("needs the admin role"));
    assert!(h.ask(VIEWER, "/trend XAUUSD 15 bullish").await.contains("needs the trader role"));
    assert_eq!(h.engine.handle.status().await.unwrap().trading_state, TradingState::Active);
    assert_eq!(h.engine.handle.status().await.unwrap().positions.len(), 1, "nothing changed");

    h.engine.handle.drain().await.unwrap();
    let refused: Vec<Value> = command_events(&h).into_iter().filter(|e| e["outcome"] == "refused").collect();
    assert_eq!(refused.len(), 7, "{refused:#?}");
    assert!(refused.iter().any(|e| e["user"] == STRANGER && e["chat"] == GROUP));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destructive_commands_need_a_confirmation_from_the_asker() {
    let mut h = Harness::start(|c| c.confirm_seconds = 600).await;
    h.trade("t1", json!({})).await;
    h.trade("t2", json!({"symbol": "EURUSD", "price": 1.1, "sl": 1.09, "tp": 1.12})).await;
    h.engine.handle.drain().await.unwrap();

    h.say_in("1:ctl", TRADER, TRADER, "/close XAUUSD");
    let prompt = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    assert!(prompt.body["text"].as_str().unwrap().contains("#1 buy 0.1 XAUUSD"));
    let [ok, no] = <[String; 2]>::try_from(buttons(&prompt)).unwrap();
    assert_eq!(h.engine.handle.status().await.unwrap().positions.len(), 2, "nothing closes before confirming");
    assert_eq!(h.press(ADMIN, &ok).await, "Only the person who asked can confirm this.");
    assert_eq!(h.press(TRADER, &ok).await, "Done.");
    let edit = h.wait(|c| c.method == "editMessageText").await;
    assert!(edit.body["text"].as_str().unwrap().starts_with("#1 closed at"), "{edit:?}");
    let positions = h.engine.handle.status().await.unwrap().positions;
    assert_eq!(positions.len(), 1);
    assert_eq!(positions[0].symbol.as_str(), "EURUSD");
    assert_eq!(h.press(TRADER, &no).await, "Expired: nothing was done.", "a used confirmation is gone");

    // Cancel.
    h.say_in("1:ctl", ADMIN, ADMIN, "/halt");
    let prompt = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    let no = buttons(&prompt)[1].clone();
    assert_eq!(h.press(ADMIN, &no).await, "Cancelled.");
    assert_eq!(h.engine.handle.status().await.unwrap().trading_state, TradingState::Active);

    // The plugin panel: disable asks for a confirmation, then the plugin stops.
    h.say_in("1:ctl", ADMIN, ADMIN, "/plugin exec");
    let panel = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    assert!(panel.body["text"].as_str().unwrap().contains("state    running"));
    let actions = buttons(&panel);
    assert!(actions.iter().all(|d| d.len() <= 64));
    assert_eq!(h.press(TRADER, &actions[0]).await, "Sorry, this needs the admin role; you are a trader.");
    assert_eq!(h.press(ADMIN, &actions[0]).await, "Confirm below.");
    let prompt = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    assert!(prompt.body["text"].as_str().unwrap().starts_with("Really disable exec?"));
    assert_eq!(h.press(ADMIN, &buttons(&prompt)[0]).await, "Done.");
    let plugins = h.engine.handle.plugins().await.unwrap();
    assert_eq!(plugins[0].state, zepix_engine::PluginState::Disabled);
    assert_eq!(h.press(ADMIN, &actions[3]).await, "Confirm below.", "promote is confirmed first");
    let reply = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    assert!(reply.body["text"].as_str().unwrap().contains("Really promote exec?"));
    assert_eq!(h.press(ADMIN, &buttons(&reply)[0]).await, "Done.");
    let edit = h.wait(|c| c.method == "editMessageText").await;
    let text = edit.body["text"].as_str().unwrap();
    assert!(text.contains("exec: mode not changed: the engine runs LIVE"), "the engine's refusal is shown: {text}");
    assert_eq!(h.press(ADMIN, "zz:1").await, "This button is not one of mine.");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_reports_each_trade_event_with_its_plugin() {
    let mut h = Harness::start(|_| {}).await;
    h.trade("t1", json!({})).await;
    let opened = h.wait(|c| c.token == "2:ntf").await;
    assert_eq!(opened.body["chat_id"], NOTIFY_CHAT);
    assert!(opened.body["text"].as_str().unwrap().starts_with("🟢 Trade opened [exec]"));
    h.trade("m1", json!({"type": "market", "price": 2021, "side": null, "sl": null, "tp": null})).await;
    let tp = h.wait(|c| c.token == "2:ntf").await;
    assert!(tp.body["text"].as_str().unwrap().starts_with("🎯 TP hit [exec]"), "{tp:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_and_the_message_still_arrives() {
    let mut h = Harness::start(|_| {}).await;
    h.fake.throttle.store(1, Ordering::SeqCst);
    let reply = h.ask(ADMIN, "/start").await;
    assert!(reply.contains("zepix controller"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_during_a_burst_of_trades() {
    let mut h = Harness::start(|c| c.queue = 5).await;
    h.fake.down.store(true, Ordering::SeqCst);
    for i in 0..20 {
        h.trade(&format!("b{i}"), json!({"symbol": "EURUSD", "price": 1.1, "sl": 1.09, "tp": 1.12, "lot": 0.01})).await;
    }
    // Trading went on: every signal was processed while Telegram was down.
    h.engine.handle.drain().await.unwrap();
    assert_eq!(h.engine.handle.status().await.unwrap().positions.len(), 10, "the risk gate's per-plugin cap");
    h.fake.down.store(false, Ordering::SeqCst);
    let notice = h.wait(|c| c.token == "2:ntf" && c.body["text"].as_str().unwrap().contains("dropped")).await;
    let text = notice.body["text"].as_str().unwrap();
    let dropped: u64 = text.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(dropped > 0 && text == dropped_notice(dropped), "{text}");
    let delivered = h.calls().iter().filter(|c| c.token == "2:ntf").count() as u64;
    // The first in flight, the queue's 5 newest and the notice; the rest were dropped and counted.
    assert!(delivered + dropped <= 40 + 1 + 1, "{delivered} + {dropped}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_replies_are_split_on_line_boundaries() {
    let mut h = Harness::start(|_| {}).await;
    for i in 0..50 {
        h.trade(&format!("signal-with-a-long-name-to-fill-the-message-{i:03}"), json!({"lot": 0.01})).await;
    }
    h.engine.handle.drain().await.unwrap();
    h.say_in("1:ctl", ADMIN, ADMIN, "/signals 50");
    let first = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    let second = h.wait(|c| c.token == "1:ctl" && c.method == "sendMessage").await;
    for part in [&first, &second] {
        let text = part.body["text"].as_str().unwrap();
        assert!(text.chars().count() <= 4096);
        assert!(text.lines().skip(1).all(|l| l.starts_with("signal-with-a-long-name")), "whole lines only");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_bot_answers_reports_only() {
    let mut h = Harness::start(|_| {}).await;
    h.wait_ever(|c| c.method == "setMyCommands" && c.token == "3:ana").await;
    h.say_in("3:ana", VIEWER, VIEWER, "/performance");
    let photo = h.wait(|c| c.token == "3:ana" && c.method == "sendPhoto").await;
    assert_eq!(photo.body["photo"]["png"], true);
    h.say_in("3:ana", ADMIN, ADMIN, "/halt");
    let reply = h.wait(|c| c.token == "3:ana" && c.method == "sendMessage" && c.body["chat_id"] == ADMIN).await;
    assert!(reply.body["text"].as_str().unwrap().contains("this bot answers reports"));
    h.stop().await;
}

#[tokio::test]
async fn a_bad_config_starts_nothing() {
    let clock = TestClock::new(start_time());
    let engine = TestEngine::start(Arc::new(clock), Vec::new());
    let config = TelegramConfig {
        controller: Some(BotConfig { token: "not-a-token".into(), chat_id: 0 }),
        ..TelegramConfig::default()
    };
    let ctx = Context { engine: engine.handle.clone(), config_text: String::new(), daily_loss_limit: Decimal::ZERO };
    let e = Bots::start(&config, ctx, Limits::default()).unwrap_err();
    assert!(e.to_string().contains("controller.token: not a bot token"), "{e}");
    let _ = engine.store.ops();
}
