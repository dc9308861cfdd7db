//! {{name}}: a zepix process plugin. It speaks protocol 1 on stdin/stdout: one JSON-RPC 2.0
//! message per line. The engine sends `initialize`, then signals; the plugin answers each and may
//! call the engine (`orders.place`, `orders.close_all`) while it handles one. stderr goes to the
//! engine's log.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};

use serde_json::{Value, json};
use {{id}}::{Entry, Settings, decide_entry, decision, exit_params};

/// The protocol version this plugin speaks.
const PROTOCOL: u64 = 1;

/// Error codes of the protocol this plugin uses.
mod code {
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const RISK_REJECTED: i64 = -32003;
    pub const UNSUPPORTED_PROTOCOL: i64 = -32010;
    pub const PLUGIN_ERROR: i64 = -32011;
}

/// A JSON-RPC error.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    fn from_json(error: &Value) -> Self {
        Self {
            code: error["code"].as_i64().unwrap_or(code::PLUGIN_ERROR),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            data: error.get("data").cloned(),
        }
    }
}

struct Plugin<R, W> {
    input: R,
    output: W,
    /// The engine's requests that arrived while this plugin waited for an answer.
    backlog: VecDeque<Value>,
    next_id: u64,
    settings: Settings,
    signals: u64,
}

impl<R: BufRead, W: Write> Plugin<R, W> {
    /// Serves the engine until `shutdown` or until it closes stdin.
    fn serve(&mut self) -> io::Result<()> {
        while let Some(message) = self.next_message()? {
            let Some(method) = message.get("method").and_then(Value::as_str) else {
                continue; // an answer nobody waits for
            };
            let Some(id) = message.get("id").cloned() else {
                continue; // a notification: nothing to answer
            };
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            if method == "shutdown" {
                return self.send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
            }
            let result = self.handle(method, &params)?;
            let reply = match result {
                Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                Err(e) => {
                    let mut error = json!({"code": e.code, "message": e.message});
                    if let Some(data) = e.data {
                        error["data"] = data;
                    }
                    json!({"jsonrpc": "2.0", "id": id, "error": error})
                }
            };
            self.send(reply)?;
        }
        Ok(())
    }

    fn handle(&mut self, method: &str, params: &Value) -> io::Result<Result<Value, RpcError>> {
        Ok(match method {
            "initialize" => self.initialize(params),
            "process_entry_signal" => self.entry(&params["signal"])?,
            "process_exit_signal" => self.exit(&params["signal"])?,
            "process_reversal_signal" | "process_signal" => {
                self.signals += 1;
                Ok(decision("ignored", Some("this plugin trades entry and exit signals"), vec![], vec![]))
            }
            "health" => Ok(json!({"ok": true})),
            "get_status" => Ok(json!({"signals": self.signals})),
            other => Err(RpcError::new(code::METHOD_NOT_FOUND, format!("unknown method `{other}`"))),
        })
    }

    fn initialize(&mut self, params: &Value) -> Result<Value, RpcError> {
        let offered = params["protocols"].as_array().cloned().unwrap_or_default();
        if !offered.iter().any(|v| v.as_u64() == Some(PROTOCOL)) {
            let mut e = RpcError::new(code::UNSUPPORTED_PROTOCOL, "no protocol version in common");
            e.data = Some(json!({"supported": [PROTOCOL]}));
            return Err(e);
        }
        self.settings = Settings::from_json(&params["settings"]);
        Ok(json!({
            "protocol": PROTOCOL,
            "name": "{{name}}",
            "version": env!("CARGO_PKG_VERSION"),
            "roles": ["logic"],
            "strategies": ["{{strategy}}"],
            "timeframes": ["5m", "15m"],
            "hooks": [],
        }))
    }

    fn entry(&mut self, signal: &Value) -> io::Result<Result<Value, RpcError>> {
        self.signals += 1;
        let order = match decide_entry(signal, &self.settings) {
            Entry::Reject(reason) => return Ok(Ok(decision("rejected", Some(&reason), vec![], vec![]))),
            Entry::Place(order) => order,
        };
        Ok(match self.request("orders.place", order)? {
            Ok(placed) => Ok(decision("executed", None, vec![placed["order"]["id"].clone()], vec![])),
            // A refusal on risk grounds is passed on: the engine stores the signal as rejected.
            Err(e) if e.code == code::RISK_REJECTED => Err(e),
            Err(e) => Err(RpcError::new(code::PLUGIN_ERROR, format!("orders.place failed: {}", e.message))),
        })
    }

    fn exit(&mut self, signal: &Value) -> io::Result<Result<Value, RpcError>> {
        self.signals += 1;
        Ok(match self.request("orders.close_all", exit_params(signal))? {
            Ok(trades) => {
                let closed: Vec<Value> = trades
                    .as_array()
                    .map(|t| t.iter().map(|trade| trade["position"]["id"].clone()).collect())
                    .unwrap_or_default();
                let reason = closed.is_empty().then_some("no open position on this symbol");
                Ok(decision(if closed.is_empty() { "ignored" } else { "executed" }, reason, vec![], closed))
            }
            Err(e) => Err(RpcError::new(code::PLUGIN_ERROR, format!("orders.close_all failed: {}", e.message))),
        })
    }

    /// Calls the engine and waits for its answer; its own requests that arrive meanwhile wait in
    /// the backlog.
    fn request(&mut self, method: &str, params: Value) -> io::Result<Result<Value, RpcError>> {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        loop {
            let Some(message) = self.read()? else {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the engine closed stdin"));
            };
            if message.get("method").is_some() {
                self.backlog.push_back(message);
            } else if message.get("id").and_then(Value::as_u64) == Some(id) {
                return Ok(match message.get("error") {
                    Some(error) => Err(RpcError::from_json(error)),
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                });
            }
        }
    }

    fn next_message(&mut self) -> io::Result<Option<Value>> {
        match self.backlog.pop_front() {
            Some(message) => Ok(Some(message)),
            None => self.read(),
        }
    }

    fn read(&mut self) -> io::Result<Option<Value>> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.input.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(message) => return Ok(Some(message)),
                Err(e) => eprintln!("ignoring a line that is not JSON: {e}"),
            }
        }
    }

    fn send(&mut self, message: Value) -> io::Result<()> {
        writeln!(self.output, "{message}")?;
        self.output.flush()
    }
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut plugin = Plugin {
        input: stdin.lock(),
        output: stdout.lock(),
        backlog: VecDeque::new(),
        next_id: 0,
        settings: Settings::from_json(&Value::Null),
        signals: 0,
    };
    plugin.serve()
}
