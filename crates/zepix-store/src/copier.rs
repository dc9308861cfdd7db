//! The plugins' copies of their trades, written on a thread of their own once the engine db has
//! committed the ops they come from: the engine's writer never waits on a plugin's db, and the
//! committed ops are dropped here rather than on the writer's thread.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use chrono::NaiveDate;
use rusqlite::Connection;
use rust_decimal::Decimal;
use zepix_engine::{StoreError, StoreOp};
use zepix_model::{PluginId, Position, Trade};

use crate::plugin_db;

/// What the copier is sent, in the order the writer committed.
pub(crate) enum CopyMsg {
    /// A committed batch; the ops at the `failed` indexes were not stored and are not copied.
    Committed { ops: Vec<StoreOp>, failed: Vec<usize> },
    /// Answer each reply once everything sent before is copied: with `engine` (the writer's
    /// first error since its last flush) or else the copier's first error since its last answer.
    Flush { replies: Vec<SyncSender<Result<(), StoreError>>>, engine: Option<String> },
}

/// A row the engine copies into a plugin's db.
enum PluginCopy<'a> {
    Opened(&'a Position),
    Closed(&'a Trade),
    DayClosed(&'a PluginId, NaiveDate),
}

impl PluginCopy<'_> {
    fn of(op: &StoreOp) -> Option<PluginCopy<'_>> {
        match op {
            StoreOp::PluginTradeOpened(position) => Some(PluginCopy::Opened(position)),
            StoreOp::Closed(trade) => Some(PluginCopy::Closed(trade)),
            StoreOp::DayClosed { plugin, date } => Some(PluginCopy::DayClosed(plugin, *date)),
            _ => None,
        }
    }

    fn plugin(&self) -> &PluginId {
        match self {
            Self::Opened(position) => &position.plugin,
            Self::Closed(trade) => &trade.position.plugin,
            Self::DayClosed(plugin, _) => plugin,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Opened(position) => format!("open trade {}", position.id),
            Self::Closed(trade) => format!("closed trade {}", trade.position.id),
            Self::DayClosed(_, date) => format!("performance of {date}"),
        }
    }
}

/// The copier thread's state.
struct Copier {
    data_dir: PathBuf,
    plugins: HashMap<PluginId, Connection>,
    /// The first error since the last flush answered.
    error: Option<String>,
}

/// Starts the copier thread; it stops once the sender is dropped and the queue is done.
pub(crate) fn spawn(data_dir: PathBuf) -> std::io::Result<(Sender<CopyMsg>, JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let copier = Copier { data_dir, plugins: HashMap::new(), error: None };
    let handle = std::thread::Builder::new().name("zepix-store-copy".into()).spawn(move || {
        crate::store::lower_priority();
        copier.run(&rx);
    })?;
    Ok((tx, handle))
}

impl Copier {
    fn run(mut self, rx: &Receiver<CopyMsg>) {
        for msg in rx {
            match msg {
                CopyMsg::Committed { ops, failed } => {
                    let copies: Vec<PluginCopy<'_>> = ops
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !failed.contains(i))
                        .filter_map(|(_, op)| PluginCopy::of(op))
                        .collect();
                    self.copy_to_plugins(&copies);
                }
                CopyMsg::Flush { replies, engine } => {
                    // Both are answered now: the next flush starts clean.
                    let copied = self.error.take();
                    let error = engine.or(copied);
                    for reply in replies {
                        // A flusher that stopped waiting does not need the answer.
                        let _ = reply.send(error.clone().map_or(Ok(()), |e| Err(StoreError::Db(e))));
                    }
                }
            }
        }
    }

    /// Writes a committed batch's plugin rows, one transaction per plugin db, and recomputes the
    /// performance of each day a close touched. The engine db is the record of truth: a plugin db
    /// that fails (the plugin may have changed its own schema) is logged and reported by `flush`,
    /// never a reason to lose the engine's record.
    fn copy_to_plugins(&mut self, copies: &[PluginCopy<'_>]) {
        let mut plugins: Vec<&PluginId> = copies.iter().map(PluginCopy::plugin).collect();
        plugins.sort_unstable();
        plugins.dedup();
        for plugin in plugins {
            if let Err(e) = self.copy_to_plugin(plugin, copies) {
                let what = format!("plugin {plugin} database: {e}");
                tracing::error!(error = %what, "plugin copier");
                self.error.get_or_insert(what);
            }
        }
    }

    fn copy_to_plugin(&mut self, plugin: &PluginId, copies: &[PluginCopy<'_>]) -> Result<(), String> {
        if !self.plugins.contains_key(plugin) {
            let conn = plugin_db::open_plugin_conn(&self.data_dir, plugin).map_err(|e| e.to_string())?;
            self.plugins.insert(plugin.clone(), conn);
        }
        let conn = self.plugins.get(plugin).ok_or("not open")?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
        let mut days: BTreeMap<NaiveDate, Vec<Decimal>> = BTreeMap::new();
        let mut errors = Vec::new();
        for copy in copies.iter().filter(|c| c.plugin() == plugin) {
            // A failed statement is undone on its own; the rest of the transaction stands.
            let done = match copy {
                PluginCopy::Opened(position) => plugin_db::record_open(conn, position),
                PluginCopy::Closed(trade) => plugin_db::record_close(conn, trade).map(|date| {
                    days.entry(date).or_default().push(trade.pnl.value());
                }),
                PluginCopy::DayClosed(_, date) => {
                    days.entry(*date).or_default();
                    Ok(())
                }
            };
            if let Err(e) = done {
                errors.push(format!("{}: {e}", copy.describe()));
            }
        }
        for (date, profits) in &days {
            if let Err(e) = plugin_db::add_to_performance(conn, *date, profits) {
                errors.push(format!("performance of {date}: {e}"));
            }
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            errors.push(format!("commit: {e}"));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}
