//! Routing (DESIGN §4.4): which plugin receives a signal.
//!
//! 1. `plugin_hint` names a running plugin → that plugin (a hint naming anything else is
//!    unrouted, never silently sent elsewhere);
//! 2. a running plugin whose strategy matches and whose timeframes contain the signal's (a plugin
//!    with no timeframes takes any);
//! 3. the one running plugin whose strategy matches (several → unrouted as ambiguous);
//! 4. otherwise unrouted, with the reason.
//!
//! In steps 2 and 3 live plugins come first: a shadow plugin that shares a strategy with a live
//! one sees its signals by broadcast (DESIGN §4.5), it does not take them from it.

use zepix_model::Signal;

use crate::config::PluginMode;
use crate::lifecycle::PluginState;
use crate::registry::Registry;

/// Where a signal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To the plugin at this registry index.
    To(usize),
    /// Nowhere: a code and a sentence.
    Unrouted {
        /// Stable code.
        code: &'static str,
        /// For humans.
        reason: String,
    },
}

fn unrouted(code: &'static str, reason: String) -> Route {
    Route::Unrouted { code, reason }
}

/// Routes a signal.
#[must_use]
pub fn route(signal: &Signal, registry: &Registry) -> Route {
    let slots = registry.slots();
    if let Some(hint) = &signal.plugin_hint {
        return match registry.index_of(hint) {
            Some(i) if slots[i].state == PluginState::Running => Route::To(i),
            Some(i) => unrouted(
                "plugin_not_running",
                format!("plugin_hint `{hint}` names a plugin that is {}", slots[i].state),
            ),
            None => unrouted("unknown_plugin", format!("plugin_hint `{hint}` names no plugin")),
        };
    }
    let Some(strategy) = &signal.strategy else {
        return unrouted("no_strategy", "the signal names no strategy and no plugin_hint".into());
    };
    let owners: Vec<usize> = (0..slots.len())
        .filter(|i| slots[*i].meta.manifest.strategy.as_ref().is_some_and(|s| s.eq_ignore_ascii_case(strategy)))
        .collect();
    if owners.is_empty() {
        return unrouted("no_plugin", format!("no plugin owns strategy {strategy}"));
    }
    let mut running: Vec<usize> = owners.iter().copied().filter(|i| slots[*i].state == PluginState::Running).collect();
    if running.iter().any(|i| slots[*i].meta.mode == PluginMode::Live) {
        running.retain(|i| slots[*i].meta.mode == PluginMode::Live);
    }
    if running.is_empty() {
        let states: Vec<String> =
            owners.iter().map(|i| format!("{} is {}", slots[*i].meta.id(), slots[*i].state)).collect();
        return unrouted("plugin_not_running", format!("strategy {strategy}: {}", states.join(", ")));
    }
    let by_timeframe = running.iter().copied().find(|i| {
        let tfs = &slots[*i].meta.manifest.timeframes;
        tfs.is_empty() || signal.timeframe.is_some_and(|tf| tfs.contains(&tf))
    });
    if let Some(i) = by_timeframe {
        return Route::To(i);
    }
    match running.as_slice() {
        [only] => Route::To(*only),
        many => {
            let ids: Vec<&str> = many.iter().map(|i| slots[*i].meta.id().as_str()).collect();
            let tf = signal.timeframe.map_or_else(|| "no timeframe".to_owned(), |t| format!("timeframe {t}"));
            unrouted(
                "ambiguous",
                format!(
                    "strategy {strategy} with {tf}: several plugins could take it ({}); send a matching timeframe or plugin_hint",
                    ids.join(", ")
                ),
            )
        }
    }
}
