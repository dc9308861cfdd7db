//! The kernel with process plugins, through an in-memory link: calls leave at once, answers and
//! requests come back as inputs, failures count as for built-ins.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use zepix_model::signal::parse_alert;
use zepix_model::{Clock, SignalSource, TestClock};
use zepix_plugin::remote::code;
use zepix_plugin::{Capability, InitInfo, RemoteEvent, RemoteLink, RequestToken, RpcError};

use super::*;
use crate::config::KernelConfig;
use crate::outcome::OutcomeStatus;
use crate::ports::{InboxRecord, Store};
use crate::registry::Remote;
use crate::testkit::{MemStore, ScriptedPlugin, kernel, manifest, slot};

type Answer = (RequestToken, Result<Value, RpcError>);

#[derive(Clone, Default)]
struct Wire {
    calls: Arc<Mutex<Vec<(CallId, String, Value)>>>,
    answers: Arc<Mutex<Vec<Answer>>>,
    stopped: Arc<AtomicBool>,
}

impl RemoteLink for Wire {
    fn call(&self, id: CallId, method: &str, params: Value) {
        self.calls.lock().unwrap().push((id, method.to_owned(), params));
    }
    fn respond(&self, token: RequestToken, result: Result<Value, RpcError>) {
        self.answers.lock().unwrap().push((token, result));
    }
    fn reload(&self, done: Box<dyn FnOnce(Result<InitInfo, String>) + Send>) {
        done(Err("not in this test".into()));
    }
    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
    fn sandbox(&self) -> String {
        "full".into()
    }
}

impl Wire {
    fn take_calls(&self) -> Vec<(CallId, String, Value)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

struct Rig {
    kernel: Kernel,
    store: Arc<MemStore>,
    clock: TestClock,
    wire: Wire,
    seq: u64,
}

fn remote_plugin(id: &str, strategy: &str, hooks: &[&str], wire: &Wire) -> crate::registry::PluginSlot {
    let mut m = manifest(id, strategy, &[]);
    m.capabilities = vec![Capability::Orders, Capability::Positions];
    let mut s = slot(m, Box::new(ScriptedPlugin::executor()));
    s.plugin = None;
    let info = InitInfo { protocol: 1, hooks: hooks.iter().map(|h| (*h).to_owned()).collect(), ..InitInfo::default() };
    s.remote = Some(Remote {
        link: Box::new(wire.clone()),
        info: Some(info),
        signals_in_flight: std::collections::HashSet::new(),
    });
    s
}

impl Rig {
    fn new(hooks: &[&str]) -> Self {
        let wire = Wire::default();
        let clock = TestClock::new("2026-03-02T10:00:00Z".parse().unwrap());
        let slots = vec![
            remote_plugin("py", "PY", hooks, &wire),
            slot(manifest("exec", "EXEC", &[]), Box::new(ScriptedPlugin::executor())),
        ];
        let (mut kernel, store) = kernel(Arc::new(clock.clone()), slots, &KernelConfig::default(), Arc::default());
        kernel.start(&std::collections::BTreeMap::new());
        Self { kernel, store, clock, wire, seq: 0 }
    }

    fn send(&mut self, alert: Value) -> Option<Outcome> {
        self.seq += 1;
        let signal = parse_alert(alert.to_string().as_bytes(), self.clock.now()).unwrap().signal;
        let record =
            InboxRecord { seq: self.seq, source: SignalSource::Webhook, received_at: self.clock.now(), signal };
        let outcome = self.kernel.process(record);
        self.store.submit(self.kernel.take_ops());
        outcome
    }

    fn event(&mut self, event: RemoteEvent) {
        self.kernel.on_remote(&PluginId::new("py").unwrap(), event);
        self.store.submit(self.kernel.take_ops());
    }

    fn stored(&self, id: &str) -> Option<Outcome> {
        self.store.signals().into_iter().find(|r| r.signal.id.as_str() == id).map(|r| r.outcome)
    }

    fn state(&self) -> PluginState {
        self.kernel.plugins().into_iter().find(|p| p.id.as_str() == "py").unwrap().state
    }
}

fn entry(id: &str, strategy: &str) -> Value {
    json!({"id": id, "strategy": strategy, "symbol": "XAUUSD", "side": "buy", "price": 2000, "lot": 0.1})
}

#[test]
fn a_waiting_process_plugin_delays_no_other_signal_and_its_orders_link_to_its_signal() {
    let mut rig = Rig::new(&[]);
    assert!(rig.send(entry("slow-1", "PY")).is_none(), "the outcome waits for the plugin");
    let calls = rig.wire.take_calls();
    assert_eq!(calls.len(), 1);
    let (call, method, params) = calls[0].clone();
    assert_eq!(method, "process_entry_signal");
    assert_eq!(params["signal"]["id"], "slow-1");
    assert_eq!((rig.kernel.signals_pending(), rig.kernel.lowest_pending_seq()), (1, Some(1)));

    let fast = rig.send(entry("fast-1", "EXEC")).expect("a built-in decides at once");
    assert_eq!(fast.status, OutcomeStatus::Executed);
    assert!(rig.stored("slow-1").is_none() && rig.stored("fast-1").is_some());

    let token = RequestToken { generation: 1, id: json!(7) };
    let place = json!({"symbol": "XAUUSD", "side": "buy", "lot": "0.2", "price": "2000", "signal_id": "slow-1"});
    rig.event(RemoteEvent::Request { token: token.clone(), method: "orders.place".into(), params: place });
    let (answered, result) = rig.wire.answers.lock().unwrap().pop().unwrap();
    assert_eq!(answered, token);
    let placed = result.unwrap();
    assert_eq!(placed["order"]["signal_id"], "slow-1", "the order names the signal it was placed for");
    let order = placed["order"]["id"].clone();

    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"kind": "executed", "orders": [order]})) });
    let outcome = rig.stored("slow-1").unwrap();
    assert_eq!((outcome.status, outcome.orders.len()), (OutcomeStatus::Executed, 1));
    assert_eq!((rig.kernel.signals_pending(), rig.kernel.lowest_pending_seq()), (0, None));
}

#[test]
fn a_request_outside_the_capabilities_or_not_in_protocol_1_is_refused() {
    let mut rig = Rig::new(&[]);
    let ask = |rig: &mut Rig, method: &str, params: Value| {
        rig.event(RemoteEvent::Request {
            token: RequestToken { generation: 1, id: json!(1) },
            method: method.into(),
            params,
        });
        rig.wire.answers.lock().unwrap().pop().unwrap().1.unwrap_err()
    };
    assert_eq!(
        ask(&mut rig, "trend.get", json!({"symbol": "XAUUSD", "timeframe": "5m"})).code,
        code::CAPABILITY_DENIED
    );
    assert_eq!(ask(&mut rig, "orders.teleport", json!({})).code, code::METHOD_NOT_FOUND);
    assert_eq!(ask(&mut rig, "orders.place", json!({"symbol": "XAUUSD"})).code, code::INVALID_PARAMS);
    assert_eq!(ask(&mut rig, "market.bars", json!({})).code, code::UNAVAILABLE);
    let huge = json!({"symbol": "XAUUSD", "side": "buy", "lot": "500", "price": "2000"});
    let refused = ask(&mut rig, "orders.place", huge);
    assert_eq!((refused.code, refused.risk_code()), (code::RISK_REJECTED, Some("lot_above_max")));
}

#[test]
fn a_hook_gate_parks_the_signal_and_its_answer_decides() {
    let mut rig = Rig::new(&["on_signal_received"]);
    assert!(rig.send(entry("a", "EXEC")).is_none(), "every signal passes the process plugin's gate");
    let (call, method, _) = rig.wire.take_calls().remove(0);
    assert_eq!(method, "on_signal_received");
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"action": "reject", "reason": "news in 5 minutes"})) });
    let outcome = rig.stored("a").unwrap();
    assert_eq!((outcome.status, outcome.code.as_deref()), (OutcomeStatus::Rejected, Some("hook_rejected")));
    assert_eq!(outcome.reason.as_deref(), Some("news in 5 minutes"));

    assert!(rig.send(entry("b", "EXEC")).is_none());
    let (call, ..) = rig.wire.take_calls().remove(0);
    let mut changed = entry("b", "EXEC");
    changed["lot"] = json!(0.3);
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"action": "modify", "signal": changed})) });
    let outcome = rig.stored("b").unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Executed);
    assert_eq!(rig.kernel.status().positions[0].lots.to_string(), "0.3", "the executor traded the modified signal");
}

#[test]
fn failures_count_like_built_ins_and_the_fifth_stops_the_process() {
    let mut rig = Rig::new(&[]);
    rig.send(entry("r", "PY"));
    let (call, ..) = rig.wire.take_calls().remove(0);
    let risk = RpcError::new(code::RISK_REJECTED, "too big").with_data(json!({"code": "lot_above_max"}));
    rig.event(RemoteEvent::Reply { call, result: Err(risk) });
    let outcome = rig.stored("r").unwrap();
    assert_eq!((outcome.status, outcome.code.as_deref()), (OutcomeStatus::Rejected, Some("lot_above_max")));

    rig.send(entry("u", "PY"));
    let (call, ..) = rig.wire.take_calls().remove(0);
    let gone = RpcError::new(code::UNAVAILABLE, "the plugin process failed: it exited");
    rig.event(RemoteEvent::Reply { call, result: Err(gone) });
    rig.event(RemoteEvent::Failed { reason: "it exited".into() });
    assert_eq!(rig.stored("u").unwrap().status, OutcomeStatus::Failed);
    let streak = |rig: &Rig| rig.kernel.plugins().into_iter().find(|p| p.id.as_str() == "py").unwrap().counters;
    assert_eq!(streak(&rig).consecutive_failures, 1, "a crash counts once, not once per call it failed");

    for i in 0..4 {
        rig.send(entry(&format!("e{i}"), "PY"));
        let (call, ..) = rig.wire.take_calls().remove(0);
        rig.event(RemoteEvent::Reply { call, result: Err(RpcError::new(code::PLUGIN_ERROR, "KeyError: 'sl'")) });
    }
    assert_eq!(rig.state(), PluginState::Failed);
    assert!(rig.wire.stopped.load(Ordering::SeqCst), "a failed plugin's process is stopped");
    let o = rig.send(entry("after", "PY")).unwrap();
    assert_eq!(o.status, OutcomeStatus::Unrouted, "a failed plugin gets no more signals");
}

#[test]
fn a_malformed_decision_is_a_failure_with_the_reason() {
    let mut rig = Rig::new(&[]);
    rig.send(entry("m", "PY"));
    let (call, ..) = rig.wire.take_calls().remove(0);
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"kind": "maybe"})) });
    let outcome = rig.stored("m").unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert!(outcome.reason.unwrap().starts_with("not a decision"));
}

#[test]
fn orders_in_the_decision_are_placed_for_the_signal_in_one_round_trip() {
    let mut rig = Rig::new(&[]);
    rig.send(entry("p", "PY"));
    let (call, ..) = rig.wire.take_calls().remove(0);
    let order = json!({"symbol": "XAUUSD", "side": "buy", "lot": "0.2", "price": "2000", "sl": {"pips": 50}});
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"kind": "executed", "place": [order.clone(), order]})) });
    let outcome = rig.stored("p").unwrap();
    assert_eq!((outcome.status, outcome.orders.len()), (OutcomeStatus::Executed, 2));
    let positions = rig.kernel.status().positions;
    assert!(positions.iter().all(|p| p.signal_id.as_ref().map(SignalId::as_str) == Some("p")));
    assert_eq!(positions[0].sl.unwrap().to_string(), "1995");

    rig.send(entry("q", "PY"));
    let (call, ..) = rig.wire.take_calls().remove(0);
    let huge = json!({"symbol": "XAUUSD", "side": "buy", "lot": "500", "price": "2000"});
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"kind": "executed", "place": [huge]})) });
    let outcome = rig.stored("q").unwrap();
    assert_eq!((outcome.status, outcome.code.as_deref()), (OutcomeStatus::Rejected, Some("lot_above_max")));
}

#[test]
fn closes_in_the_decision_close_the_plugins_positions_or_say_there_were_none() {
    let mut rig = Rig::new(&[]);
    rig.send(entry("open", "PY"));
    let (call, ..) = rig.wire.take_calls().remove(0);
    let order = json!({"symbol": "XAUUSD", "side": "buy", "lot": "0.1", "price": "2000"});
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"kind": "executed", "place": [order]})) });
    let exit = json!({"id": "exit", "strategy": "PY", "symbol": "XAUUSD", "action": "close", "price": 2010});
    rig.send(exit.clone());
    let (call, ..) = rig.wire.take_calls().remove(0);
    let close = json!({"kind": "executed", "close": [{"symbol": "XAUUSD"}]});
    rig.event(RemoteEvent::Reply { call, result: Ok(close.clone()) });
    let outcome = rig.stored("exit").unwrap();
    assert_eq!((outcome.status, outcome.closed.len()), (OutcomeStatus::Executed, 1));
    assert!(rig.kernel.status().positions.is_empty());
    assert_eq!(rig.kernel.status().account.realized.to_string(), "100");

    let mut again = exit;
    again["id"] = json!("exit-again");
    rig.send(again);
    let (call, ..) = rig.wire.take_calls().remove(0);
    rig.event(RemoteEvent::Reply { call, result: Ok(close) });
    let outcome = rig.stored("exit-again").unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Ignored, "nothing was open: {outcome:?}");
}

#[test]
fn a_process_plugin_in_shadow_decides_later_on_its_own_book() {
    let wire = Wire::default();
    let clock = TestClock::new("2026-03-02T10:00:00Z".parse().unwrap());
    let mut py = remote_plugin("py", "EXEC", &[], &wire);
    py.meta.mode = crate::config::PluginMode::Shadow;
    let slots = vec![py, slot(manifest("exec", "EXEC", &[]), Box::new(ScriptedPlugin::executor()))];
    let engine = crate::config::EngineConfig { mode: Mode::Hybrid, ..crate::config::EngineConfig::default() };
    let config = KernelConfig { engine, ..KernelConfig::default() };
    let (kernel, store) = kernel(Arc::new(clock.clone()), slots, &config, Arc::default());
    let mut rig = Rig { kernel, store, clock, wire, seq: 0 };

    let outcome = rig.send(entry("b1", "EXEC")).expect("the live plugin does not wait for the shadow one");
    assert_eq!(outcome.plugin.as_ref().map(PluginId::as_str), Some("exec"));
    let (call, method, _) = rig.wire.take_calls().remove(0);
    assert_eq!(method, "process_entry_signal");
    let order = json!({"symbol": "XAUUSD", "side": "buy", "lot": "0.1", "price": "2000"});
    rig.event(RemoteEvent::Reply { call, result: Ok(json!({"kind": "executed", "place": [order]})) });

    let live: Vec<String> = rig.kernel.status().positions.iter().map(|p| p.plugin.to_string()).collect();
    assert_eq!(live, ["exec"], "the shadow plugin's order went to its book, not the venue");
    let book = rig.kernel.services().shadow_positions();
    assert_eq!((book.len(), book[0].signal_id.as_ref().map(SignalId::as_str)), (1, Some("b1")));
    let rows = rig.store.shadow_rows().unwrap();
    let decided: Vec<(&str, OutcomeStatus)> =
        rows.shadow_decisions.iter().map(|d| (d.outcome.plugin.as_ref().unwrap().as_str(), d.outcome.status)).collect();
    assert_eq!(decided, [("py", OutcomeStatus::Executed)]);
    assert_eq!(rig.stored("b1").unwrap().plugin.as_ref().map(PluginId::as_str), Some("exec"), "one outcome per signal");
}

#[test]
fn a_process_plugin_places_dual_orders_and_lists_its_chains_over_the_protocol() {
    let wire = Wire::default();
    let clock = TestClock::new("2026-03-02T10:00:00Z".parse().unwrap());
    let mut py = remote_plugin("py", "PY", &[], &wire);
    py.meta.manifest.capabilities.extend([Capability::DualOrder, Capability::ProfitBooking]);
    let (kernel, store) = kernel(Arc::new(clock.clone()), vec![py], &KernelConfig::default(), Arc::default());
    let mut rig = Rig { kernel, store, clock, wire, seq: 0 };
    let mut ask = |method: &str, params: Value| {
        rig.event(RemoteEvent::Request {
            token: RequestToken { generation: 1, id: json!(1) },
            method: method.into(),
            params,
        });
        rig.wire.answers.lock().unwrap().pop().unwrap().1
    };
    let plan = json!({"split": "0.5", "pyramid": {"levels": [1, 2], "target": {"pips": 10}, "sl_pips": 10}});
    let done = ask(
        "dual_order.place",
        json!({"symbol": "XAUUSD", "side": "buy", "lot": "0.2", "price": "2000", "tp": "2005", "plan": plan}),
    )
    .unwrap();
    assert_eq!(
        (done["a"]["position"]["tp"].as_str(), done["b"]["position"]["tp"].as_str()),
        (Some("2005"), Some("2001")),
        "{done}"
    );
    assert_eq!(done["chain"]["plan"]["levels"], json!([1, 2]));
    let chains = ask("profit_booking.chains", json!({})).unwrap();
    assert_eq!(chains.as_array().map(Vec::len), Some(1));
    let bad =
        ask("profit_booking.start", json!({"symbol": "XAUUSD", "side": "buy", "plan": {"levels": []}})).unwrap_err();
    assert_eq!(bad.code, code::INVALID_PARAMS, "{bad:?}");
    let typo =
        ask("profit_booking.start", json!({"symbol": "XAUUSD", "side": "buy", "plan": {"level": [1]}})).unwrap_err();
    assert!(typo.message.contains("bad plan"), "{typo:?}");
}
