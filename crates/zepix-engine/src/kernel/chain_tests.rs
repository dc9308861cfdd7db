//! Dual orders and profit chains, golden: a scripted price path and the orders and closes each
//! step makes; a restart in the middle of a chain; the chain never passes its last level.

use std::sync::Arc;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use zepix_model::{Clock, Price};
use zepix_plugin::chain::{ChainStatus, DualPlan, PyramidPlan, Target};
use zepix_plugin::{Capability, Decision, OrderIntent};

use super::*;
use crate::config::KernelConfig;
use crate::ports::Store;
use crate::testkit::{ScriptedPlugin, Session, manifest, restarted, slot};

fn plan(levels: &[u32]) -> PyramidPlan {
    PyramidPlan { levels: levels.to_vec(), target: Target::Pips(Decimal::from(10)), sl_pips: Decimal::from(10) }
}

/// A plugin that starts a profit chain (or a dual order, with `dual`) on every entry.
fn chain_plugin(levels: &'static [u32], dual: bool) -> crate::registry::PluginSlot {
    let mut m = manifest("pyr", "PYR", &[]);
    m.capabilities.extend([Capability::ProfitBooking, Capability::DualOrder]);
    slot(
        m,
        Box::new(ScriptedPlugin::new(move |signal, ctx| {
            let intent = OrderIntent::from_signal(signal).unwrap();
            if dual {
                let done =
                    ctx.place_dual_order(intent, DualPlan { split: Decimal::new(5, 1), pyramid: plan(levels) })?;
                Ok(Decision::executed(vec![done.a.order.id], Vec::new()))
            } else {
                ctx.start_profit_chain(intent, plan(levels))?;
                Ok(Decision::executed(Vec::new(), Vec::new()))
            }
        })),
    )
}

/// A session on XAUUSD whose clock moves a second per alert.
struct Path(Session);

impl std::ops::Deref for Path {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0
    }
}

impl std::ops::DerefMut for Path {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.0
    }
}

impl Path {
    fn new(slot: crate::registry::PluginSlot) -> Self {
        let mut session = Session::new(vec![slot], &KernelConfig::default());
        session.step = chrono::Duration::seconds(1);
        Self(session)
    }

    fn price(&mut self, price: &str) {
        self.0.price("XAUUSD", price);
    }

    /// Open positions as `lots@entry tp/sl`.
    fn book(&self) -> Vec<String> {
        let show = |p: Option<Price>| p.map_or_else(|| "-".into(), |p| p.to_string());
        self.kernel
            .status()
            .positions
            .iter()
            .map(|p| format!("{}@{} {}/{}", p.lots, p.entry_price, show(p.tp), show(p.sl)))
            .collect()
    }

    fn chain(&self) -> Option<zepix_plugin::chain::ProfitChain> {
        self.kernel.services().chains_of(&PluginId::new("pyr").unwrap()).pop()
    }

    fn last_record(&self) -> crate::chains::ChainRecord {
        self.store
            .ops()
            .into_iter()
            .filter_map(|op| if let StoreOp::Chain(r) = op { Some(*r) } else { None })
            .rfind(|r| matches!(r, crate::chains::ChainRecord::Profit(_)))
            .unwrap()
    }
}

fn entry() -> Value {
    json!({"id": "e1", "strategy": "PYR", "symbol": "XAUUSD", "side": "buy", "price": "2000", "lot": "0.1", "tp": "2005"})
}

#[test]
fn a_pyramid_books_each_level_and_opens_the_next_until_the_last() {
    let mut path = Path::new(chain_plugin(&[1, 2, 4], false));
    path.send(entry());
    assert_eq!(path.book(), ["0.1@2000 2001/1999"], "level 1: one order, target and stop 10 pips away");
    path.price("2000.5");
    assert_eq!(path.book().len(), 1, "nothing reached yet");
    path.price("2001");
    assert_eq!(path.book(), ["0.1@2001 2002/2000"; 2], "level 1 booked, level 2 opens two orders");
    assert_eq!(path.chain().unwrap().level, 1);
    path.price("2002");
    assert_eq!(path.book(), ["0.1@2002 2003/2001"; 4], "level 3: four orders");
    path.price("2003");
    assert!(path.book().is_empty(), "the last level booked: the chain is complete");
    assert!(path.chain().is_none());
    let crate::chains::ChainRecord::Profit(done) = path.last_record() else { unreachable!() };
    assert_eq!(done.status, ChainStatus::Completed);
    // 7 orders of 0.1 lot, each 1.0 in its favour: 7 × 0.1 × 100 × 1.0.
    assert_eq!(done.booked.to_string(), "70");
    assert_eq!(path.kernel.status().account.balance.to_string(), "10070");
}

#[test]
fn a_money_target_is_turned_into_each_levels_distance() {
    let mut m = manifest("pyr", "PYR", &[]);
    m.capabilities.push(Capability::ProfitBooking);
    let money = slot(
        m,
        Box::new(ScriptedPlugin::new(|signal, ctx| {
            let plan = PyramidPlan { target: Target::Money(Decimal::from(10)), ..plan(&[1, 2]) };
            ctx.start_profit_chain(OrderIntent::from_signal(signal).unwrap(), plan)?;
            Ok(Decision::executed(Vec::new(), Vec::new()))
        })),
    );
    let mut path = Path::new(money);
    path.send(entry());
    // 10 across one order of 0.1 lot (1 a pip on XAUUSD): 10 pips.
    assert_eq!(path.book(), ["0.1@2000 2001/1999"]);
    path.price("2001");
    // 10 across two orders: 5 pips each.
    assert_eq!(path.book(), ["0.1@2001 2001.5/2000"; 2]);
}

#[test]
fn the_chain_stop_ends_it_and_closes_the_rest_of_its_level() {
    let mut path = Path::new(chain_plugin(&[1, 2, 4], false));
    path.send(entry());
    path.price("2001");
    assert_eq!(path.book().len(), 2);
    path.price("1999.9");
    assert!(path.book().is_empty(), "both orders of level 2 stopped");
    let crate::chains::ChainRecord::Profit(done) = path.last_record() else { unreachable!() };
    assert_eq!((done.status, done.level), (ChainStatus::Stopped, 1));
    assert_eq!(done.booked.to_string(), "-10", "+10 on level 1, -10 twice on level 2");
    let losses = path.kernel.status().safety.losses_in_a_row;
    assert_eq!(losses["pyr:XAUUSD"], 1, "one stop of a two-order level is one loss in a row");
    path.price("2010");
    assert!(path.book().is_empty(), "a stopped chain opens nothing more");
}

/// Starts a two-order chain level and moves the second order's stop a pip further away, so that
/// only the first meets its stop at the venue; records the stop and target hooks it hears.
struct WideSecondStop(Arc<std::sync::Mutex<Vec<String>>>);

impl zepix_plugin::Plugin for WideSecondStop {
    fn process_entry_signal(
        &mut self,
        signal: &Signal,
        ctx: &mut dyn zepix_plugin::PluginContext,
    ) -> zepix_plugin::PluginResult<Decision> {
        let chain = ctx.start_profit_chain(OrderIntent::from_signal(signal).unwrap(), plan(&[2, 2]))?;
        let level = |p: i64| Some(Price::new(Decimal::from(p)).unwrap());
        ctx.modify_position(chain.open[1], level(1998), level(2001))?;
        Ok(Decision::executed(Vec::new(), Vec::new()))
    }

    fn on_sl_hit(
        &mut self,
        trade: &Trade,
        _ctx: &mut dyn zepix_plugin::PluginContext,
    ) -> zepix_plugin::PluginResult<()> {
        self.0.lock().unwrap().push(format!("sl #{} at {}", trade.position.id, trade.exit_price));
        Ok(())
    }

    fn on_tp_hit(
        &mut self,
        trade: &Trade,
        _ctx: &mut dyn zepix_plugin::PluginContext,
    ) -> zepix_plugin::PluginResult<()> {
        self.0.lock().unwrap().push(format!("tp #{} at {}", trade.position.id, trade.exit_price));
        Ok(())
    }
}

#[test]
fn every_order_the_chain_stop_closes_calls_the_plugins_stop_hook() {
    let heard = Arc::default();
    let mut m = manifest("pyr", "PYR", &[]);
    m.capabilities.push(Capability::ProfitBooking);
    let mut path = Path::new(slot(m, Box::new(WideSecondStop(Arc::clone(&heard)))));
    path.send(entry());
    assert_eq!(path.book(), ["0.1@2000 2001/1999", "0.1@2000 2001/1998"]);
    path.price("1998.5");
    assert!(path.book().is_empty(), "the first order's stop ends the chain and closes the second");
    let heard = heard.lock().unwrap().clone();
    assert_eq!(heard, ["sl #1 at 1999", "sl #2 at 1998.5"], "the venue's stop, then the chain's");
}

#[test]
fn a_dual_order_keeps_a_on_its_target_while_b_pyramids() {
    let mut path = Path::new(chain_plugin(&[1, 2], true));
    let mut alert = entry();
    alert["lot"] = json!("0.2");
    path.send(alert);
    assert_eq!(path.book(), ["0.1@2000 2005/-", "0.1@2000 2001/1999"], "A keeps the alert's TP, B starts the chain");
    path.price("2001");
    assert_eq!(path.book(), ["0.1@2000 2005/-", "0.1@2001 2002/2000", "0.1@2001 2002/2000"]);
    path.price("2002");
    assert_eq!(path.book(), ["0.1@2000 2005/-"], "B's chain completed its two levels");
    path.price("2005");
    assert!(path.book().is_empty());
    let events: Vec<String> =
        path.store.event_log().into_iter().filter(|e| e.kind == EventKind::Chain).map(|e| e.message).collect();
    assert!(events.iter().any(|e| e.starts_with("dual order 1: A #1 (0.1) with its target, B #2 (0.1)")), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("dual order 1: order B #2 closed (take_profit)")), "{events:?}");
    assert!(events.iter().any(|e| e.starts_with("profit chain 2 completed")), "{events:?}");
    assert!(events.last().unwrap().starts_with("dual order 1: order A #1 closed (take_profit) for 50"), "{events:?}");
}

#[test]
fn a_restart_in_the_middle_of_a_chain_resumes_it() {
    let mut path = Path::new(chain_plugin(&[1, 2, 4], false));
    path.send(entry());
    path.price("2001");
    assert_eq!(path.book().len(), 2);
    path.kernel.stop();
    let ops = path.kernel.take_ops();
    path.store.submit(ops);

    let clock: Arc<dyn Clock> = Arc::new(path.clock.clone());
    let kernel = restarted(
        clock,
        vec![chain_plugin(&[1, 2, 4], false)],
        &KernelConfig::default(),
        Arc::default(),
        path.store.clone(),
    );
    path.kernel = kernel;
    assert_eq!(path.chain().unwrap().level, 1, "the chain is back at level 2");
    path.price("2002");
    assert_eq!(path.book(), ["0.1@2002 2003/2001"; 4], "and opens level 3 when level 2 is booked");
    let ids: Vec<u64> = path.kernel.status().positions.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [4, 5, 6, 7], "ids go on after the restart");
}

#[test]
fn a_bad_plan_is_refused_and_places_nothing() {
    let mut m = manifest("bad", "BAD", &[]);
    m.capabilities.push(Capability::ProfitBooking);
    let bad = slot(
        m,
        Box::new(ScriptedPlugin::new(|signal, ctx| {
            let intent = OrderIntent::from_signal(signal).unwrap();
            let err = ctx.start_profit_chain(intent, plan(&[1, 0])).unwrap_err();
            Ok(Decision::rejected(err.message))
        })),
    );
    let mut path = Path::new(bad);
    let mut alert = entry();
    alert["strategy"] = json!("BAD");
    path.send(alert);
    assert!(path.book().is_empty());
    let stored = path.store.signals().pop().unwrap().outcome;
    assert!(stored.reason.unwrap().contains("levels: 0 orders in a level"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the prices do, a chain's level stays within its plan and its open orders within
    /// the level's count; once it ends nothing of it stays tracked.
    #[test]
    fn a_chain_never_passes_its_last_level(moves in proptest::collection::vec(-25i64..=25, 1..40)) {
        let mut path = Path::new(chain_plugin(&[1, 2, 4], false));
        path.send(entry());
        let mut price = Decimal::from(2000);
        for m in moves {
            price += Decimal::new(m, 1);
            path.price(&price.to_string());
            if let Some(c) = path.chain() {
                prop_assert!(c.level < 3);
                prop_assert!(c.open.len() <= c.plan.levels[c.level] as usize);
                prop_assert_eq!(path.book().len(), c.open.len());
            } else {
                prop_assert!(path.book().is_empty(), "an ended chain leaves no order of its own: {:?}", path.book());
            }
        }
    }
}
