//! Process plugins (protocol 1, `docs/protocol.md`): the JSON-RPC messages, the error codes, and
//! the link between the engine's kernel and the host that runs the process.
//!
//! The kernel never waits on a process: it sends a call through a [`RemoteLink`] and goes on; the
//! answer, and every request the plugin makes meanwhile, come back as [`RemoteEvent`]s among the
//! kernel's inputs.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::manifest::Role;

/// JSON-RPC and protocol 1 error codes.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC 2.0 object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad params.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL: i64 = -32603;
    /// The manifest does not grant the service.
    pub const CAPABILITY_DENIED: i64 = -32001;
    /// Over the call rate limit.
    pub const RATE_LIMITED: i64 = -32002;
    /// The risk gate refused; `data.code` is the risk code.
    pub const RISK_REJECTED: i64 = -32003;
    /// The call ran past its deadline.
    pub const TIMEOUT: i64 = -32004;
    /// Not there, or not this plugin's.
    pub const NOT_FOUND: i64 = -32005;
    /// Not available now.
    pub const UNAVAILABLE: i64 = -32006;
    /// No protocol version in common; `data.supported` lists the sender's.
    pub const UNSUPPORTED_PROTOCOL: i64 = -32010;
    /// The plugin's handler raised.
    pub const PLUGIN_ERROR: i64 = -32011;
}

/// The longest line either side may send.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// One of [`code`].
    pub code: i64,
    /// For humans.
    pub message: String,
    /// Details (the risk code, supported versions…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and a message.
    #[must_use]
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    /// The same error with `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The risk code of a -32003 error.
    #[must_use]
    pub fn risk_code(&self) -> Option<&str> {
        (self.code == code::RISK_REJECTED).then(|| self.data.as_ref()?.get("code")?.as_str()).flatten()
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// One line of the protocol, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request (`id` present) or a notification (`id` absent).
    Request {
        /// The sender's id; `None` for a notification.
        id: Option<Value>,
        /// Method name.
        method: String,
        /// Params (`{}` when absent).
        params: Value,
    },
    /// An answer to one of our requests.
    Response {
        /// Our id.
        id: Value,
        /// The result or the error.
        result: Result<Value, RpcError>,
    },
}

impl Message {
    /// Parses one line. The error is what to answer (-32700 or -32600), with the id when known.
    ///
    /// # Errors
    /// Not JSON, or not a JSON-RPC 2.0 request or response.
    pub fn parse(line: &[u8]) -> Result<Self, (Option<Value>, RpcError)> {
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| (None, RpcError::new(code::PARSE_ERROR, format!("not JSON: {e}"))))?;
        let Value::Object(mut obj) = value else {
            return Err((None, RpcError::new(code::INVALID_REQUEST, "a message must be a JSON object")));
        };
        let id = obj.remove("id");
        let invalid = |id: Option<Value>, why: &str| Err((id, RpcError::new(code::INVALID_REQUEST, why)));
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return invalid(id, "`jsonrpc` must be \"2.0\"");
        }
        if let Some(method) = obj.remove("method") {
            let Value::String(method) = method else { return invalid(id, "`method` must be a string") };
            let params = obj.remove("params").unwrap_or_else(|| Value::Object(Map::new()));
            if !params.is_object() && !params.is_array() {
                return invalid(id, "`params` must be an object");
            }
            return Ok(Self::Request { id, method, params });
        }
        let Some(id) = id else { return invalid(None, "a response needs its `id`") };
        match (obj.remove("result"), obj.remove("error")) {
            (Some(result), None) => Ok(Self::Response { id, result: Ok(result) }),
            (None, Some(error)) => match serde_json::from_value::<RpcError>(error) {
                Ok(e) => Ok(Self::Response { id, result: Err(e) }),
                Err(e) => invalid(Some(id), &format!("bad `error` object: {e}")),
            },
            _ => invalid(Some(id), "a response has exactly one of `result` and `error`"),
        }
    }

    /// The line to send (without the newline).
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut obj = Map::new();
        obj.insert("jsonrpc".into(), "2.0".into());
        match self {
            Self::Request { id, method, params } => {
                if let Some(id) = id {
                    obj.insert("id".into(), id.clone());
                }
                obj.insert("method".into(), method.clone().into());
                obj.insert("params".into(), params.clone());
            }
            Self::Response { id, result } => {
                obj.insert("id".into(), id.clone());
                match result {
                    Ok(v) => obj.insert("result".into(), v.clone()),
                    Err(e) => obj.insert("error".into(), serde_json::to_value(e).unwrap_or(Value::Null)),
                };
            }
        }
        Value::Object(obj).to_string()
    }
}

/// What a plugin said about itself in its `initialize` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InitInfo {
    /// The protocol version it chose.
    pub protocol: u32,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Strategies it supports.
    #[serde(default)]
    pub strategies: Vec<String>,
    /// Timeframes it supports.
    #[serde(default)]
    pub timeframes: Vec<String>,
    /// Optional methods it implements.
    #[serde(default)]
    pub hooks: Vec<String>,
}

impl InitInfo {
    /// Whether the plugin implements an optional method.
    #[must_use]
    pub fn has_hook(&self, name: &str) -> bool {
        self.hooks.iter().any(|h| h == name)
    }
}

/// Identifies a call the engine made to a plugin; exactly one [`RemoteEvent::Reply`] answers it.
pub type CallId = u64;

/// Identifies a request a plugin made, for [`RemoteLink::respond`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestToken {
    /// Which process (a reload starts a new one).
    pub generation: u64,
    /// The plugin's id for the request.
    pub id: Value,
}

/// Something that happened on a process plugin's link, delivered to the kernel in order.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteEvent {
    /// A (new) process answered `initialize` and takes calls.
    Ready {
        /// What it said.
        info: InitInfo,
        /// Which process.
        generation: u64,
        /// It replaced a running version (hot reload).
        reloaded: bool,
    },
    /// The answer to a call (or its failure: timeout, crash, plugin stopped).
    Reply {
        /// The call.
        call: CallId,
        /// Result or error.
        result: Result<Value, RpcError>,
    },
    /// The plugin asks for a service.
    Request {
        /// Where the answer goes.
        token: RequestToken,
        /// Method.
        method: String,
        /// Params.
        params: Value,
    },
    /// The process failed (crash, timeout, protocol error, failed start): one failure. The host
    /// restarts it with backoff unless told to stop.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The kernel's side of a process plugin. Every method returns at once.
pub trait RemoteLink: Send {
    /// Sends a call with a deadline of the plugin's call timeout. Exactly one
    /// [`RemoteEvent::Reply`] with `id` follows, whatever happens to the process.
    fn call(&self, id: CallId, method: &str, params: Value);
    /// Answers a request the plugin made.
    fn respond(&self, token: RequestToken, result: Result<Value, RpcError>);
    /// Starts the plugin's current code beside the running one and switches to it once it is
    /// initialized; `done` hears the outcome. A failed reload leaves the old version running.
    fn reload(&self, done: Box<dyn FnOnce(Result<InitInfo, String>) + Send>);
    /// Stops the process for good (`shutdown`, then a kill); calls in flight fail.
    fn stop(&self);
    /// Sandbox level of the running process: `full`, or `partial: <what is missing>`.
    fn sandbox(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_responses_and_refuses_bad_lines() {
        let req = Message::parse(br#"{"jsonrpc":"2.0","id":3,"method":"orders.place","params":{"symbol":"X"}}"#);
        assert!(matches!(req, Ok(Message::Request { id: Some(_), ref method, .. }) if method == "orders.place"));
        let note = Message::parse(br#"{"jsonrpc":"2.0","method":"log"}"#);
        assert!(matches!(note, Ok(Message::Request { id: None, .. })));
        let err = Message::parse(
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32003,"message":"no","data":{"code":"daily_loss_limit"}}}"#,
        );
        let Ok(Message::Response { result: Err(e), .. }) = err else { panic!("not an error response: {err:?}") };
        assert_eq!(e.risk_code(), Some("daily_loss_limit"));

        assert_eq!(Message::parse(b"{nope").unwrap_err().1.code, code::PARSE_ERROR);
        assert_eq!(Message::parse(b"[1]").unwrap_err().1.code, code::INVALID_REQUEST);
        assert_eq!(Message::parse(br#"{"id":1,"method":"x"}"#).unwrap_err().1.code, code::INVALID_REQUEST);
        let both = Message::parse(br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}}"#);
        assert_eq!(both.unwrap_err().0, Some(Value::from(1)));
    }

    #[test]
    fn lines_round_trip() {
        let m = Message::Response { id: 7.into(), result: Err(RpcError::new(code::TIMEOUT, "late")) };
        assert_eq!(Message::parse(m.to_line().as_bytes()), Ok(m));
        let r = Message::Request { id: Some(1.into()), method: "health".into(), params: Value::Object(Map::new()) };
        assert_eq!(Message::parse(r.to_line().as_bytes()), Ok(r));
    }
}
