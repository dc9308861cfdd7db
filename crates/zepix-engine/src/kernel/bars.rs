//! Market data through the kernel: a closed bar moves the venue (SL and TP inside its range),
//! then reaches every strategy plugin subscribed to its feed; the signals they emit are stamped
//! with an id and handed back for the inbox (live) or for processing at once (backtest).
//!
//! A backtest may send process plugins their bars ahead in batches ([`Kernel::send_bars`]), then
//! move the venue bar by bar ([`Kernel::on_bar_local`]) taking each bar's signals as it goes
//! ([`Kernel::take_emitted_through`]): one round trip per batch instead of one per bar.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use zepix_model::{Bar, Feed, PluginId, Signal, SignalId};
use zepix_plugin::{RpcError, manifest::Role};

use super::{Kernel, Pending};
use crate::lifecycle::PluginState;
use crate::registry::PluginSlot;

/// A signal a plugin emitted, with the open time of the bar it was emitted on (none when it came
/// from `signals.emit` outside `on_bar`).
#[derive(Debug, Clone)]
pub(super) struct Emitted {
    plugin: PluginId,
    signal: Signal,
    bar: Option<DateTime<Utc>>,
}

/// Whether a running strategy plugin takes this feed's bars: its symbols (config or manifest)
/// and its manifest's timeframes, empty meaning any.
fn subscribes(slot: &PluginSlot, feed: &Feed) -> bool {
    slot.state == PluginState::Running
        && slot.meta.manifest.roles.contains(&Role::Strategy)
        && (slot.meta.symbols.is_empty() || slot.meta.symbols.contains(&feed.symbol))
        && (slot.meta.manifest.timeframes.is_empty() || slot.meta.manifest.timeframes.contains(&feed.timeframe))
}

/// Gives an emitted signal its id (`plugin:SYMBOL:tf:bar-open-epoch:n`, the same on a replay of
/// the same bar) and fills what it left out from the feed and the bar.
fn stamp(plugin: &PluginId, feed: &Feed, bar: &Bar, n: usize, signal: &mut Signal) {
    let id = format!("{plugin}:{}:{}:{}:{n}", feed.symbol, feed.timeframe, bar.time.timestamp());
    if let Ok(id) = SignalId::new(id) {
        signal.id = id;
    }
    signal.symbol.get_or_insert_with(|| feed.symbol.clone());
    signal.timeframe.get_or_insert(feed.timeframe);
    signal.price.get_or_insert(bar.close);
    signal.timestamp.get_or_insert(bar.time + feed.timeframe.duration());
}

/// The alerts of a process plugin's answer as signals, what they leave out taken from the feed
/// and the bar; a bad one fails them all.
fn parse_alerts(alerts: &[Value], feed: &Feed, bar: &Bar) -> Result<Vec<Signal>, String> {
    alerts
        .iter()
        .map(|alert| {
            let mut alert = alert.clone();
            if let Some(obj) = alert.as_object_mut() {
                obj.entry("symbol").or_insert_with(|| json!(feed.symbol));
                obj.entry("timeframe").or_insert_with(|| json!(feed.timeframe));
                obj.entry("price").or_insert_with(|| json!(bar.close));
            }
            zepix_model::signal::parse_alert(alert.to_string().as_bytes(), bar.time)
                .map(|parsed| parsed.signal)
                .map_err(|e| format!("a bad signal ({e})"))
        })
        .collect()
}

impl Kernel {
    /// A closed bar: the venue checks stops and targets against its range and takes its close as
    /// the price, then each subscribed strategy plugin sees it. Built-in plugins answer at once;
    /// process plugins answer later ([`Kernel::bars_pending`]). What they emit waits in
    /// [`Kernel::take_emitted`].
    pub fn on_bar(&mut self, feed: &Feed, bar: &Bar) {
        self.bar_to(feed, bar, true);
    }

    /// As [`Kernel::on_bar`], but process plugins are skipped: they had the bar in a batch from
    /// [`Kernel::send_bars`].
    pub fn on_bar_local(&mut self, feed: &Feed, bar: &Bar) {
        self.bar_to(feed, bar, false);
    }

    fn bar_to(&mut self, feed: &Feed, bar: &Bar, remote_too: bool) {
        self.tick();
        // A re-entry trigger or a shield's hedge can come with a bar that closed nothing.
        let closed = self.services.mark_bar(&feed.symbol, bar);
        self.dispatch_closes(closed);
        for index in 0..self.registry.slots().len() {
            if !subscribes(&self.registry.slots()[index], feed) {
                continue;
            }
            if self.registry.slots()[index].remote.is_some() {
                if remote_too {
                    let params = json!({"feed": feed, "bar": bar});
                    let (feed, bar) = (feed.clone(), *bar);
                    self.send(index, "on_bar", params, |index| Pending::Bar { index, feed, bar });
                }
                continue;
            }
            let before = self.services.emitted_len();
            let _ = self.invoke(index, None, |p, ctx| p.on_bar(feed, bar, ctx));
            let emitted = self.services.take_emitted_from(before);
            self.keep_emitted(feed, bar, emitted);
        }
    }

    /// Sends a batch of bars (in time order) to every subscribed process plugin ahead of the
    /// venue: `on_bars` where the plugin lists it in its handshake, else one `on_bar` per bar.
    /// Nothing else moves; [`Kernel::on_bar_local`] then replays the batch bar by bar.
    pub fn send_bars(&mut self, feed: &Feed, bars: &[Bar]) {
        for index in 0..self.registry.slots().len() {
            let slot = &self.registry.slots()[index];
            let Some(remote) = slot.remote.as_ref().filter(|_| subscribes(slot, feed)) else { continue };
            if remote.has_hook("on_bars") {
                let params = json!({"feed": feed, "bars": bars});
                let (feed, bars) = (feed.clone(), bars.to_vec());
                self.send(index, "on_bars", params, |index| Pending::Bars { index, feed, bars });
            } else {
                for bar in bars {
                    let params = json!({"feed": feed, "bar": bar});
                    let (feed, bar) = (feed.clone(), *bar);
                    self.send(index, "on_bar", params, |index| Pending::Bar { index, feed, bar });
                }
            }
        }
    }

    /// The signals in a process plugin's answer, or `None` after recording why it failed.
    fn answer_signals(&mut self, index: usize, method: &str, result: Result<Value, RpcError>) -> Option<Vec<Value>> {
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                self.remote_error(index, &e);
                return None;
            }
        };
        match value.get("signals") {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(list)) => Some(list.clone()),
            Some(other) => {
                self.record_failure(index, format!("{method}: `signals` must be a list, got {other}"));
                None
            }
        }
    }

    /// A process plugin's answer to `on_bar`: `{"signals": [alert, …]}` (or nothing), each alert
    /// in the webhook's format. A malformed answer counts as a failure and emits nothing.
    pub(super) fn on_bar_reply(&mut self, index: usize, feed: &Feed, bar: &Bar, result: Result<Value, RpcError>) {
        let Some(alerts) = self.answer_signals(index, "on_bar", result) else { return };
        match parse_alerts(&alerts, feed, bar) {
            Ok(signals) => {
                let plugin = self.registry.slots()[index].meta.id().clone();
                self.keep_emitted(feed, bar, signals.into_iter().map(|s| (plugin.clone(), s)).collect());
            }
            Err(e) => self.record_failure(index, format!("on_bar: {e}; none of this bar's were emitted")),
        }
    }

    /// A process plugin's answer to `on_bars`: `{"signals": [{"bar": i, "signal": alert}, …]}`
    /// with `i` the index of the bar in the batch. A malformed answer fails the whole batch.
    pub(super) fn on_bars_reply(&mut self, index: usize, feed: &Feed, bars: &[Bar], result: Result<Value, RpcError>) {
        let Some(items) = self.answer_signals(index, "on_bars", result) else { return };
        let mut by_bar: Vec<(usize, Signal)> = Vec::with_capacity(items.len());
        for item in &items {
            let bar = item.get("bar").and_then(Value::as_u64).and_then(|i| usize::try_from(i).ok());
            let Some(i) = bar.filter(|i| *i < bars.len()) else {
                let msg = format!("on_bars: each signal needs `bar`, an index below {}, got {item}", bars.len());
                self.record_failure(index, msg);
                return;
            };
            match parse_alerts(std::slice::from_ref(item.get("signal").unwrap_or(&Value::Null)), feed, &bars[i]) {
                Ok(mut one) => by_bar.extend(one.pop().map(|s| (i, s))),
                Err(e) => {
                    self.record_failure(index, format!("on_bars: {e}; none of this batch's were emitted"));
                    return;
                }
            }
        }
        // Each bar's signals together, so their ids count from 0 on every bar.
        let plugin = self.registry.slots()[index].meta.id().clone();
        let mut group: Vec<(PluginId, Signal)> = Vec::new();
        let mut items = by_bar.into_iter().peekable();
        while let Some((i, signal)) = items.next() {
            group.push((plugin.clone(), signal));
            if items.peek().is_none_or(|(next, _)| *next != i) {
                self.keep_emitted(feed, &bars[i], std::mem::take(&mut group));
            }
        }
    }

    fn keep_emitted(&mut self, feed: &Feed, bar: &Bar, signals: Vec<(PluginId, Signal)>) {
        for (n, (plugin, mut signal)) in signals.into_iter().enumerate() {
            stamp(&plugin, feed, bar, n, &mut signal);
            self.emitted.push(Emitted { plugin, signal, bar: Some(bar.time) });
        }
    }

    /// Signals plugins emitted since the last call, with their plugin, in order.
    pub fn take_emitted(&mut self) -> Vec<(PluginId, Signal)> {
        self.take_emitted_through(DateTime::<Utc>::MAX_UTC)
    }

    /// The signals emitted on bars that opened at or before `time` (and any emitted outside a
    /// bar), in order; later bars' signals stay.
    pub fn take_emitted_through(&mut self, time: DateTime<Utc>) -> Vec<(PluginId, Signal)> {
        if self.emitted.is_empty() && self.services.emitted_len() == 0 {
            return Vec::new();
        }
        let loose = self.services.take_emitted_from(0);
        let mut out: Vec<(PluginId, Signal)> = loose;
        let (now, later): (Vec<Emitted>, Vec<Emitted>) =
            std::mem::take(&mut self.emitted).into_iter().partition(|e| e.bar.is_none_or(|t| t <= time));
        self.emitted = later;
        out.extend(now.into_iter().map(|e| (e.plugin, e.signal)));
        out
    }

    /// Whether every process plugin that is running has finished its handshake (a backtest waits
    /// for this, so batches go to plugins that said they take them).
    #[must_use]
    pub fn remotes_ready(&self) -> bool {
        self.registry
            .slots()
            .iter()
            .filter(|s| s.state == PluginState::Running)
            .all(|s| s.remote.as_ref().is_none_or(|r| r.info.is_some()))
    }

    /// Bars sent to process plugins and not yet answered.
    #[must_use]
    pub fn bars_pending(&self) -> usize {
        self.pending.values().filter(|p| matches!(p, Pending::Bar { .. } | Pending::Bars { .. })).count()
    }
}
