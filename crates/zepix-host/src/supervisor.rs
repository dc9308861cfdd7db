//! The supervisor of one process plugin: it starts the process and initializes it, writes the
//! kernel's calls and answers, enforces each call's deadline, restarts a failed process with
//! backoff, pings an idle one, and swaps in a new version on reload.
//!
//! It guarantees the kernel one [`RemoteEvent::Reply`] per call, whatever happens to the process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use zepix_model::PluginId;
use zepix_plugin::remote::code;
use zepix_plugin::{CallId, InitInfo, Message, PROTOCOL_VERSION, RemoteEvent, RemoteLink, RequestToken, RpcError};

use crate::process::{Launch, Output, Process, Router, Stdin};

/// Where a plugin's events go (the kernel's input channel).
pub type Sink = Arc<dyn Fn(RemoteEvent) + Send + Sync>;

/// Hears the outcome of a reload.
pub type ReloadDone = Box<dyn FnOnce(Result<InitInfo, String>) + Send>;

/// Everything needed to run one process plugin.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Its id (for logs; its identity is the process).
    pub id: PluginId,
    /// How to start it.
    pub launch: Launch,
    /// The `initialize` params.
    pub init: Value,
    /// Each call's deadline.
    pub call_timeout: Duration,
    /// The sandbox it runs in: `full` or `partial: …`.
    pub sandbox: String,
}

/// Delays before restarting a failed process: 1, 2, 4, then 8 s.
pub const BACKOFF: [Duration; 4] =
    [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4), Duration::from_secs(8)];
/// A process idle this long gets a `health` call.
pub const HEALTH_IDLE: Duration = Duration::from_secs(10);
/// How long a process has to exit after `shutdown`.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The shortest deadline for `initialize` (a cold interpreter start can take a while).
const MIN_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Plugin → engine calls per second, and the burst allowed.
const RATE_PER_SECOND: f64 = 50_000.0;
const RATE_BURST: f64 = 100_000.0;
/// How often the supervisor looks at deadlines while a process runs.
const TICK: Duration = Duration::from_millis(100);

enum Ctl {
    Call(CallId, String, Value),
    Respond(RequestToken, Result<Value, RpcError>),
    Reload(ReloadDone),
    Stop,
}

/// The kernel's handle on a supervised process plugin.
pub struct ProcessLink {
    ctl: mpsc::UnboundedSender<Ctl>,
    hot: Arc<Mutex<Hot>>,
    sink: Sink,
    sandbox: String,
}

impl std::fmt::Debug for ProcessLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessLink").field("sandbox", &self.sandbox).finish_non_exhaustive()
    }
}

impl ProcessLink {
    /// Starts supervising `spec` on `runtime`; events go to `sink`.
    #[must_use]
    pub fn start(runtime: &tokio::runtime::Handle, spec: PluginSpec, sink: Sink) -> Self {
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let sandbox = spec.sandbox.clone();
        let hot = Arc::new(Mutex::new(Hot::new()));
        let supervisor = Supervisor::new(spec, sink.clone(), hot.clone());
        runtime.spawn(supervisor.run(ctl_rx));
        Self { ctl, hot, sink, sandbox }
    }
}

impl RemoteLink for ProcessLink {
    fn call(&self, id: CallId, method: &str, params: Value) {
        {
            let mut hot = lock(&self.hot);
            if let Some((generation, writer)) = hot.serving.clone() {
                let rpc = hot.register(generation, Purpose::Call(id), method);
                // Sent under the lock, so lines leave in the order their calls were registered.
                // A closed pipe means the process is ending: the supervisor then fails the call.
                let request = Message::Request { id: Some(rpc.into()), method: method.to_owned(), params };
                writer.send(&line(&request));
                return;
            }
        }
        if self.ctl.send(Ctl::Call(id, method.to_owned(), params)).is_err() {
            (self.sink)(RemoteEvent::Reply { call: id, result: Err(stopped()) });
        }
    }

    fn respond(&self, token: RequestToken, result: Result<Value, RpcError>) {
        {
            let mut hot = lock(&self.hot);
            // The time the plugin spent waiting for the engine is not its call's own.
            hot.progress.insert(token.generation, Instant::now());
            if let Some((generation, writer)) = &hot.serving
                && *generation == token.generation
            {
                writer.send(&line(&Message::Response { id: token.id, result }));
                return;
            }
        }
        let _ = self.ctl.send(Ctl::Respond(token, result));
    }

    fn reload(&self, done: ReloadDone) {
        if let Err(mpsc::error::SendError(Ctl::Reload(done))) = self.ctl.send(Ctl::Reload(done)) {
            done(Err("the plugin is stopped".into()));
        }
    }

    fn stop(&self) {
        let _ = self.ctl.send(Ctl::Stop);
    }

    fn sandbox(&self) -> String {
        self.sandbox.clone()
    }
}

fn stopped() -> RpcError {
    RpcError::new(code::UNAVAILABLE, "the plugin is stopped")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Init,
    Call(CallId),
    Health,
}

struct Flight {
    generation: u64,
    purpose: Purpose,
    method: String,
}

struct Starting {
    process: Process,
    generation: u64,
    reload: Option<ReloadDone>,
    /// Initialized; waiting for the old version's calls to drain.
    ready: Option<InitInfo>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the link, the supervisor and the readers share: the serving process's writer and every
/// call in flight. Calls and answers to the serving process go straight through it (no hop
/// through the supervisor's task); everything else goes through the supervisor.
struct Hot {
    /// The process taking calls directly: its generation and its writer. `None` while starting,
    /// reloading, restarting or stopped: calls then go through the supervisor, which queues them.
    serving: Option<(u64, Arc<Stdin>)>,
    next_rpc: u64,
    flights: HashMap<u64, Flight>,
    /// Calls in the order sent, with when they were sent. A process handles its calls one at a
    /// time, so only the oldest is timed: from when it was sent or the process last answered,
    /// whichever is later (time spent queued behind a slow call is not the call's own).
    sent: VecDeque<(Instant, u64)>,
    /// When each process last answered.
    progress: HashMap<u64, Instant>,
    last_activity: Instant,
    failures_in_row: usize,
    bucket: Bucket,
}

impl Hot {
    fn new() -> Self {
        Self {
            serving: None,
            next_rpc: 0,
            flights: HashMap::new(),
            sent: VecDeque::new(),
            progress: HashMap::new(),
            last_activity: Instant::now(),
            failures_in_row: 0,
            bucket: Bucket { tokens: RATE_BURST, at: Instant::now() },
        }
    }

    fn register(&mut self, generation: u64, purpose: Purpose, method: &str) -> u64 {
        self.next_rpc += 1;
        let now = Instant::now();
        self.flights.insert(self.next_rpc, Flight { generation, purpose, method: method.to_owned() });
        self.sent.push_back((now, self.next_rpc));
        self.last_activity = now;
        self.next_rpc
    }

    /// Takes an answered call out of the table.
    fn answered(&mut self, generation: u64, id: u64, ok: bool) -> Option<Flight> {
        let flight = self.flights.remove(&id)?;
        let now = Instant::now();
        self.last_activity = now;
        self.progress.insert(generation, now);
        if ok && matches!(flight.purpose, Purpose::Call(_)) {
            self.failures_in_row = 0;
        }
        Some(flight)
    }

    /// The oldest call in flight: since when it is its own, and what it is.
    fn oldest(&mut self) -> Option<(Instant, Purpose, u64)> {
        while let Some((sent, id)) = self.sent.front().copied() {
            if let Some(flight) = self.flights.get(&id) {
                let since = self.progress.get(&flight.generation).map_or(sent, |p| sent.max(*p));
                return Some((since, flight.purpose, id));
            }
            self.sent.pop_front();
        }
        None
    }

    /// Whether a plugin → engine call is within the rate limit. A plugin that asks is working,
    /// not stuck: its call's deadline restarts.
    fn admit(&mut self, generation: u64) -> bool {
        let now = Instant::now();
        self.last_activity = now;
        self.progress.insert(generation, now);
        self.bucket.take()
    }
}

fn lock(hot: &Mutex<Hot>) -> MutexGuard<'_, Hot> {
    // The table stays consistent at every unlock; a panic elsewhere does not make it wrong.
    hot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rate_limited() -> RpcError {
    RpcError::new(code::RATE_LIMITED, format!("over {RATE_PER_SECOND} calls a second"))
}

fn line(message: &Message) -> Vec<u8> {
    let mut line = message.to_line().into_bytes();
    line.push(b'\n');
    line
}

/// The readers' fast path: answers to calls and requests from the serving process go straight
/// to the kernel; anything else (initialize, health, a process being replaced) goes back to the
/// supervisor.
fn fast_router(hot: Arc<Mutex<Hot>>, sink: Sink) -> Router {
    Arc::new(move |generation, message| {
        let mut h = lock(&hot);
        let Some((serving, writer)) = h.serving.clone() else { return Some(message) };
        if serving != generation {
            return Some(message);
        }
        match message {
            Message::Response { id, result } => {
                let rpc = id.as_u64();
                let is_call =
                    rpc.and_then(|r| h.flights.get(&r)).is_some_and(|f| matches!(f.purpose, Purpose::Call(_)));
                let flight = if is_call { rpc.and_then(|r| h.answered(generation, r, result.is_ok())) } else { None };
                drop(h);
                match flight.map(|f| f.purpose) {
                    Some(Purpose::Call(call)) => {
                        sink(RemoteEvent::Reply { call, result });
                        None
                    }
                    _ => Some(Message::Response { id, result }),
                }
            }
            Message::Request { id: Some(id), method, params } => {
                if !h.admit(generation) {
                    drop(h);
                    writer.send(&line(&Message::Response { id, result: Err(rate_limited()) }));
                    return None;
                }
                drop(h);
                sink(RemoteEvent::Request { token: RequestToken { generation, id }, method, params });
                None
            }
            other => Some(other),
        }
    })
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * RATE_PER_SECOND).min(RATE_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Supervisor {
    spec: PluginSpec,
    sink: Sink,
    events_tx: mpsc::UnboundedSender<(u64, Output)>,
    events: mpsc::UnboundedReceiver<(u64, Output)>,
    generations: u64,
    current: Option<(u64, Process)>,
    starting: Option<Starting>,
    hot: Arc<Mutex<Hot>>,
    queue: VecDeque<(CallId, String, Value)>,
    restart_at: Option<Instant>,
    reloads_waiting: Vec<ReloadDone>,
    dormant: bool,
}

impl Supervisor {
    fn new(spec: PluginSpec, sink: Sink, hot: Arc<Mutex<Hot>>) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        Self {
            spec,
            sink,
            events_tx,
            events,
            generations: 0,
            current: None,
            starting: None,
            hot,
            queue: VecDeque::new(),
            restart_at: None,
            reloads_waiting: Vec::new(),
            dormant: false,
        }
    }

    fn hot(&self) -> MutexGuard<'_, Hot> {
        lock(&self.hot)
    }

    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        self.start_process(None);
        loop {
            let deadline = self.next_deadline().map(|(at, _)| at);
            // Calls may enter the flight table through the link's fast path while this task
            // sleeps: look at the deadlines at least every TICK while a process runs.
            let tick = (self.current.is_some() || self.starting.is_some()).then(|| Instant::now() + TICK);
            let wake = self.restart_at.into_iter().chain(deadline).chain(self.health_due()).chain(tick).min();
            tokio::select! {
                command = ctl.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some((generation, output)) = self.events.recv() => self.on_output(generation, output),
                () = sleep_until(wake) => self.on_timer(),
            }
        }
        self.go_dormant("the engine is stopping");
    }

    fn on_command(&mut self, command: Ctl) {
        match command {
            Ctl::Call(call, method, params) => {
                let draining = self.starting.as_ref().is_some_and(|s| s.ready.is_some());
                if self.dormant {
                    (self.sink)(RemoteEvent::Reply { call, result: Err(stopped()) });
                } else if self.current.is_some() && !draining {
                    self.send_call(call, method, params);
                } else if self.restart_at.is_some() {
                    let why = "the plugin is restarting after a failure";
                    (self.sink)(RemoteEvent::Reply { call, result: Err(RpcError::new(code::UNAVAILABLE, why)) });
                } else {
                    self.queue.push_back((call, method, params));
                }
            }
            Ctl::Respond(token, result) => {
                let target = match (&self.current, &self.starting) {
                    (Some((g, p)), _) if *g == token.generation => Some(p),
                    (_, Some(s)) if s.generation == token.generation => Some(&s.process),
                    _ => None,
                };
                if let Some(process) = target {
                    process.send(&Message::Response { id: token.id, result });
                }
            }
            Ctl::Reload(done) => {
                if self.starting.is_some() {
                    // After the start in progress: a reload asked for now wants the code as it
                    // is now, which that start may have read before it changed.
                    self.reloads_waiting.push(done);
                } else {
                    // Not running (stopped, or backing off after a failure): a reload starts it now.
                    self.dormant = false;
                    self.restart_at = None;
                    self.start_process(Some(done));
                }
            }
            Ctl::Stop => self.go_dormant("the plugin is stopped"),
        }
    }

    fn rpc(&self, generation: u64, purpose: Purpose, method: &str) -> u64 {
        self.hot().register(generation, purpose, method)
    }

    fn timeout(&self, purpose: Purpose) -> Duration {
        match purpose {
            Purpose::Init => self.spec.call_timeout.max(MIN_INIT_TIMEOUT),
            _ => self.spec.call_timeout,
        }
    }

    fn send_call(&mut self, call: CallId, method: String, params: Value) {
        let Some(generation) = self.current.as_ref().map(|(g, _)| *g) else { return };
        let id = self.rpc(generation, Purpose::Call(call), &method);
        if let Some((_, process)) = &self.current {
            process.send(&Message::Request { id: Some(id.into()), method, params });
        }
    }

    fn start_process(&mut self, reload: Option<ReloadDone>) {
        self.generations += 1;
        let generation = self.generations;
        let router = fast_router(self.hot.clone(), self.sink.clone());
        match Process::spawn(&self.spec.launch, &self.spec.id, generation, self.events_tx.clone(), router) {
            Ok(process) => {
                let id = self.rpc(generation, Purpose::Init, "initialize");
                process.send(&Message::Request {
                    id: Some(id.into()),
                    method: "initialize".into(),
                    params: self.spec.init.clone(),
                });
                self.starting = Some(Starting { process, generation, reload, ready: None });
            }
            Err(e) => {
                let reason = format!("cannot start {}: {e}", self.spec.launch.program.display());
                self.start_failed(reload, reason);
            }
        }
    }

    fn start_failed(&mut self, reload: Option<ReloadDone>, reason: String) {
        match reload {
            Some(done) if self.current.is_some() => done(Err(reason)),
            Some(done) => {
                done(Err(reason.clone()));
                self.failed(reason);
            }
            None => self.failed(reason),
        }
        self.next_reload();
    }

    /// Starts the reloads that waited for a start in progress, as one.
    fn next_reload(&mut self) {
        if self.starting.is_some() || self.dormant || self.reloads_waiting.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.reloads_waiting);
        self.restart_at = None;
        self.start_process(Some(Box::new(move |result: Result<InitInfo, String>| {
            for done in waiting {
                done(result.clone());
            }
        })));
    }

    /// Counts a failure and schedules a restart.
    fn failed(&mut self, reason: String) {
        tracing::warn!(plugin = %self.spec.id, "{reason}");
        (self.sink)(RemoteEvent::Failed { reason });
        let delay = {
            let mut hot = self.hot();
            let delay = BACKOFF[hot.failures_in_row.min(BACKOFF.len() - 1)];
            hot.failures_in_row += 1;
            delay
        };
        self.restart_at = Some(Instant::now() + delay);
        for (call, ..) in std::mem::take(&mut self.queue) {
            let error = RpcError::new(code::UNAVAILABLE, "the plugin is restarting after a failure");
            (self.sink)(RemoteEvent::Reply { call, result: Err(error) });
        }
    }

    fn on_output(&mut self, generation: u64, output: Output) {
        match output {
            Output::Message(Message::Response { id, result }) => self.on_response(generation, &id, result),
            Output::Message(Message::Request { id: None, method, params }) => {
                if method == "log" {
                    log_from_plugin(&self.spec.id, &params);
                }
            }
            Output::Message(Message::Request { id: Some(id), method, params }) => {
                self.on_request(generation, id, method, params);
            }
            Output::Invalid(_, error) => {
                self.process_ended(generation, format!("protocol error: {}", error.message), None);
            }
            Output::Fatal(reason) => self.process_ended(generation, reason, None),
            Output::Closed => self.process_ended(generation, "the process exited".into(), None),
        }
    }

    fn on_request(&mut self, generation: u64, id: Value, method: String, params: Value) {
        let token = RequestToken { generation, id };
        if !self.hot().admit(generation) {
            self.on_command(Ctl::Respond(token, Err(rate_limited())));
            return;
        }
        (self.sink)(RemoteEvent::Request { token, method, params });
    }

    fn on_response(&mut self, generation: u64, id: &Value, result: Result<Value, RpcError>) {
        let Some(flight) = id.as_u64().and_then(|id| self.hot().answered(generation, id, result.is_ok())) else {
            self.process_ended(generation, format!("protocol error: a response to an unknown id {id}"), None);
            return;
        };
        match flight.purpose {
            Purpose::Call(call) => {
                (self.sink)(RemoteEvent::Reply { call, result });
                self.maybe_switch();
            }
            Purpose::Health => {
                if let Err(e) = result {
                    self.process_ended(generation, format!("health check failed: {e}"), None);
                }
            }
            Purpose::Init => self.on_initialized(generation, result),
        }
    }

    fn on_initialized(&mut self, generation: u64, result: Result<Value, RpcError>) {
        let Some(starting) = self.starting.as_mut().filter(|s| s.generation == generation) else { return };
        let info = result
            .map_err(|e| match e.code {
                code::UNSUPPORTED_PROTOCOL => format!(
                    "the plugin speaks none of the protocol versions this engine offers ({PROTOCOL_VERSION}): {}",
                    e.data.map(|d| d.to_string()).unwrap_or_default()
                ),
                _ => format!("initialize failed: {e}"),
            })
            .and_then(|v| serde_json::from_value::<InitInfo>(v).map_err(|e| format!("bad initialize answer: {e}")))
            .and_then(|info| {
                if info.protocol == PROTOCOL_VERSION {
                    Ok(info)
                } else {
                    Err(format!("the plugin chose protocol {}, this engine speaks {PROTOCOL_VERSION}", info.protocol))
                }
            });
        match info {
            Ok(info) => {
                starting.ready = Some(info);
                // From now on calls wait for the switch in the supervisor's queue.
                self.hot().serving = None;
                self.maybe_switch();
            }
            Err(reason) => {
                if let Some(mut s) = self.starting.take() {
                    s.process.kill();
                    self.start_failed(s.reload, reason);
                }
            }
        }
    }

    /// Makes an initialized process current once the old one has no calls in flight.
    fn maybe_switch(&mut self) {
        let Some(starting) = &self.starting else { return };
        if starting.ready.is_none() {
            return;
        }
        if let Some((old, _)) = &self.current {
            let old = *old;
            if self.hot().flights.values().any(|f| f.generation == old && matches!(f.purpose, Purpose::Call(_))) {
                return;
            }
        }
        let Some(Starting { process, generation, reload, ready: Some(info) }) = self.starting.take() else {
            return;
        };
        let writer = process.writer();
        if let Some((old, previous)) = self.current.replace((generation, process)) {
            self.hot().flights.retain(|_, f| f.generation != old);
            retire(previous);
        }
        self.restart_at = None;
        let reloaded = reload.is_some();
        tracing::info!(plugin = %self.spec.id, generation, reloaded, "plugin process ready");
        (self.sink)(RemoteEvent::Ready { info: info.clone(), generation, reloaded });
        if let Some(done) = reload {
            done(Ok(info));
        }
        // The queued calls go out and the fast path opens in one step: no newer call can pass an
        // older one, and every answer of this process takes the same path (so none overtakes
        // another on its way to the kernel).
        {
            let mut hot = lock(&self.hot);
            for (call, method, params) in std::mem::take(&mut self.queue) {
                let id = hot.register(generation, Purpose::Call(call), &method);
                writer.send(&line(&Message::Request { id: Some(id.into()), method, params }));
            }
            hot.serving = Some((generation, writer));
        }
        self.next_reload();
    }

    /// A process ended or broke the protocol: its calls fail; the current one counts a failure.
    fn process_ended(&mut self, generation: u64, reason: String, timed_out: Option<u64>) {
        if self.starting.as_ref().is_some_and(|s| s.generation == generation) {
            if let Some(mut s) = self.starting.take() {
                s.process.kill();
                self.hot().flights.retain(|_, f| f.generation != generation);
                self.start_failed(s.reload, format!("the new process failed to start: {reason}"));
            }
            return;
        }
        if self.current.as_ref().is_none_or(|(g, _)| *g != generation) {
            return;
        }
        if let Some((_, mut process)) = self.current.take() {
            process.kill();
        }
        let failed: Vec<(u64, Flight)> = {
            let mut hot = self.hot();
            hot.serving = None;
            let mut ids: Vec<u64> =
                hot.flights.iter().filter(|(_, f)| f.generation == generation).map(|(id, _)| *id).collect();
            ids.sort_unstable();
            ids.into_iter().filter_map(|id| hot.flights.remove(&id).map(|f| (id, f))).collect()
        };
        for (id, flight) in failed {
            if let Purpose::Call(call) = flight.purpose {
                let error = if Some(id) == timed_out {
                    RpcError::new(code::TIMEOUT, reason.clone())
                } else {
                    RpcError::new(code::UNAVAILABLE, format!("the plugin process failed: {reason}"))
                };
                (self.sink)(RemoteEvent::Reply { call, result: Err(error) });
            }
        }
        if self.starting.as_ref().is_some_and(|s| s.ready.is_some()) {
            // A reload was waiting for this process to drain: the new version takes over.
            (self.sink)(RemoteEvent::Failed { reason });
            self.maybe_switch();
        } else {
            self.failed(reason);
        }
    }

    /// The oldest call's deadline, and the call.
    fn next_deadline(&self) -> Option<(Instant, u64)> {
        let mut hot = self.hot();
        let (since, purpose, id) = hot.oldest()?;
        Some((since + self.timeout(purpose), id))
    }

    fn health_due(&self) -> Option<Instant> {
        let (generation, _) = self.current.as_ref()?;
        let hot = self.hot();
        let busy = hot.flights.values().any(|f| f.generation == *generation);
        (!busy).then_some(hot.last_activity + HEALTH_IDLE)
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.restart_at.is_some_and(|at| at <= now) && self.current.is_none() && self.starting.is_none() {
            self.restart_at = None;
            self.start_process(None);
        }
        while let Some((at, id)) = self.next_deadline() {
            if at > now {
                break;
            }
            let Some((generation, method, purpose)) =
                self.hot().flights.get(&id).map(|f| (f.generation, f.method.clone(), f.purpose))
            else {
                break;
            };
            let reason = format!("call `{method}` timed out after {} ms", self.timeout(purpose).as_millis());
            self.process_ended(generation, reason, Some(id));
        }
        if self.health_due().is_some_and(|at| at <= now)
            && let Some(generation) = self.current.as_ref().map(|(g, _)| *g)
        {
            let id = self.rpc(generation, Purpose::Health, "health");
            if let Some((_, process)) = &self.current {
                process.send(&Message::Request { id: Some(id.into()), method: "health".into(), params: json!({}) });
            }
            self.hot().last_activity = now;
        }
    }

    /// Fails every call, stops every process and starts nothing until a reload.
    fn go_dormant(&mut self, why: &str) {
        self.dormant = true;
        self.restart_at = None;
        let error = || RpcError::new(code::UNAVAILABLE, why);
        let mut flights: Vec<(u64, Flight)> = {
            let mut hot = self.hot();
            hot.serving = None;
            hot.sent.clear();
            hot.progress.clear();
            hot.flights.drain().collect()
        };
        flights.sort_unstable_by_key(|(id, _)| *id);
        for (_, flight) in flights {
            if let Purpose::Call(call) = flight.purpose {
                (self.sink)(RemoteEvent::Reply { call, result: Err(error()) });
            }
        }
        for (call, ..) in self.queue.drain(..) {
            (self.sink)(RemoteEvent::Reply { call, result: Err(error()) });
        }
        if let Some(s) = self.starting.take() {
            if let Some(done) = s.reload {
                done(Err(why.to_owned()));
            }
            retire(s.process);
        }
        for done in self.reloads_waiting.drain(..) {
            done(Err(why.to_owned()));
        }
        if let Some((_, process)) = self.current.take() {
            retire(process);
        }
    }
}

/// Asks a process to shut down and kills it if it has not exited after the grace period.
fn retire(process: Process) {
    process.send(&Message::Request { id: Some(0.into()), method: "shutdown".into(), params: json!({}) });
    tokio::spawn(process.finish(SHUTDOWN_GRACE));
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn log_from_plugin(plugin: &PluginId, params: &Value) {
    let message = params.get("message").and_then(Value::as_str).unwrap_or_default();
    match params.get("level").and_then(Value::as_str).unwrap_or("info") {
        "error" => tracing::error!(plugin = %plugin, "{message}"),
        "warning" | "warn" => tracing::warn!(plugin = %plugin, "{message}"),
        "debug" => tracing::debug!(plugin = %plugin, "{message}"),
        _ => tracing::info!(plugin = %plugin, "{message}"),
    }
}
