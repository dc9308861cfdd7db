//! The V3 logic: a multi-timeframe trend filter in front of trading the alert as given.

use zepix_model::{Signal, Timeframe, Trend};
use zepix_plugin::{Decision, Plugin, PluginContext, PluginResult};

use super::STRATEGY;
use super::config::V3Config;
use crate::common::{describe, entry_intent, place};

/// The `v3_combined` plugin. Exits and reversals use the trait's defaults: close the plugin's
/// positions on the symbol, and for a reversal then enter the signal's side.
#[derive(Debug, Clone)]
pub struct V3Combined {
    config: V3Config,
}

impl V3Combined {
    /// A plugin with this config.
    #[must_use]
    pub fn new(config: V3Config) -> Self {
        Self { config }
    }

    /// The trend of each alignment timeframe when any of them disagrees with the entry, else
    /// `None`.
    fn misalignment(
        &self,
        signal: &Signal,
        ctx: &mut dyn PluginContext,
    ) -> PluginResult<Option<Vec<(Timeframe, Trend)>>> {
        let (Some(symbol), Some(side)) = (&signal.symbol, signal.side) else {
            return Ok(None);
        };
        // Ask for every timeframe, not just up to the first disagreement, so the reason shows the
        // whole picture a trader would check on the charts.
        let mut trends = Vec::with_capacity(self.config.alignment_timeframes.len());
        for tf in &self.config.alignment_timeframes {
            trends.push((*tf, ctx.trend(symbol, *tf)?));
        }
        let aligned = trends.iter().all(|(_, trend)| trend.agrees_with(side));
        Ok(if aligned { None } else { Some(trends) })
    }
}

impl Plugin for V3Combined {
    fn process_entry_signal(&mut self, signal: &Signal, ctx: &mut dyn PluginContext) -> PluginResult<Decision> {
        let mut intent = match entry_intent(signal) {
            Ok(intent) => intent,
            Err(rejection) => return Ok(rejection),
        };
        if self.config.require_trend_alignment
            && let Some(trends) = self.misalignment(signal, ctx)?
        {
            let shown: Vec<String> = trends.iter().map(|(tf, trend)| format!("{tf} {trend}")).collect();
            return Ok(Decision::rejected(format!("trend not aligned for {}: {}", describe(signal), shown.join(", "))));
        }
        intent.comment = match signal.timeframe {
            Some(tf) => format!("{STRATEGY} {tf}"),
            None => STRATEGY.to_owned(),
        };
        place(intent, ctx)
    }

    fn status(&self) -> serde_json::Value {
        let tfs: Vec<String> = self.config.alignment_timeframes.iter().map(ToString::to_string).collect();
        serde_json::json!({
            "require_trend_alignment": self.config.require_trend_alignment,
            "alignment_timeframes": tfs,
        })
    }
}
