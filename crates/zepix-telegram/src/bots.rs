//! Starting and stopping the three bots: for each configured token, an outbox with its sender
//! task; the controller and analytics bots poll for updates; the notifier and analytics bots read
//! the engine's event bus (the daily summary goes out at the daily reset).

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zepix_engine::EngineHandle;
use zepix_model::EventKind;

use crate::analytics;
use crate::api::{ApiError, BotApi, POLL_TIMEOUT};
use crate::auth::Access;
use crate::command::menu;
use crate::config::TelegramConfig;
use crate::controller::Controller;
use crate::error::TelegramError;
use crate::outbox::{Limits, Outbox, Outgoing, run_sender};
use crate::text::{MAX_MESSAGE, split};

/// What the bots need from the engine and the rest of the config.
#[derive(Debug, Clone)]
pub struct Context {
    /// The running engine.
    pub engine: EngineHandle,
    /// The configuration with every secret removed, for `/config`.
    pub config_text: String,
    /// `[risk] daily_loss_limit`, for the risk report.
    pub daily_loss_limit: Decimal,
}

/// Running bots.
#[derive(Debug)]
pub struct Bots {
    stop: watch::Sender<bool>,
    outboxes: Vec<Outbox>,
    senders: Vec<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
    /// Names of the bots started.
    pub started: Vec<&'static str>,
}

/// How long the senders get to flush at stop.
const FLUSH_AT_STOP: Duration = Duration::from_secs(3);

impl Bots {
    /// Starts every bot whose token is set. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// An invalid `[telegram]` section, or an HTTP client that cannot be built.
    pub fn start(config: &TelegramConfig, ctx: Context, limits: Limits) -> Result<Self, TelegramError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(TelegramError::Config(problems));
        }
        let ctx = Arc::new(ctx);
        let (stop, stopped) = watch::channel(false);
        let mut bots =
            Self { stop, outboxes: Vec::new(), senders: Vec::new(), others: Vec::new(), started: Vec::new() };
        let access = Access::new(&config.users);
        let ttl = Duration::from_secs(config.confirm_seconds);
        for (name, bot) in config.bots() {
            let Some(bot) = bot.filter(|b| b.is_on()) else { continue };
            let api = BotApi::new(&config.api_url, &bot.token)?;
            let outbox = Outbox::new(config.queue);
            bots.senders.push(tokio::spawn(run_sender(outbox.clone(), api.clone(), limits)));
            bots.outboxes.push(outbox.clone());
            bots.started.push(name);
            match name {
                "controller" | "analytics" => {
                    let analytics_only = name == "analytics";
                    let controller = Controller::new(ctx.clone(), access.clone(), outbox.clone(), ttl, analytics_only);
                    bots.others.push(tokio::spawn(poll(api, controller, analytics_only, stopped.clone())));
                    if analytics_only {
                        bots.others.push(tokio::spawn(daily_summaries(ctx.clone(), outbox, bot.chat_id)));
                    } else if bot.chat_id != 0 {
                        outbox.push(Outgoing::text(bot.chat_id, "zepix started. Send /help for the commands."));
                    }
                }
                _ => {
                    let events = ctx.engine.subscribe();
                    bots.others.push(tokio::spawn(crate::notifier::run(events, outbox, bot.chat_id, config.clone())));
                }
            }
        }
        Ok(bots)
    }

    /// Stops polling and reading events, lets the queues flush for a few seconds, then ends.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in &self.others {
            task.abort();
        }
        for outbox in &self.outboxes {
            outbox.close();
        }
        let flushed = tokio::time::timeout(FLUSH_AT_STOP, async {
            for sender in &mut self.senders {
                let _ = sender.await;
            }
        })
        .await;
        if flushed.is_err() {
            tracing::warn!("Telegram did not take every queued message before the stop");
        }
        for sender in &self.senders {
            sender.abort();
        }
    }
}

/// Sets the menu, then long-polls for updates until stopped.
async fn poll(api: BotApi, mut controller: Controller, analytics_only: bool, mut stopped: watch::Receiver<bool>) {
    if let Err(e) = api.set_my_commands(&menu(analytics_only)).await {
        tracing::warn!("setMyCommands failed: {e}");
    }
    match api.get_me().await {
        Ok(username) => controller.set_username(username),
        Err(e) => tracing::warn!("getMe failed: {e}"),
    }
    let mut offset = 0;
    let mut backoff = Duration::from_secs(1);
    loop {
        let updates = tokio::select! {
            _ = stopped.changed() => return,
            updates = api.get_updates(offset, POLL_TIMEOUT) => updates,
        };
        match updates {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                for update in updates {
                    offset = offset.max(update.update_id + 1);
                    controller.handle(update).await;
                }
            }
            Err(ApiError::RetryAfter(wait)) => tokio::time::sleep(wait).await,
            Err(e) => {
                tracing::warn!("getUpdates failed ({e}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// The daily summary to the analytics chat at each daily reset.
async fn daily_summaries(ctx: Arc<Context>, outbox: Outbox, chat: i64) {
    let mut events = ctx.engine.subscribe();
    loop {
        match events.recv().await {
            Ok(event) if event.kind == EventKind::DailyReset => {
                let Ok(status) = ctx.engine.status().await else { return };
                let trades = ctx.engine.store().trades(10_000).unwrap_or_default();
                let since = event.at - chrono::Duration::days(1);
                let text = analytics::daily_text("Daily summary", &status, &trades, since);
                for part in split(&text, MAX_MESSAGE) {
                    outbox.push(Outgoing::text(chat, part));
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
