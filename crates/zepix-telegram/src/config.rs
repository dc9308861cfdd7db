//! `[telegram]` in `zepix.toml`: the API URL, the three bots, the allowed users and their roles,
//! and what the notifier sends. An empty token turns a bot off, so a config can name
//! `${ZEPIX_TG_NOTIFIER_TOKEN:-}` and the bot starts when the variable is set.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The public Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// `[telegram]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Bot API base URL (a self-hosted Bot API server, or a fake in tests).
    pub api_url: String,
    /// The controller bot: commands.
    pub controller: Option<BotConfig>,
    /// The notifier bot: trade events.
    pub notifier: Option<BotConfig>,
    /// The analytics bot: daily summary and reports.
    pub analytics: Option<BotConfig>,
    /// Who may command the engine (by Telegram user id, never by chat).
    pub users: Vec<TelegramUser>,
    /// Per event: `on`, `silent` (no sound) or `off`. Unlisted events are `on`.
    pub notify: BTreeMap<NotifyKind, Delivery>,
    /// Messages each bot keeps while Telegram cannot be reached; the oldest go first.
    pub queue: usize,
    /// Seconds a confirmation button stays valid.
    pub confirm_seconds: u64,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            controller: None,
            notifier: None,
            analytics: None,
            users: Vec::new(),
            notify: BTreeMap::new(),
            queue: 1_000,
            confirm_seconds: 60,
        }
    }
}

/// One bot.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// The token from @BotFather; empty turns the bot off.
    pub token: String,
    /// The chat it posts to (notifier and analytics: required; controller: start-up notice).
    pub chat_id: i64,
}

impl fmt::Debug for BotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotConfig").field("token", &"<redacted>").field("chat_id", &self.chat_id).finish()
    }
}

impl BotConfig {
    /// Whether the bot runs.
    #[must_use]
    pub fn is_on(&self) -> bool {
        !self.token.is_empty()
    }
}

/// An allowed user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramUser {
    /// Telegram user id (`from.id`).
    pub id: i64,
    /// What they may do.
    pub role: Role,
}

/// What an allowed user may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads status, positions, reports.
    Viewer,
    /// Also pauses, resumes, halts, closes, sets trends.
    Trader,
    /// Also manages plugins and reads the config.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Viewer => "viewer",
            Self::Trader => "trader",
            Self::Admin => "admin",
        })
    }
}

/// The events the notifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// A position opened.
    TradeOpened,
    /// A position closed by a signal, a reversal or an operator.
    TradeClosed,
    /// A stop loss closed a position.
    SlHit,
    /// A take profit closed a position.
    TpHit,
    /// An order was refused.
    OrderRejected,
    /// A plugin was disabled.
    PluginDisabled,
    /// A plugin failed (5 consecutive failures, or could not start).
    PluginFailed,
    /// A plugin call failed.
    Error,
    /// The daily loss limit was reached.
    DailyLossLimit,
    /// Trading was paused, halted or resumed.
    TradingState,
    /// A plugin's own notification (re-entry and chain level changes come this way).
    PluginNotice,
}

/// How an event is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Sent with sound.
    #[default]
    On,
    /// Sent without sound.
    Silent,
    /// Not sent.
    Off,
}

impl TelegramConfig {
    /// Every problem beyond the shape of the section, each naming its key.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(self.api_url.starts_with("https://") || self.api_url.starts_with("http://")) {
            problems.push(format!("api_url: `{}` is not an http(s) URL", self.api_url));
        }
        for (name, bot) in self.bots() {
            let Some(bot) = bot.filter(|b| b.is_on()) else { continue };
            let (id, secret) = bot.token.split_once(':').unwrap_or(("", ""));
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || secret.is_empty() {
                problems.push(format!(
                    "{name}.token: not a bot token (expected `<digits>:<secret>` as @BotFather gives it)"
                ));
            }
            if name != "controller" && bot.chat_id == 0 {
                problems.push(format!("{name}.chat_id: the {name} needs the chat it posts to"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for user in &self.users {
            if user.id <= 0 {
                problems.push(format!(
                    "users: {} is not a user id (a group or channel grants nothing; list each person's own id)",
                    user.id
                ));
            } else if !seen.insert(user.id) {
                problems.push(format!("users: {} is listed twice", user.id));
            }
        }
        if self.queue == 0 {
            problems.push("queue: must be at least 1".into());
        }
        if self.confirm_seconds == 0 {
            problems.push("confirm_seconds: must be at least 1".into());
        }
        problems
    }

    /// The bots by name.
    #[must_use]
    pub fn bots(&self) -> [(&'static str, Option<&BotConfig>); 3] {
        [
            ("controller", self.controller.as_ref()),
            ("notifier", self.notifier.as_ref()),
            ("analytics", self.analytics.as_ref()),
        ]
    }

    /// Whether any bot runs.
    #[must_use]
    pub fn any_on(&self) -> bool {
        self.bots().iter().any(|(_, b)| b.is_some_and(BotConfig::is_on))
    }

    /// How an event kind is delivered.
    #[must_use]
    pub fn delivery(&self, kind: NotifyKind) -> Delivery {
        self.notify.get(&kind).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TelegramConfig, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_section_parses_and_passes() {
        let config = parse(
            r#"{"api_url": "http://127.0.0.1:9", "controller": {"token": "1:a", "chat_id": 5},
                "notifier": {"token": "2:b", "chat_id": -100}, "users": [{"id": 7, "role": "admin"}],
                "notify": {"trade_opened": "silent", "error": "off"}, "queue": 10}"#,
        )
        .unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(config.delivery(NotifyKind::TradeOpened), Delivery::Silent);
        assert_eq!(config.delivery(NotifyKind::TradeClosed), Delivery::On);
        assert!(config.any_on());
        assert!(!format!("{:?}", config.controller).contains("1:a"), "the token never reaches a log");
    }

    #[test]
    fn bad_shapes_are_refused_by_name() {
        for (text, needle) in [
            (r#"{"users": [{"id": 7, "role": "boss"}]}"#, "unknown variant `boss`"),
            (r#"{"notify": {"trade_opend": "on"}}"#, "unknown variant `trade_opend`"),
            (r#"{"notify": {"trade_opened": "loud"}}"#, "unknown variant `loud`"),
            (r#"{"controller": {"token": "1:a", "chat": 1}}"#, "unknown field `chat`"),
            (r#"{"colour": 1}"#, "unknown field `colour`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn bad_values_are_listed_together() {
        let config = parse(
            r#"{"api_url": "ftp://x", "controller": {"token": "abc"}, "notifier": {"token": "1:x"},
                "users": [{"id": -1001, "role": "admin"}, {"id": 5, "role": "viewer"}, {"id": 5, "role": "admin"}],
                "queue": 0}"#,
        )
        .unwrap();
        let problems = config.problems().join("\n");
        for needle in [
            "api_url: `ftp://x`",
            "controller.token: not a bot token",
            "notifier.chat_id: the notifier needs",
            "users: -1001 is not a user id",
            "users: 5 is listed twice",
            "queue: must be at least 1",
        ] {
            assert!(problems.contains(needle), "missing `{needle}` in:\n{problems}");
        }
    }

    #[test]
    fn an_empty_token_turns_a_bot_off() {
        let config = parse(r#"{"notifier": {"token": ""}}"#).unwrap();
        assert!(config.problems().is_empty());
        assert!(!config.any_on());
    }
}
