//! The template's logic: a confidence filter, a per-symbol position cap, and the context calls a
//! typical plugin makes.

use zepix_model::{Level, Signal};
use zepix_plugin::{Decision, NotifyLevel, Plugin, PluginContext, PluginResult};

use super::STRATEGY;
use super::config::TemplateConfig;
use crate::common::{describe, entry_intent};

/// The example plugin. Keep state here (counters, last decisions); it lives as long as the plugin
/// runs and is shown through [`Plugin::status`].
#[derive(Debug, Clone)]
pub struct TemplatePlugin {
    config: TemplateConfig,
    refused: u64,
}

impl TemplatePlugin {
    /// A plugin with this config.
    #[must_use]
    pub fn new(config: TemplateConfig) -> Self {
        Self { config, refused: 0 }
    }

    /// Returns a rejection, counting it and telling the operator when configured to. Returning
    /// `Decision::rejected` (not an error) is how a filter says no: it is stored with the signal
    /// and does not count toward disabling the plugin.
    fn refuse(&mut self, reason: String, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        self.refused += 1;
        if self.config.notify_rejections {
            ctx.notify(NotifyLevel::Info, &format!("{STRATEGY}: {reason}"))?;
        }
        Ok(Decision::rejected(reason))
    }
}

impl Plugin for TemplatePlugin {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        // 1. The order the alert asks for (symbol, side, price, levels, size), or a rejection
        //    saying what it lacks.
        let mut intent = match entry_intent(signal) {
            Ok(intent) => intent,
            Err(rejection) => return Ok(rejection),
        };

        // 2. A filter on a custom alert field. Fields the engine does not know are kept in
        //    `signal.extra`; `extra_decimal` reads numbers and numeric strings.
        match signal.extra_decimal("confidence") {
            Some(c) if c >= self.config.min_confidence => {}
            Some(c) => {
                return self.refuse(format!("confidence {} below {}", c.normalize(), self.config.min_confidence), ctx);
            }
            None => return self.refuse("confidence missing: the alert has no `confidence` field".into(), ctx),
        }

        // 3. A service call: the plugin's own open positions on the symbol (`positions`). The
        //    `?` hands a refused call back to the engine, which records it.
        let open = ctx.positions(Some(&intent.symbol))?.len();
        if open >= self.config.max_open_per_symbol as usize {
            let max = self.config.max_open_per_symbol;
            return self.refuse(format!("{open} open on {} already (max {max})", intent.symbol), ctx);
        }

        // 4. Filling gaps: the last known price (`market_data`) when the alert has none, and a
        //    default stop distance. Pip levels become prices at the fill.
        if intent.price.is_none() {
            intent.price = ctx.last_price(&intent.symbol)?;
        }
        if intent.sl.is_none() {
            intent.sl = self.config.default_sl().map(Level::Pips);
        }

        // 5. The order (`orders`). A risk-gate refusal comes back as an error with a `RiskCode`;
        //    passing it up with `?` stores it as the signal's outcome.
        intent.comment = format!("{STRATEGY} {}", describe(signal));
        let placed = ctx.place_order(intent)?;
        Ok(Decision::executed(vec![placed.order.id], Vec::new()))
    }

    // Exits and reversals: the trait's defaults close this plugin's positions on the symbol (and
    // for a reversal then call `process_entry_signal`). Override them for partial exits.

    fn status(&self) -> serde_json::Value {
        serde_json::json!({ "refused": self.refused })
    }
}
