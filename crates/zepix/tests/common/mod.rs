//! Shared by the end-to-end tests: an engine in this process on a temp folder, and HTTP to it.

#![allow(dead_code, reason = "each test binary uses a different part of the kit")]
#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first thing that goes wrong")]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value;
use zepix::app::{self, App, Options};
use zepix::client::Client;
use zepix::config::Config;
use zepix_model::LiveClock;

/// The embedded defaults with the data and plugin folders under `dir`.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.engine.data_dir = dir.join("data");
    config.plugin_system.plugin_dir = dir.join("plugins");
    config
}

/// Starts the engine on a free loopback port.
pub async fn start(config: &Config, options: Options) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    app::start(config, Arc::new(LiveClock), listener, options).await.unwrap()
}

/// One request; the answer's status and JSON body (null when it is not JSON).
pub async fn send(app: &App, method: Method, path: &str, body: Bytes) -> (StatusCode, Value) {
    let mut client = Client::connect(app.addr).await.unwrap();
    let (status, body) = client.send(method, path, body, None).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A GET that must answer 200.
pub async fn get(app: &App, path: &str) -> Value {
    let (status, body) = send(app, Method::GET, path, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// Posts an alert with the engine's secret, which must be accepted, and waits until it is
/// processed; the webhook's answer.
pub async fn alert(app: &App, mut alert: Value) -> Value {
    alert["secret"] = Value::String(app.secret.value.clone());
    let (status, answer) = send(app, Method::POST, "/webhook", Bytes::from(alert.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    app.handle.drain().await.unwrap();
    answer
}
