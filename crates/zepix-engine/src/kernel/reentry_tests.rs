//! Re-entry chains, golden: SL-hunt recovery and TP continuation on a scripted price path, the
//! safety service refusing a recovery with its reasons, a window that closes, a restart while a
//! close is watched.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use zepix_model::Clock;
use zepix_plugin::chain::{ChainStatus, ReentryPlan};
use zepix_plugin::{Capability, Decision, OrderIntent};

use super::*;
use crate::config::KernelConfig;
use crate::ports::Store;
use crate::risk::RiskConfig;
use crate::testkit::{ScriptedPlugin, Session, manifest, restarted, slot};

fn plan() -> ReentryPlan {
    ReentryPlan {
        sl_hunt: true,
        zone_pips: Decimal::from(5),
        sl_factor: Decimal::new(5, 1),
        tp_continuation: true,
        exit_continuation: false,
        gap_pips: Decimal::from(10),
        window_minutes: 60,
        max_chain_level: 2,
    }
}

/// A plugin that trades each entry and follows it for re-entries.
fn follower() -> crate::registry::PluginSlot {
    let mut m = manifest("re", "RE", &[]);
    m.capabilities.extend([Capability::Reentry, Capability::Safety]);
    slot(
        m,
        Box::new(ScriptedPlugin::new(|signal, ctx| {
            let placed = ctx.place_order(OrderIntent::from_signal(signal).unwrap())?;
            ctx.start_reentry(placed.position.id, plan())?;
            Ok(Decision::executed(vec![placed.order.id], Vec::new()))
        })),
    )
}

/// A session on XAUUSD whose clock moves 30 seconds per alert.
struct Path {
    session: Session,
    config: KernelConfig,
}

impl std::ops::Deref for Path {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl std::ops::DerefMut for Path {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.session
    }
}

impl Path {
    fn new(risk: RiskConfig) -> Self {
        let config = KernelConfig { risk, ..KernelConfig::default() };
        let mut session = Session::new(vec![follower()], &config);
        session.step = chrono::Duration::seconds(30);
        Self { session, config }
    }

    fn price(&mut self, price: &str) {
        self.session.price("XAUUSD", price);
    }

    fn book(&self) -> Vec<String> {
        let show = |p: Option<zepix_model::Price>| p.map_or_else(|| "-".into(), |p| p.to_string());
        let positions = self.kernel.status().positions;
        positions.iter().map(|p| format!("{}@{} {}/{}", p.lots, p.entry_price, show(p.tp), show(p.sl))).collect()
    }

    fn chain_events(&self) -> Vec<String> {
        self.store.event_log().into_iter().filter(|e| e.kind == EventKind::Chain).map(|e| e.message).collect()
    }

    fn last(&self) -> zepix_plugin::chain::ReentryChain {
        self.store
            .ops()
            .into_iter()
            .filter_map(|op| match op {
                StoreOp::Chain(r) => match *r {
                    crate::chains::ChainRecord::Reentry(c) => Some(c),
                    _ => None,
                },
                _ => None,
            })
            .next_back()
            .unwrap()
    }
}

fn entry() -> Value {
    json!({"id": "e1", "strategy": "RE", "symbol": "XAUUSD", "side": "buy", "price": "2000", "sl": "1990",
           "tp": "2020", "lot": "0.1"})
}

#[test]
fn a_stop_hunt_is_recovered_and_a_target_continued_until_the_last_level() {
    let mut path = Path::new(RiskConfig::default());
    path.send(entry());
    path.price("1989");
    assert!(path.book().is_empty(), "stopped out");
    assert!(path.chain_events().last().unwrap().contains("watching for 1999.5"), "{:?}", path.chain_events());
    path.price("1995");
    assert!(path.book().is_empty(), "not back in the zone yet");
    path.price("1999.6");
    assert_eq!(path.book(), ["0.1@1999.6 2019.6/1994.6"], "recovery: half the stop distance, the same target");
    assert_eq!(path.last().level, 1);
    path.price("2019.6");
    assert!(path.book().is_empty(), "level 1 took its profit");
    path.price("2020");
    assert!(path.book().is_empty(), "not 10 pips beyond the target yet");
    path.price("2021");
    assert_eq!(path.book(), ["0.1@2021 2041/2016"], "continuation after the target");
    path.price("2041");
    let done = path.last();
    assert_eq!((done.status, done.level), (ChainStatus::Completed, 2), "max_chain_level 2 reached");
    path.price("2060");
    assert!(path.book().is_empty(), "a completed chain re-enters no more");
    assert_eq!(path.kernel.status().safety.recoveries_today, 2);
}

#[test]
fn the_safety_service_refuses_a_recovery_with_every_reason() {
    let risk =
        RiskConfig { consecutive_loss_cap: 1, recovery_hours_utc: "12:00-20:00".into(), ..RiskConfig::default() };
    let mut path = Path::new(risk);
    path.send(entry());
    path.price("1989");
    path.price("1999.6");
    assert!(path.book().is_empty(), "no recovery");
    let done = path.last();
    assert_eq!(done.status, ChainStatus::Ended);
    let note = done.note.unwrap();
    assert!(note.contains("consecutive_losses: 1 stop losses in a row on XAUUSD (max 1)"), "{note}");
    assert!(note.contains("trading_window: 10:01 UTC is outside 12:00-20:00"), "{note}");
    let safety = path.kernel.status().safety;
    assert_eq!((safety.refused["consecutive_losses"], safety.refused["trading_window"]), (1, 1));
}

#[test]
fn a_recovery_refused_for_a_passing_reason_waits_and_re_enters_when_it_passes() {
    let mut path = Path::new(RiskConfig { sl_cooldown_minutes: 5, ..RiskConfig::default() });
    path.send(entry());
    path.price("1989");
    path.price("1999.6");
    assert!(path.book().is_empty(), "the stop locked XAUUSD for 5 minutes");
    let waiting = path.last();
    assert_eq!(waiting.status, ChainStatus::Active, "a cooldown passes: the chain keeps watching");
    assert!(waiting.note.unwrap().contains("cooldown: XAUUSD is locked until"));
    let told = path.chain_events().len();
    path.price("1999.7");
    assert!(path.book().is_empty());
    assert_eq!(path.chain_events().len(), told, "the same refusal again is not told twice");
    assert_eq!(path.kernel.status().safety.refused["cooldown"], 1, "nor counted twice");
    path.clock.advance(chrono::Duration::minutes(5));
    path.price("1999.8");
    assert_eq!(path.book(), ["0.1@1999.8 2019.8/1994.8"], "the lock is over: recovered");
    let chain = path.last();
    assert_eq!((chain.level, chain.note), (1, None));
}

#[test]
fn an_exit_is_continued_only_when_the_plan_says_so() {
    let mut path = Path::new(RiskConfig::default());
    path.send(entry());
    path.send(json!({"id": "x1", "strategy": "RE", "symbol": "XAUUSD", "action": "close", "price": "2005"}));
    assert!(path.book().is_empty(), "the exit signal closed it");
    let done = path.last();
    assert_eq!(done.status, ChainStatus::Ended, "exit_continuation is off in this plan");
    assert!(done.note.unwrap().contains("closed by signal"));

    let mut m = manifest("ex", "EX", &[]);
    m.capabilities.extend([Capability::Reentry, Capability::Safety]);
    let continuing = slot(
        m,
        Box::new(ScriptedPlugin::new(|signal, ctx| {
            let placed = ctx.place_order(OrderIntent::from_signal(signal).unwrap())?;
            ctx.start_reentry(placed.position.id, ReentryPlan { exit_continuation: true, ..plan() })?;
            Ok(Decision::executed(vec![placed.order.id], Vec::new()))
        })),
    );
    let clock: Arc<dyn Clock> = Arc::new(path.clock.clone());
    path.session.kernel = restarted(clock, vec![continuing], &path.config, Arc::default(), path.store.clone());
    let mut alert = entry();
    alert["id"] = json!("e2");
    alert["strategy"] = json!("EX");
    path.send(alert);
    path.send(json!({"id": "x2", "strategy": "EX", "symbol": "XAUUSD", "action": "close", "price": "2005"}));
    path.price("2005.5");
    assert!(path.book().is_empty(), "5 pips on: not yet");
    path.price("2006");
    assert_eq!(path.book(), ["0.1@2006 2026/2001"], "10 pips on past the exit at 2005: re-entered");
}

#[test]
fn a_watch_ends_when_its_window_closes() {
    let mut path = Path::new(RiskConfig::default());
    path.send(entry());
    path.price("1989");
    path.clock.advance(chrono::Duration::minutes(61));
    path.price("1999.6");
    assert!(path.book().is_empty());
    let done = path.last();
    assert_eq!(done.status, ChainStatus::Ended);
    assert!(done.note.unwrap().contains("the window closed"));
}

#[test]
fn a_restart_while_a_close_is_watched_keeps_watching() {
    let mut path = Path::new(RiskConfig::default());
    path.send(entry());
    path.price("1989");
    path.kernel.stop();
    let ops = path.kernel.take_ops();
    path.store.submit(ops);
    let clock: Arc<dyn Clock> = Arc::new(path.clock.clone());
    path.kernel = restarted(clock, vec![follower()], &path.config, Arc::default(), path.store.clone());
    assert_eq!(path.kernel.status().reentries.len(), 1, "the watch is back");
    path.price("1999.6");
    assert_eq!(path.book(), ["0.1@1999.6 2019.6/1994.6"], "and re-enters after the restart");
    assert_eq!(path.kernel.status().safety.losses_in_a_row["re:XAUUSD"], 1, "the safety counters came back too");
}

/// A plugin that trades each entry and guards it with a reverse shield at half its stop distance.
fn shielded() -> crate::registry::PluginSlot {
    let mut m = manifest("re", "RE", &[]);
    m.capabilities.push(Capability::Safety);
    slot(
        m,
        Box::new(ScriptedPlugin::new(|signal, ctx| {
            let placed = ctx.place_order(OrderIntent::from_signal(signal).unwrap())?;
            ctx.shield_position(placed.position.id, Decimal::new(5, 1))?;
            Ok(Decision::executed(vec![placed.order.id], Vec::new()))
        })),
    )
}

#[test]
fn a_reverse_shield_hedges_at_its_share_of_the_stop_and_unhedges_on_recovery() {
    let mut path = Path::new(RiskConfig::default());
    let clock: Arc<dyn Clock> = Arc::new(path.clock.clone());
    path.kernel = restarted(clock, vec![shielded()], &path.config, Arc::default(), path.store.clone());
    path.send(entry());
    assert_eq!(path.kernel.status().shields[0].trigger_distance.to_string(), "5");
    path.price("1996");
    assert_eq!(path.book().len(), 1, "4 against it: not yet");
    path.price("1995");
    assert_eq!(path.book(), ["0.1@2000 2020/1990", "0.1@1995 -/-"], "5 against it: the opposite hedge opens");
    let hedge_side = path.kernel.status().positions[1].side;
    assert_eq!(hedge_side, zepix_model::Side::Sell);
    path.price("1994");
    assert_eq!(path.book().len(), 2, "one hedge at a time");
    path.price("1997.5");
    assert_eq!(path.book(), ["0.1@2000 2020/1990"], "recovered to half the trigger: the hedge closes");
    path.price("1995");
    assert_eq!(path.book().len(), 2, "hedged again");
    path.price("1989");
    assert!(path.book().is_empty(), "the position stopped out and took its hedge with it");
    let events = path.chain_events();
    assert!(events.iter().any(|e| e.contains("reverse shield 1 ended: #1 closed (stop_loss)")), "{events:?}");
    assert!(path.kernel.status().shields.is_empty());
    let losses = path.kernel.status().safety.losses_in_a_row;
    assert_eq!(losses["re:XAUUSD"], 1, "the stop counts; its hedge's profitable close is not a win");
}

#[test]
fn a_bar_that_closes_nothing_still_re_enters_when_it_reaches_the_trigger() {
    let mut path = Path::new(RiskConfig::default());
    path.send(entry());
    path.price("1989");
    let feed = zepix_model::Feed {
        symbol: zepix_model::Symbol::new("XAUUSD").unwrap(),
        timeframe: zepix_model::Timeframe::M1,
    };
    let p = |v: &str| v.parse::<zepix_model::Price>().unwrap();
    let bar =
        zepix_model::Bar::new(path.clock.now(), p("1995"), p("1999.8"), p("1994"), p("1999.6"), Decimal::ONE).unwrap();
    path.session.kernel.on_bar(&feed, &bar);
    assert_eq!(path.book(), ["0.1@1999.6 2019.6/1994.6"], "re-entered at the bar's close");
}

#[test]
fn a_position_takes_one_shield_and_one_re_entry_chain() {
    let mut m = manifest("re", "RE", &[]);
    m.capabilities.extend([Capability::Reentry, Capability::Safety]);
    let twice = slot(
        m,
        Box::new(ScriptedPlugin::new(|signal, ctx| {
            let placed = ctx.place_order(OrderIntent::from_signal(signal).unwrap())?;
            let id = placed.position.id;
            ctx.shield_position(id, Decimal::new(5, 1))?;
            ctx.start_reentry(id, plan())?;
            let shield = ctx.shield_position(id, Decimal::new(5, 1)).unwrap_err().message;
            let follow = ctx.start_reentry(id, plan()).unwrap_err().message;
            Ok(Decision::rejected(format!("{shield} | {follow}")))
        })),
    );
    let mut session = Session::new(vec![twice], &KernelConfig::default());
    let outcome = session.send(entry());
    let why = outcome.reason.unwrap();
    assert!(why.contains("already guarded by reverse shield 1"), "{why}");
    assert!(why.contains("already followed by re-entry chain 2"), "{why}");
}
