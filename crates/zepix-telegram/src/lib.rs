//! zepix's Telegram bots: the controller takes commands, the notifier reports trade events as they
//! happen, analytics sends the daily summary and answers for performance with charts.
//!
//! - [`config`]: `[telegram]` in `zepix.toml`, checked before anything starts.
//! - [`api`]: a lean Bot API client (HTTPS, long polling, multipart photos, 429 handling).
//! - [`outbox`]: the per-bot send queue: rate limits, retry-after, bounded during outages.
//! - [`auth`]: the allowlist and its roles. [`command`]: command parsing.
//! - [`controller`]: commands, inline buttons and confirmations.
//! - [`notifier`]: engine events to messages. [`analytics`]: reports and the equity chart.
//! - [`text`]: message splitting and formatting. [`bots`]: starting and stopping all three.

pub mod analytics;
pub mod api;
pub mod auth;
pub mod bots;
pub mod command;
pub mod config;
pub mod controller;
pub mod error;
pub mod notifier;
pub mod outbox;
pub mod text;

pub use bots::{Bots, Context};
pub use config::{BotConfig, Delivery, NotifyKind, Role, TelegramConfig, TelegramUser};
pub use error::TelegramError;
