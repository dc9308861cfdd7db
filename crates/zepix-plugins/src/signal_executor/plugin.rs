//! The executor: no filter between the alert and the order.

use zepix_model::Signal;
use zepix_plugin::{Decision, Plugin, PluginContext, PluginResult};

use crate::common::{entry_intent, place};

/// The `signal_executor` plugin. Exits and reversals use the trait's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalExecutor;

impl Plugin for SignalExecutor {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        match entry_intent(signal) {
            Ok(intent) => place(intent, ctx),
            Err(rejection) => Ok(rejection),
        }
    }
}
