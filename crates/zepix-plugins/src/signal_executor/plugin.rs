//! The executor: no filter between the alert and the order.

use rust_decimal::Decimal;
use zepix_model::Signal;
use zepix_plugin::{Decision, Plugin, PluginContext, PluginResult};

use super::config::{ExecutorConfig, OrderMode};
use crate::common::{entry_intent, place};

/// The `signal_executor` plugin. Exits and reversals use the trait's defaults.
#[derive(Debug, Clone)]
pub struct SignalExecutor {
    config: ExecutorConfig,
}

impl SignalExecutor {
    /// The executor with its settings.
    #[must_use]
    pub const fn new(config: ExecutorConfig) -> Self {
        Self { config }
    }
}

impl Plugin for SignalExecutor {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        let intent = match entry_intent(signal) {
            Ok(intent) => intent,
            Err(rejection) => return Ok(rejection),
        };
        let shield = self.config.reverse_shield_share;
        match self.config.order_mode {
            OrderMode::Single if self.config.reentry || shield > Decimal::ZERO => {
                let placed = ctx.place_order(intent)?;
                let mut notes = Vec::new();
                if self.config.reentry {
                    let chain = ctx.start_reentry(placed.position.id, self.config.reentry_plan())?;
                    notes.push(format!("re-entry chain {}", chain.id));
                }
                if shield > Decimal::ZERO && placed.position.sl.is_some() {
                    let guard = ctx.shield_position(placed.position.id, shield)?;
                    notes.push(format!("reverse shield {}", guard.id));
                }
                let reason = (!notes.is_empty()).then(|| notes.join(", "));
                Ok(Decision { reason, ..Decision::executed(vec![placed.order.id], Vec::new()) })
            }
            OrderMode::Single => place(intent, ctx),
            OrderMode::Dual => {
                let done = ctx.place_dual_order(intent, self.config.dual_plan())?;
                let orders = std::iter::once(done.a.order.id).chain(done.b.map(|b| b.order.id)).collect();
                Ok(Decision::executed(orders, Vec::new()))
            }
            OrderMode::Pyramid => {
                let chain = ctx.start_profit_chain(intent, self.config.pyramid())?;
                Ok(Decision {
                    reason: Some(format!("profit chain {}", chain.id)),
                    ..Decision::executed(Vec::new(), Vec::new())
                })
            }
        }
    }
}
