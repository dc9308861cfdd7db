//! Settings of `signal_executor`: how an entry becomes orders. A stray key is an error rather
//! than silently ignored.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use zepix_plugin::chain::{DualPlan, PyramidPlan, ReentryPlan, Target};
use zepix_plugin::{SettingSchema, Settings};

use crate::common::{boolean, choice, integer_list, number};

/// How an entry is traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderMode {
    /// One order with the alert's levels.
    Single,
    /// A dual order: A keeps the alert's take profit, B starts a profit chain.
    Dual,
    /// A profit chain from the first level.
    Pyramid,
}

/// The settings of `signal_executor`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorConfig {
    /// How an entry is traded.
    pub order_mode: OrderMode,
    /// Share of a dual order's lots for order A.
    pub dual_split: Decimal,
    /// Orders per level of a profit chain.
    pub pyramid_levels: Vec<u32>,
    /// Each level's target, in pips from its entry.
    pub level_target_pips: Decimal,
    /// The chain's stop, in pips against each level's entry.
    pub chain_sl_pips: Decimal,
    /// Follow each single order for re-entries.
    pub reentry: bool,
    /// After a stop loss, re-enter when the price is back within this many pips of the entry.
    pub reentry_zone_pips: Decimal,
    /// After a take profit, re-enter when the price has gone this many pips beyond it.
    pub reentry_gap_pips: Decimal,
    /// A recovery's stop distance as a share of the original.
    pub reentry_sl_factor: Decimal,
    /// How long a close is watched.
    pub reentry_window_minutes: u32,
    /// The most re-entries in a chain.
    pub reentry_max_level: u32,
    /// Guard each single order with a reverse shield at this share of its stop distance; 0 = off.
    pub reverse_shield_share: Decimal,
}

impl ExecutorConfig {
    /// Parses validated settings.
    ///
    /// # Errors
    /// When the settings do not fit, or the chain they describe is not valid.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let config: Self = settings.parse()?;
        match config.order_mode {
            OrderMode::Dual => config.dual_plan().validate()?,
            OrderMode::Pyramid => config.pyramid().validate()?,
            OrderMode::Single => {}
        }
        if config.reentry {
            config.reentry_plan().validate()?;
        }
        Ok(config)
    }

    /// The profit chain the settings describe.
    #[must_use]
    pub fn pyramid(&self) -> PyramidPlan {
        PyramidPlan {
            levels: self.pyramid_levels.clone(),
            target: Target::Pips(self.level_target_pips),
            sl_pips: self.chain_sl_pips,
        }
    }

    /// The re-entry plan the settings describe.
    #[must_use]
    pub fn reentry_plan(&self) -> ReentryPlan {
        ReentryPlan {
            zone_pips: self.reentry_zone_pips,
            gap_pips: self.reentry_gap_pips,
            sl_factor: self.reentry_sl_factor,
            window_minutes: self.reentry_window_minutes,
            max_chain_level: self.reentry_max_level,
            ..ReentryPlan::default()
        }
    }

    /// The dual order the settings describe.
    #[must_use]
    pub fn dual_plan(&self) -> DualPlan {
        DualPlan { split: self.dual_split, pyramid: self.pyramid() }
    }
}

/// The settings schema.
#[must_use]
pub fn schema() -> BTreeMap<String, SettingSchema> {
    BTreeMap::from([
        (
            "order_mode".to_owned(),
            choice(
                "single",
                &["single", "dual", "pyramid"],
                "single: one order with the alert's levels; dual: order A keeps the alert's take profit and \
                 order B starts a profit chain; pyramid: a profit chain from the first level.",
            ),
        ),
        ("dual_split".to_owned(), number(json!(0.5), 0.05, 0.95, "Share of a dual order's lots for order A.")),
        (
            "pyramid_levels".to_owned(),
            integer_list(
                &[1, 2, 4, 8, 16],
                1.0,
                64.0,
                "Orders per level of a profit chain (a dual order's B is the first level: 1).",
            ),
        ),
        (
            "level_target_pips".to_owned(),
            number(json!(20), 0.1, 100_000.0, "Each chain level's profit target, in pips from the level's entry."),
        ),
        (
            "chain_sl_pips".to_owned(),
            number(json!(20), 0.1, 100_000.0, "The chain's stop, in pips against each level's entry."),
        ),
        (
            "reentry".to_owned(),
            boolean(false, "Follow each single order for re-entries: SL-hunt recovery and TP continuation."),
        ),
        (
            "reentry_zone_pips".to_owned(),
            number(
                json!(5),
                0.0,
                100_000.0,
                "After a stop loss: re-enter when the price is back within this many pips of the entry.",
            ),
        ),
        (
            "reentry_gap_pips".to_owned(),
            number(
                json!(10),
                0.1,
                100_000.0,
                "After a take profit: re-enter when the price has gone this many pips beyond it.",
            ),
        ),
        (
            "reentry_sl_factor".to_owned(),
            number(json!(1), 0.05, 1.0, "A recovery's stop distance as a share of the original (0.5 = half as far)."),
        ),
        (
            "reentry_window_minutes".to_owned(),
            number(json!(60), 1.0, 10_080.0, "How long a close is watched, in minutes."),
        ),
        ("reentry_max_level".to_owned(), number(json!(3), 1.0, 20.0, "The most re-entries in one chain.")),
        (
            "reverse_shield_share".to_owned(),
            number(
                json!(0),
                0.0,
                1.0,
                "Guard each single order that has a stop loss with a reverse shield: an opposite hedge opens when \
                 it has used this share of its stop distance, and closes when it recovers half of that. 0 = off.",
            ),
        ),
    ])
}
