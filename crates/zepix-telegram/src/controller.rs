//! The controller: commands from allowed users, inline buttons, and confirmations that expire
//! for what cannot be undone (close, halt, disable, promote). Every command and button press,
//! allowed or refused, is written to the engine's event log. The analytics bot runs the same
//! handler limited to its reports.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use zepix_engine::{EngineHandle, EngineStatus, PluginMode, PluginState, TradingState};
use zepix_model::{Event, EventKind, PluginId, PositionId};

use crate::analytics;
use crate::api::{Button, CallbackQuery, Keyboard, Message, Update};
use crate::auth::{Access, NOT_ALLOWED, Refusal};
use crate::bots::Context;
use crate::command::{COMMANDS, CloseTarget, Cmd, parse};
use crate::config::Role;
use crate::outbox::{Outbox, Outgoing};
use crate::text::{MAX_CAPTION, MAX_MESSAGE, row, split, truncate};

/// Something a button does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Close(Vec<PositionId>),
    Halt,
    Enable(PluginId),
    Disable(PluginId),
    Reload(PluginId),
    Mode(PluginId),
    Promote(PluginId),
}

impl Action {
    const fn role(&self) -> Role {
        match self {
            Self::Close(_) | Self::Halt => Role::Trader,
            _ => Role::Admin,
        }
    }

    const fn needs_confirmation(&self) -> bool {
        matches!(self, Self::Close(_) | Self::Halt | Self::Disable(_) | Self::Promote(_))
    }

    fn describe(&self) -> String {
        match self {
            Self::Close(ids) => {
                let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
                format!("close {}", ids.join(" "))
            }
            Self::Halt => "halt trading".into(),
            Self::Enable(id) => format!("enable {id}"),
            Self::Disable(id) => format!("disable {id}"),
            Self::Reload(id) => format!("reload {id}"),
            Self::Mode(id) => format!("switch the mode of {id}"),
            Self::Promote(id) => format!("promote {id}"),
        }
    }
}

/// A button waiting to be pressed.
#[derive(Debug)]
struct Pending {
    action: Action,
    /// For a confirmation: the only user who may confirm.
    asked_by: Option<i64>,
    expires: Instant,
}

enum Reply {
    Text(String),
    Buttons(String, Keyboard),
    Photo(Vec<u8>, String, String),
}

/// Commands for one bot.
pub struct Controller {
    ctx: Arc<Context>,
    access: Access,
    outbox: Outbox,
    ttl: Duration,
    analytics_only: bool,
    username: Option<String>,
    pending: HashMap<u32, Pending>,
    next: u32,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("analytics_only", &self.analytics_only).finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller answering through `outbox`; confirmations last `ttl`. With
    /// `analytics_only`, only the report commands are answered.
    #[must_use]
    pub fn new(ctx: Arc<Context>, access: Access, outbox: Outbox, ttl: Duration, analytics_only: bool) -> Self {
        Self { ctx, access, outbox, ttl, analytics_only, username: None, pending: HashMap::new(), next: 0 }
    }

    /// The bot's @username, so `/cmd@other_bot` in a group is left to the other bot.
    pub fn set_username(&mut self, username: Option<String>) {
        self.username = username;
    }

    fn engine(&self) -> &EngineHandle {
        &self.ctx.engine
    }

    /// Handles one update.
    pub async fn handle(&mut self, update: Update) {
        if let Some(message) = update.message {
            self.on_message(message).await;
        } else if let Some(query) = update.callback_query {
            self.on_callback(query).await;
        }
    }

    fn log(&self, user: i64, chat: i64, what: &str, outcome: &str, detail: &str) {
        let bot = if self.analytics_only { "analytics" } else { "controller" };
        let event = Event {
            at: self.engine().now(),
            kind: EventKind::Command,
            plugin: None,
            message: format!(
                "telegram {bot}: {what} by {user}: {outcome}{}",
                if detail.is_empty() { "" } else { ": " }
            ) + detail,
            data: json!({"source": "telegram", "bot": bot, "user": user, "chat": chat, "command": what, "outcome": outcome, "detail": detail}),
        };
        if let Err(e) = self.engine().record_event(event) {
            tracing::warn!("cannot record a Telegram command: {e}");
        }
    }

    async fn say(&self, chat: i64, reply: Reply) {
        match reply {
            Reply::Text(text) => {
                for part in split(&text, MAX_MESSAGE) {
                    self.outbox.send(Outgoing::text(chat, part)).await;
                }
            }
            Reply::Buttons(text, keyboard) => {
                let mut parts = split(&text, MAX_MESSAGE);
                let last = parts.pop().unwrap_or_default();
                for part in parts {
                    self.outbox.send(Outgoing::text(chat, part)).await;
                }
                self.outbox.send(Outgoing::Text { chat, text: last, keyboard: Some(keyboard), silent: false }).await;
            }
            Reply::Photo(png, caption, text) => {
                self.outbox.send(Outgoing::Photo { chat, png, caption: truncate(&caption, MAX_CAPTION) }).await;
                for part in split(&text, MAX_MESSAGE) {
                    self.outbox.send(Outgoing::text(chat, part)).await;
                }
            }
        }
    }

    async fn on_message(&mut self, message: Message) {
        let (Some(from), Some(text)) = (message.from, message.text) else { return };
        let (user, chat) = (from.id, message.chat.id);
        let what = truncate(text.split_whitespace().next().unwrap_or_default(), 40);
        let role = self.access.role(user);
        let parsed = parse(&text, self.username.as_deref());
        let Some(role) = role else {
            if !matches!(parsed, Ok(None)) || !text.trim_start().starts_with('/') {
                self.log(user, chat, &what, "refused", "not on the allowlist");
                self.say(chat, Reply::Text(NOT_ALLOWED.into())).await;
            }
            return;
        };
        let cmd = match parsed {
            Ok(Some(cmd)) => cmd,
            Ok(None) => {
                if !text.trim_start().starts_with('/') {
                    self.say(chat, Reply::Text("Send /help for the commands.".into())).await;
                }
                return;
            }
            Err(e) => {
                self.log(user, chat, &what, "invalid", &e.to_string());
                self.say(chat, Reply::Text(e.to_string())).await;
                return;
            }
        };
        let what = format!("/{}", cmd.name());
        if self.analytics_only && !COMMANDS.iter().any(|s| s.name == cmd.name() && s.analytics) {
            self.log(user, chat, &what, "invalid", "not an analytics command");
            self.say(chat, Reply::Text(format!("{what} is the controller's: this bot answers reports. Send /help.")))
                .await;
            return;
        }
        if let Err(Refusal::Role { has, needs }) = self.access.check(user, cmd.role()) {
            let why = format!("needs the {needs} role; you are a {has}");
            self.log(user, chat, &what, "refused", &why);
            self.say(chat, Reply::Text(format!("Sorry, {what} {why}."))).await;
            return;
        }
        let detail = match &cmd {
            Cmd::Plugin(id) => id.to_string(),
            Cmd::Close(t) => format!("{t:?}"),
            Cmd::Trend(Some((s, tf, t))) => format!("{s} {tf} {t}"),
            Cmd::Unlock(s) => s.to_string(),
            _ => String::new(),
        };
        self.log(user, chat, &what, "allowed", &detail);
        let reply = self.run(cmd, user, role).await;
        self.say(chat, reply).await;
    }

    fn register(&mut self, action: Action, asked_by: Option<i64>) -> u32 {
        let now = Instant::now();
        self.pending.retain(|_, p| p.expires > now);
        self.next = self.next.wrapping_add(1);
        self.pending.insert(self.next, Pending { action, asked_by, expires: now + self.ttl });
        self.next
    }

    fn confirm(&mut self, action: Action, user: i64, question: String) -> Reply {
        let n = self.register(action, Some(user));
        let keyboard = Keyboard {
            inline_keyboard: vec![vec![
                Button { text: "✅ Confirm".into(), callback_data: format!("ok:{n}") },
                Button { text: "✖️ Cancel".into(), callback_data: format!("no:{n}") },
            ]],
        };
        Reply::Buttons(format!("{question}\nConfirm within {} s.", self.ttl.as_secs()), keyboard)
    }

    async fn run(&mut self, cmd: Cmd, user: i64, role: Role) -> Reply {
        match self.answer(cmd, user, role).await {
            Ok(reply) => reply,
            Err(e) => Reply::Text(format!("The engine did not answer: {e}")),
        }
    }

    async fn answer(&mut self, cmd: Cmd, user: i64, role: Role) -> Result<Reply, zepix_engine::EngineError> {
        let engine = self.engine().clone();
        Ok(Reply::Text(match cmd {
            Cmd::Start => format!(
                "zepix {}. You are a {role}. Send /help for what you may do.",
                if self.analytics_only { "analytics" } else { "controller" }
            ),
            Cmd::Help => self.help(role),
            Cmd::Status => status_text(&engine.status().await?),
            Cmd::Plugins => {
                let plugins = engine.plugins().await?;
                let width = plugins.iter().map(|p| p.id.as_str().len()).max().unwrap_or(0);
                let mut out = format!("🧩 Plugins ({})", plugins.len());
                for p in &plugins {
                    let c = &p.counters;
                    let _ = write!(
                        out,
                        "\n{}",
                        row(
                            p.id.as_str(),
                            width,
                            format_args!("{:<8} {} signals, {} executed", state_name(p.state), c.signals, c.executed)
                        )
                    );
                }
                out
            }
            Cmd::Plugin(id) => return self.plugin_panel(&engine, &id).await,
            Cmd::Positions => positions_text(&engine.status().await?),
            Cmd::Signals(n) => match engine.store().recent_signals(n) {
                Ok(signals) if signals.is_empty() => "No signals yet.".into(),
                Ok(signals) => {
                    let mut out = format!("📨 Last {} signals", signals.len());
                    for s in signals {
                        let o = &s.outcome;
                        let _ = write!(
                            out,
                            "\n{} {} {}{}",
                            s.signal.id,
                            o.status,
                            o.plugin.as_ref().map(ToString::to_string).unwrap_or_default(),
                            o.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                        );
                    }
                    out
                }
                Err(e) => format!("Cannot read the signals: {e}"),
            },
            Cmd::Trend(None) => {
                let trends = engine.status().await?.trends;
                if trends.is_empty() {
                    "No trends set yet.".into()
                } else {
                    let mut out = "📐 Trends".to_owned();
                    for t in trends {
                        let _ = write!(out, "\n{} {:<3} {}", t.symbol, t.timeframe.to_string(), t.trend);
                    }
                    out
                }
            }
            Cmd::Trend(Some((symbol, tf, trend))) => {
                engine.set_trend(symbol.clone(), tf, trend).await?;
                format!("📐 {symbol} {tf} trend set to {trend}.")
            }
            Cmd::Daily => {
                let status = engine.status().await?;
                let since = status.next_daily_reset - chrono::Duration::days(1);
                let trades = engine.store().trades(10_000).unwrap_or_default();
                analytics::daily_text("Today so far", &status, &trades, since)
            }
            Cmd::Performance => return performance(&engine).await,
            Cmd::Risk => analytics::risk_text(&engine.status().await?, self.ctx.daily_loss_limit),
            Cmd::Shadow => analytics::shadow_text(&engine.shadow_report().await?),
            Cmd::Locks => analytics::locks_text(&engine.status().await?.locks),
            Cmd::Unlock(symbol) => match engine.unlock(symbol.clone()).await {
                Ok(lock) => format!("🔓 {symbol} unlocked: it was locked until {} ({}).", lock.until, lock.reason),
                Err(zepix_engine::EngineError::Refused(why)) => format!("Nothing to lift: {why}."),
                Err(e) => return Err(e),
            },
            Cmd::Pause => {
                engine.set_trading_state(TradingState::Paused).await?;
                "⏸ Trading paused: reduce-only, no new positions. /resume to trade again.".into()
            }
            Cmd::Resume => {
                engine.set_trading_state(TradingState::Active).await?;
                "▶️ Trading active.".into()
            }
            Cmd::Halt => {
                return Ok(self.confirm(
                    Action::Halt,
                    user,
                    "🛑 Halt trading? Plugins will place nothing; SL/TP still work and /close still works.".into(),
                ));
            }
            Cmd::Close(target) => {
                let status = engine.status().await?;
                let chosen: Vec<_> = status
                    .positions
                    .iter()
                    .filter(|p| match &target {
                        CloseTarget::Position(id) => p.id == *id,
                        CloseTarget::Symbol(s) => &p.symbol == s,
                        CloseTarget::All => true,
                    })
                    .collect();
                if chosen.is_empty() {
                    match target {
                        CloseTarget::Position(id) => format!("No open position #{id}: see /positions."),
                        CloseTarget::Symbol(s) => format!("No open position on {s}."),
                        CloseTarget::All => "No open positions.".into(),
                    }
                } else {
                    let mut question = format!("Close {} position(s)?", chosen.len());
                    for p in &chosen {
                        let _ = write!(question, "\n#{} {} {} {} @ {}", p.id, p.side, p.lots, p.symbol, p.entry_price);
                    }
                    let ids = chosen.iter().map(|p| p.id).collect();
                    return Ok(self.confirm(Action::Close(ids), user, question));
                }
            }
            Cmd::Config => self.ctx.config_text.clone(),
        }))
    }

    fn help(&self, role: Role) -> String {
        let mut out = "Commands you may use:".to_owned();
        for s in COMMANDS.iter().filter(|s| s.role <= role && (!self.analytics_only || s.analytics)) {
            let usage = if s.args.is_empty() { format!("/{}", s.name) } else { format!("/{} {}", s.name, s.args) };
            let _ = write!(out, "\n{usage} — {}", s.about);
        }
        out
    }

    async fn plugin_panel(&mut self, engine: &EngineHandle, id: &PluginId) -> Result<Reply, zepix_engine::EngineError> {
        let plugins = engine.plugins().await?;
        let Some(p) = plugins.iter().find(|p| &p.id == id) else {
            return Ok(Reply::Text(format!("No plugin `{id}`: see /plugins.")));
        };
        let mut text = format!("🧩 {} ({} {})", p.id, p.name, p.version);
        for (label, value) in [
            ("state", state_name(p.state).to_owned()),
            ("mode", serde_json::to_value(p.mode).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
            ("strategy", p.strategy.clone().unwrap_or_else(|| "-".into())),
            ("signals", counters(&p.counters)),
        ] {
            let _ = write!(text, "\n{}", row(label, 8, value));
        }
        if let Some(e) = &p.last_error {
            let _ = write!(text, "\n{}", row("error", 8, &e.message));
        }
        let toggle = if p.state == PluginState::Disabled || p.state == PluginState::Failed {
            ("▶️ Enable", Action::Enable(id.clone()))
        } else {
            ("⏸ Disable", Action::Disable(id.clone()))
        };
        let mut row1 = Vec::new();
        for (label, action) in [toggle, ("🔄 Reload", Action::Reload(id.clone()))] {
            row1.push(Button { text: label.into(), callback_data: format!("do:{}", self.register(action, None)) });
        }
        let mut row2 = Vec::new();
        for (label, action) in [("🔀 Mode", Action::Mode(id.clone())), ("⬆️ Promote", Action::Promote(id.clone()))]
        {
            row2.push(Button { text: label.into(), callback_data: format!("do:{}", self.register(action, None)) });
        }
        Ok(Reply::Buttons(text, Keyboard { inline_keyboard: vec![row1, row2] }))
    }

    async fn on_callback(&mut self, query: CallbackQuery) {
        let user = query.from.id;
        let message = query.message.as_ref().map(|m| (m.chat.id, m.message_id));
        let chat = message.map_or(user, |(c, _)| c);
        let data = query.data.clone().unwrap_or_default();
        let answer = |text: &str| Outgoing::Answer { id: query.id.clone(), text: text.to_owned() };
        if self.access.role(user).is_none() {
            self.log(user, chat, "button", "refused", "not on the allowlist");
            self.outbox.send(answer(NOT_ALLOWED)).await;
            return;
        }
        let parsed = data.split_once(':').and_then(|(op, n)| Some((op.to_owned(), n.parse::<u32>().ok()?)));
        let Some((op, n)) = parsed.filter(|(op, _)| ["ok", "no", "do"].contains(&op.as_str())) else {
            self.log(user, chat, "button", "invalid", &truncate(&data, 64));
            self.outbox.send(answer("This button is not one of mine.")).await;
            return;
        };
        let edit = |text: String| message.map(|(chat, message_id)| Outgoing::Edit { chat, message_id, text });
        let Some(pending) = self.pending.get(&n).filter(|p| p.expires > Instant::now()) else {
            self.pending.remove(&n);
            self.log(user, chat, "button", "expired", "");
            self.outbox.send(answer("Expired: nothing was done.")).await;
            if op != "do"
                && let Some(e) = edit("⌛ Expired: nothing was done. Send the command again.".into())
            {
                self.outbox.send(e).await;
            }
            return;
        };
        let action = pending.action.clone();
        let what = action.describe();
        if op != "do" && pending.asked_by != Some(user) {
            self.log(user, chat, &what, "refused", "only the user who asked may confirm");
            self.outbox.send(answer("Only the person who asked can confirm this.")).await;
            return;
        }
        if let Err(Refusal::Role { has, needs }) = self.access.check(user, action.role()) {
            let why = format!("needs the {needs} role; you are a {has}");
            self.log(user, chat, &what, "refused", &why);
            self.outbox.send(answer(&format!("Sorry, this {why}."))).await;
            return;
        }
        match op.as_str() {
            "no" => {
                self.pending.remove(&n);
                self.log(user, chat, &what, "cancelled", "");
                self.outbox.send(answer("Cancelled.")).await;
                if let Some(e) = edit(format!("Cancelled: did not {what}.")) {
                    self.outbox.send(e).await;
                }
            }
            "ok" => {
                self.pending.remove(&n);
                self.log(user, chat, &what, "confirmed", "");
                let result = self.execute(action).await;
                self.outbox.send(answer("Done.")).await;
                match edit(result.clone()) {
                    Some(e) => self.outbox.send(e).await,
                    None => self.say(chat, Reply::Text(result)).await,
                }
            }
            _ if action.needs_confirmation() => {
                self.log(user, chat, &what, "allowed", "confirmation asked");
                self.outbox.send(answer("Confirm below.")).await;
                let reply = self.confirm(action, user, format!("Really {what}?"));
                self.say(chat, reply).await;
            }
            _ => {
                self.log(user, chat, &what, "allowed", "");
                let result = self.execute(action).await;
                self.outbox.send(answer("Done.")).await;
                self.say(chat, Reply::Text(result)).await;
            }
        }
    }

    async fn execute(&self, action: Action) -> String {
        let engine = self.engine();
        match action {
            Action::Close(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    out.push(match engine.close_position(id).await {
                        Ok(t) => format!(
                            "#{id} closed at {}: {} ({} pips)",
                            t.exit_price,
                            analytics::signed(t.pnl.value()),
                            t.pips
                        ),
                        Err(e) => format!("#{id} not closed: {e}"),
                    });
                }
                out.join("\n")
            }
            Action::Halt => match engine.set_trading_state(TradingState::Halted).await {
                Ok(()) => "🛑 Trading halted. SL/TP still work; /close still works; /resume to trade again.".into(),
                Err(e) => format!("Not halted: {e}"),
            },
            Action::Enable(id) => match engine.set_enabled(id.clone(), true).await {
                Ok(s) => format!("{id} is {}.", state_name(s.state)),
                Err(e) => format!("{id} not enabled: {e}"),
            },
            Action::Disable(id) => match engine.set_enabled(id.clone(), false).await {
                Ok(s) => format!("{id} is {}.", state_name(s.state)),
                Err(e) => format!("{id} not disabled: {e}"),
            },
            Action::Reload(id) => match engine.reload(id.clone()).await {
                Ok(info) => format!("{id} reloaded: {} {}.", info.name, info.version),
                Err(e) => format!("{id} not reloaded: {e}"),
            },
            Action::Mode(id) => {
                let plugins = engine.plugins().await.unwrap_or_default();
                let now = plugins.iter().find(|p| p.id == id).map(|p| p.mode);
                let to = if now == Some(PluginMode::Shadow) { PluginMode::Live } else { PluginMode::Shadow };
                mode_answer(&id, to, engine.set_mode(id.clone(), to).await)
            }
            Action::Promote(id) => {
                mode_answer(&id, PluginMode::Live, engine.set_mode(id.clone(), PluginMode::Live).await)
            }
        }
    }
}

fn mode_answer(
    id: &PluginId,
    to: PluginMode,
    result: Result<zepix_engine::PluginStatus, zepix_engine::EngineError>,
) -> String {
    match (result, to) {
        (Ok(_), PluginMode::Live) => format!("⬆️ {id} is live: its next orders go to the venue."),
        (Ok(_), PluginMode::Shadow) => format!("🕶 {id} is in shadow: its next orders go to its virtual book."),
        (Err(e), _) => format!("{id}: mode not changed: {e}"),
    }
}

fn counters(c: &zepix_engine::registry::Counters) -> String {
    format!(
        "{} in: {} executed, {} rejected, {} ignored, {} failed",
        c.signals, c.executed, c.rejected, c.ignored, c.failures
    )
}

fn state_name(state: PluginState) -> &'static str {
    match state {
        PluginState::Discovered => "discovered",
        PluginState::Loaded => "loaded",
        PluginState::Initialized => "initialized",
        PluginState::Running => "running",
        PluginState::Disabled => "disabled",
        PluginState::Stopped => "stopped",
        PluginState::Failed => "failed",
    }
}

/// `/status`.
fn status_text(s: &EngineStatus) -> String {
    let running = s.plugins.iter().filter(|(_, st)| *st == PluginState::Running).count();
    let mode = serde_json::to_value(s.mode).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    [
        "📟 zepix".to_owned(),
        row(
            "trading",
            9,
            format_args!("{}{}", s.trading_state, if s.daily_loss_locked { " (daily loss lock)" } else { "" }),
        ),
        row("mode", 9, format_args!("{mode} on {}", s.venue)),
        row("balance", 9, s.account.balance),
        row("equity", 9, s.account.equity),
        row("today", 9, analytics::signed(s.realized_today.value())),
        row("open", 9, s.positions.len()),
        row("plugins", 9, format_args!("{running} of {} running", s.plugins.len())),
        row("reset", 9, s.next_daily_reset.format("%Y-%m-%d %H:%M UTC")),
    ]
    .join("\n")
}

/// `/positions`.
fn positions_text(s: &EngineStatus) -> String {
    if s.positions.is_empty() {
        return "No open positions.".into();
    }
    let mut out = format!("📂 Positions ({})", s.positions.len());
    for p in &s.positions {
        let _ = write!(out, "\n#{} {} {} {} @ {}", p.id, p.side, p.lots, p.symbol, p.entry_price);
        if let Some(sl) = p.sl {
            let _ = write!(out, " sl {sl}");
        }
        if let Some(tp) = p.tp {
            let _ = write!(out, " tp {tp}");
        }
        let _ = write!(out, " [{}]", p.plugin);
    }
    out
}

/// `/performance`: the text, and the equity curve as a photo.
async fn performance(engine: &EngineHandle) -> Result<Reply, zepix_engine::EngineError> {
    let mut trades = engine.store().trades(10_000).unwrap_or_default();
    trades.reverse();
    let text = analytics::performance_text(&trades);
    let status = engine.status().await?;
    let points = analytics::equity_curve(status.account.balance, &trades);
    Ok(match analytics::equity_png(&points) {
        Ok(png) => Reply::Photo(png, analytics::equity_caption(&points, trades.len()), text),
        Err(e) => Reply::Text(format!("{text}\n(no chart: {e})")),
    })
}

#[cfg(test)]
mod tests {
    use zepix_engine::testkit::TestEngine;
    use zepix_model::TestClock;

    use super::*;
    use crate::config::TelegramUser;

    fn update(value: serde_json::Value) -> Update {
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_confirmation_expires_and_nothing_is_done() {
        let clock = TestClock::new("2026-03-02T10:00:00Z".parse().unwrap());
        let engine = TestEngine::start(Arc::new(clock), Vec::new());
        let ctx = Arc::new(Context {
            engine: engine.handle.clone(),
            config_text: String::new(),
            daily_loss_limit: rust_decimal::Decimal::ZERO,
        });
        let outbox = Outbox::new(100);
        let access = Access::new(&[TelegramUser { id: 1, role: Role::Admin }]);
        let mut controller = Controller::new(ctx, access, outbox.clone(), Duration::from_secs(60), false);
        controller
            .handle(update(json!({"update_id": 1, "message": {"message_id": 3, "from": {"id": 1},
                "chat": {"id": 1}, "text": "/halt"}})))
            .await;
        let Some(Outgoing::Text { keyboard: Some(keyboard), .. }) = outbox.take_all().pop() else {
            panic!("no confirmation asked")
        };
        let ok = keyboard.inline_keyboard[0][0].callback_data.clone();
        tokio::time::advance(Duration::from_secs(61)).await;
        controller
            .handle(update(json!({"update_id": 2, "callback_query": {"id": "q", "from": {"id": 1}, "data": ok,
                "message": {"message_id": 3, "chat": {"id": 1}}}})))
            .await;
        let sent = outbox.take_all();
        assert_eq!(sent[0], Outgoing::Answer { id: "q".into(), text: "Expired: nothing was done.".into() });
        assert!(matches!(&sent[1], Outgoing::Edit { text, .. } if text.starts_with("⌛ Expired")));
        assert_eq!(engine.handle.status().await.unwrap().trading_state, TradingState::Active);
    }
}
