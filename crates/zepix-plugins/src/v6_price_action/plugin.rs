//! The V6 logic: ADX and confidence filters, an optional 15m trend filter, and default levels and
//! risk for alerts that carry none.

use rust_decimal::Decimal;
use zepix_model::{Level, Signal, Sizing, Timeframe};
use zepix_plugin::{Decision, Plugin, PluginContext, PluginResult};

use super::STRATEGY;
use super::config::V6Config;
use crate::common::{describe, entry_intent, place};

/// A `v6_price_action_*` plugin for one timeframe. Exits and reversals use the trait's defaults.
#[derive(Debug, Clone)]
pub struct V6PriceAction {
    timeframe: Timeframe,
    config: V6Config,
}

impl V6PriceAction {
    /// A plugin for `timeframe` with this config.
    #[must_use]
    pub fn new(timeframe: Timeframe, config: V6Config) -> Self {
        Self { timeframe, config }
    }

    /// Why the alert's `key` value does not pass `threshold`, if it does not.
    fn below(signal: &Signal, key: &str, threshold: Decimal) -> Option<String> {
        match signal.extra_decimal(key) {
            None => Some(format!("{key} missing: the alert has no `{key}` field (at least {threshold} needed)")),
            Some(value) if value < threshold => Some(format!("{key} {} below {threshold}", value.normalize())),
            Some(_) => None,
        }
    }
}

impl Plugin for V6PriceAction {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        let mut intent = match entry_intent(signal) {
            Ok(intent) => intent,
            Err(rejection) => return Ok(rejection),
        };
        for (key, threshold) in [("adx", self.config.adx_threshold), ("confidence", self.config.confidence_threshold)] {
            if let Some(reason) = Self::below(signal, key, threshold) {
                return Ok(Decision::rejected(reason));
            }
        }
        if self.config.require_15m_alignment {
            let trend = ctx.trend(&intent.symbol, Timeframe::M15)?;
            if !trend.agrees_with(intent.side) {
                return Ok(Decision::rejected(format!("15m trend {trend} does not agree with {}", describe(signal))));
            }
        }
        intent.sl = intent.sl.or(Some(Level::Pips(self.config.sl_pips)));
        intent.tp = intent.tp.or(Some(Level::Pips(self.config.tp_pips)));
        intent.size = intent.size.or(Some(Sizing::RiskPct(self.config.risk_pct)));
        intent.comment = format!("{STRATEGY} {}", self.timeframe);
        place(intent, ctx)
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "timeframe": self.timeframe.to_string(),
            "adx_threshold": self.config.adx_threshold.to_string(),
            "confidence_threshold": self.config.confidence_threshold.to_string(),
            "require_15m_alignment": self.config.require_15m_alignment,
            "sl_pips": self.config.sl_pips.to_string(),
            "tp_pips": self.config.tp_pips.to_string(),
            "risk_pct": self.config.risk_pct.to_string(),
        })
    }
}
