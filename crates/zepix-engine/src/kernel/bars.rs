//! Market data through the kernel: a closed bar moves the venue (SL and TP inside its range),
//! then reaches every strategy plugin subscribed to its feed; the signals they emit are stamped
//! with an id and handed back for the inbox (live) or for processing at once (backtest).

use serde_json::{Value, json};
use zepix_model::{Bar, Feed, PluginId, Signal, SignalId};
use zepix_plugin::{RpcError, manifest::Role};

use super::{Kernel, Pending};
use crate::lifecycle::PluginState;
use crate::registry::PluginSlot;

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

impl Kernel {
    /// A closed bar: the venue checks stops and targets against its range and takes its close as
    /// the price, then each subscribed strategy plugin sees it. Built-in plugins answer at once;
    /// process plugins answer later ([`Kernel::bars_pending`]). What they emit waits in
    /// [`Kernel::take_emitted`].
    pub fn on_bar(&mut self, feed: &Feed, bar: &Bar) {
        self.tick();
        let closed = self.services.mark_bar(&feed.symbol, bar);
        if !closed.is_empty() {
            self.dispatch_closes(&closed);
        }
        for index in 0..self.registry.slots().len() {
            if !subscribes(&self.registry.slots()[index], feed) {
                continue;
            }
            if self.registry.slots()[index].remote.is_some() {
                let params = json!({"feed": feed, "bar": bar});
                let (feed, bar) = (feed.clone(), *bar);
                self.send(index, "on_bar", params, |index| Pending::Bar { index, feed, bar });
                continue;
            }
            let before = self.services.emitted_len();
            let _ = self.invoke(index, None, |p, ctx| p.on_bar(feed, bar, ctx));
            self.stamp_emitted(before, feed, bar);
        }
    }

    /// A process plugin's answer to `on_bar`: `{"signals": [alert, …]}` (or nothing), each alert
    /// in the webhook's format. A malformed answer counts as a failure and emits nothing.
    pub(super) fn on_bar_reply(&mut self, index: usize, feed: &Feed, bar: &Bar, result: Result<Value, RpcError>) {
        let value = match result {
            Ok(v) => v,
            Err(e) => {
                self.remote_error(index, &e);
                return;
            }
        };
        let alerts = match value.get("signals") {
            None | Some(Value::Null) => return,
            Some(Value::Array(list)) => list.clone(),
            Some(other) => {
                self.record_failure(index, format!("on_bar: `signals` must be a list of signals, got {other}"));
                return;
            }
        };
        let mut signals = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let body = alert.to_string();
            match zepix_model::signal::parse_alert(body.as_bytes(), bar.time) {
                Ok(parsed) => signals.push(parsed.signal),
                Err(e) => {
                    self.record_failure(index, format!("on_bar: a bad signal ({e}); none of this bar's were emitted"));
                    return;
                }
            }
        }
        let plugin = self.registry.slots()[index].meta.id().clone();
        let before = self.services.emitted_len();
        for signal in signals {
            self.services.emit(plugin.clone(), signal);
        }
        self.stamp_emitted(before, feed, bar);
    }

    fn stamp_emitted(&mut self, before: usize, feed: &Feed, bar: &Bar) {
        for (n, (plugin, signal)) in self.services.emitted_since(before).iter_mut().enumerate() {
            stamp(plugin, feed, bar, n, signal);
        }
    }

    /// Signals strategy plugins emitted since the last call, with their plugin, in order.
    pub fn take_emitted(&mut self) -> Vec<(PluginId, Signal)> {
        self.services.take_emitted()
    }

    /// Bars sent to process plugins and not yet answered.
    #[must_use]
    pub fn bars_pending(&self) -> usize {
        self.pending.values().filter(|p| matches!(p, Pending::Bar { .. })).count()
    }
}
