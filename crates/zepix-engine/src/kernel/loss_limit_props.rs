//! The daily loss limit under any interleaving of entries and prices: no position opens once the
//! day's loss (realized plus unrealized) has reached the limit, and none opens while it is there.

use std::sync::Arc;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use zepix_model::signal::parse_alert;
use zepix_model::{Clock, SignalSource, TestClock};

use crate::config::KernelConfig;
use crate::ports::InboxRecord;
use crate::risk::RiskConfig;
use crate::testkit::{ScriptedPlugin, kernel, manifest, slot};

#[derive(Debug, Clone)]
enum Step {
    Entry { buy: bool, tenths: u8 },
    Move(i32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<bool>(), 1u8..=10).prop_map(|(buy, tenths)| Step::Entry { buy, tenths }),
        (-60i32..=60).prop_map(Step::Move),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_position_opens_at_or_past_the_daily_loss_limit(steps in proptest::collection::vec(step(), 1..60)) {
        let limit = Decimal::from(200);
        let risk = RiskConfig {
            daily_loss_limit: limit,
            max_open_positions: 1000,
            max_open_per_plugin: 1000,
            max_orders_per_minute: 100_000,
            ..RiskConfig::default()
        };
        let clock = TestClock::new("2026-03-02T10:00:00Z".parse().unwrap());
        let config = KernelConfig { risk, ..KernelConfig::default() };
        let slots = vec![slot(manifest("exec", "EXEC", &[]), Box::new(ScriptedPlugin::executor()))];
        let (mut kernel, _store) = kernel(Arc::new(clock.clone()), slots, &config, Arc::default());
        let mut price = Decimal::from(2000);
        for (seq, step) in (1u64..).zip(steps) {
            clock.advance(chrono::Duration::seconds(1));
            let alert = match step {
                Step::Entry { buy, tenths } => json!({
                    "strategy": "EXEC", "symbol": "XAUUSD", "side": if buy { "buy" } else { "sell" },
                    "price": price.to_string(), "lot": (Decimal::from(tenths) / Decimal::TEN).to_string()
                }),
                Step::Move(tenths) => {
                    price += Decimal::new(i64::from(tenths), 1);
                    json!({"type": "market", "symbol": "XAUUSD", "price": price.to_string()})
                }
            };
            let before = kernel.status();
            let day = before.realized_today.value() + before.account.unrealized.value();
            let signal = parse_alert(alert.to_string().as_bytes(), clock.now()).unwrap().signal;
            let record = InboxRecord { seq, source: SignalSource::Webhook, received_at: clock.now(), signal };
            kernel.process(record);
            let after = kernel.status();
            let opened = after.positions.iter().any(|p| !before.positions.iter().any(|b| b.id == p.id));
            if opened {
                prop_assert!(!before.daily_loss_locked, "opened while locked");
                prop_assert!(day > -limit, "opened with the day at {day}, limit {limit}");
            }
            if day <= -limit {
                prop_assert!(after.daily_loss_locked, "the day at {day} must have locked new positions");
            }
        }
    }
}
