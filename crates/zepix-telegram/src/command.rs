//! Commands: the table the menus and `/help` are built from, and the parser that turns a message
//! into a [`Cmd`] or an error that says what was expected.

use zepix_model::{PluginId, PositionId, Symbol, Timeframe, Trend};

use crate::api::BotCommand;
use crate::config::Role;

/// One command in the table.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Name without the slash.
    pub name: &'static str,
    /// Arguments, for `/help`.
    pub args: &'static str,
    /// For the menu and `/help`.
    pub about: &'static str,
    /// The role needed.
    pub role: Role,
    /// Also answered by the analytics bot.
    pub analytics: bool,
}

const fn spec(name: &'static str, args: &'static str, about: &'static str, role: Role, analytics: bool) -> Spec {
    Spec { name, args, about, role, analytics }
}

/// Every command, in menu order.
pub const COMMANDS: &[Spec] = &[
    spec("start", "", "what this bot does", Role::Viewer, true),
    spec("help", "", "the commands you may use", Role::Viewer, true),
    spec("status", "", "trading state, account, positions", Role::Viewer, true),
    spec("plugins", "", "every plugin and its state", Role::Viewer, false),
    spec("plugin", "<id>", "one plugin, with buttons", Role::Viewer, false),
    spec("positions", "", "open positions", Role::Viewer, false),
    spec("signals", "[n]", "recent signals and outcomes", Role::Viewer, true),
    spec("trend", "[SYMBOL TF bullish|bearish|neutral]", "show or set trends", Role::Viewer, false),
    spec("daily", "", "today's summary", Role::Viewer, true),
    spec("performance", "", "per plugin, with the equity curve", Role::Viewer, true),
    spec("risk", "", "exposure, daily loss used, locks", Role::Viewer, true),
    spec("shadow", "", "shadow versus live", Role::Viewer, true),
    spec("locks", "", "symbol locks", Role::Viewer, false),
    spec("pause", "", "reduce-only: no new positions", Role::Trader, false),
    spec("resume", "", "trade again", Role::Trader, false),
    spec("halt", "", "stop every plugin order (confirm)", Role::Trader, false),
    spec("close", "<id|SYMBOL|all>", "close positions (confirm)", Role::Trader, false),
    spec("unlock", "<SYMBOL>", "lift a symbol lock", Role::Trader, false),
    spec("config", "", "the configuration, secrets removed", Role::Admin, false),
];

/// The table entry of a command.
#[must_use]
pub fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|s| s.name == name)
}

/// The menu for `setMyCommands`.
#[must_use]
pub fn menu(analytics_only: bool) -> Vec<BotCommand> {
    COMMANDS
        .iter()
        .filter(|s| !analytics_only || s.analytics)
        .map(|s| BotCommand { command: s.name.to_owned(), description: s.about.to_owned() })
        .collect()
}

/// What `/close` closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseTarget {
    /// One position.
    Position(PositionId),
    /// Every position on a symbol.
    Symbol(Symbol),
    /// Every position.
    All,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `/start`.
    Start,
    /// `/help`.
    Help,
    /// `/status`.
    Status,
    /// `/plugins`.
    Plugins,
    /// `/plugin <id>`.
    Plugin(PluginId),
    /// `/positions`.
    Positions,
    /// `/signals [n]`.
    Signals(usize),
    /// `/trend` shows; with arguments sets.
    Trend(Option<(Symbol, Timeframe, Trend)>),
    /// `/daily`.
    Daily,
    /// `/performance`.
    Performance,
    /// `/risk`.
    Risk,
    /// `/shadow`.
    Shadow,
    /// `/locks`.
    Locks,
    /// `/pause`.
    Pause,
    /// `/resume`.
    Resume,
    /// `/halt`.
    Halt,
    /// `/close …`.
    Close(CloseTarget),
    /// `/unlock <SYMBOL>`.
    Unlock(Symbol),
    /// `/config`.
    Config,
}

impl Cmd {
    /// Its name in the table.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Help => "help",
            Self::Status => "status",
            Self::Plugins => "plugins",
            Self::Plugin(_) => "plugin",
            Self::Positions => "positions",
            Self::Signals(_) => "signals",
            Self::Trend(_) => "trend",
            Self::Daily => "daily",
            Self::Performance => "performance",
            Self::Risk => "risk",
            Self::Shadow => "shadow",
            Self::Locks => "locks",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Halt => "halt",
            Self::Close(_) => "close",
            Self::Unlock(_) => "unlock",
            Self::Config => "config",
        }
    }

    /// The role it needs: setting a trend needs a trader, showing them a viewer.
    #[must_use]
    pub fn role(&self) -> Role {
        match self {
            Self::Trend(Some(_)) => Role::Trader,
            other => find(other.name()).map_or(Role::Admin, |s| s.role),
        }
    }
}

/// Why a message is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command.
    #[error("unknown command /{0}: send /help for the list")]
    Unknown(String),
    /// Wrong arguments.
    #[error("/{command}: {problem}. Usage: /{command} {usage}")]
    Arguments {
        /// The command.
        command: &'static str,
        /// What is wrong.
        problem: String,
        /// Its usage.
        usage: &'static str,
    },
}

/// Parses a message. `Ok(None)`: not a command, or a command for another bot (`/status@other`).
///
/// # Errors
/// An unknown command or bad arguments.
pub fn parse(text: &str, bot_username: Option<&str>) -> Result<Option<Cmd>, CommandError> {
    let Some(rest) = text.trim().strip_prefix('/') else { return Ok(None) };
    let mut words = rest.split_whitespace();
    let head = words.next().unwrap_or_default();
    let (name, addressee) = head.split_once('@').map_or((head, None), |(n, a)| (n, Some(a)));
    if let (Some(to), Some(me)) = (addressee, bot_username)
        && !to.eq_ignore_ascii_case(me)
    {
        return Ok(None);
    }
    let name = name.to_ascii_lowercase();
    let spec = find(&name).ok_or_else(|| CommandError::Unknown(name.clone()))?;
    let args: Vec<&str> = words.collect();
    let bad = |problem: String| CommandError::Arguments { command: spec.name, problem, usage: spec.args };
    let none = |cmd: Cmd| if args.is_empty() { Ok(cmd) } else { Err(bad("takes no arguments".into())) };
    let cmd = match spec.name {
        "start" => none(Cmd::Start)?,
        "help" => none(Cmd::Help)?,
        "status" => none(Cmd::Status)?,
        "plugins" => none(Cmd::Plugins)?,
        "positions" => none(Cmd::Positions)?,
        "daily" => none(Cmd::Daily)?,
        "performance" => none(Cmd::Performance)?,
        "risk" => none(Cmd::Risk)?,
        "shadow" => none(Cmd::Shadow)?,
        "locks" => none(Cmd::Locks)?,
        "pause" => none(Cmd::Pause)?,
        "resume" => none(Cmd::Resume)?,
        "halt" => none(Cmd::Halt)?,
        "config" => none(Cmd::Config)?,
        "plugin" => match args.as_slice() {
            [id] => Cmd::Plugin(PluginId::new(id).map_err(|e| bad(format!("`{id}`: {e}")))?),
            _ => return Err(bad("needs one plugin id (see /plugins)".into())),
        },
        "signals" => match args.as_slice() {
            [] => Cmd::Signals(10),
            [n] => match n.parse::<usize>() {
                Ok(n @ 1..=50) => Cmd::Signals(n),
                _ => return Err(bad(format!("`{n}` is not a number from 1 to 50"))),
            },
            _ => return Err(bad("takes at most one number".into())),
        },
        "trend" => match args.as_slice() {
            [] => Cmd::Trend(None),
            [symbol, tf, trend] => {
                let symbol: Symbol = symbol.parse().map_err(|e| bad(format!("symbol `{symbol}`: {e}")))?;
                let tf: Timeframe = tf.parse().map_err(|e| bad(format!("timeframe `{tf}`: {e}")))?;
                let trend = match trend.to_ascii_lowercase().as_str() {
                    "bullish" | "bull" | "up" => Trend::Bullish,
                    "bearish" | "bear" | "down" => Trend::Bearish,
                    "neutral" | "none" => Trend::Neutral,
                    other => return Err(bad(format!("`{other}` is not bullish, bearish or neutral"))),
                };
                Cmd::Trend(Some((symbol, tf, trend)))
            }
            _ => return Err(bad("takes no arguments (show) or three (set)".into())),
        },
        "close" => match args.as_slice() {
            [all] if all.eq_ignore_ascii_case("all") => Cmd::Close(CloseTarget::All),
            [target] => match target.trim_start_matches('#').parse::<u64>() {
                Ok(id) => Cmd::Close(CloseTarget::Position(PositionId(id))),
                Err(_) => Cmd::Close(CloseTarget::Symbol(
                    target.parse().map_err(|e| bad(format!("`{target}` is not a position id or a symbol: {e}")))?,
                )),
            },
            _ => return Err(bad("needs one position id, symbol or `all`".into())),
        },
        "unlock" => match args.as_slice() {
            [symbol] => Cmd::Unlock(symbol.parse().map_err(|e| bad(format!("symbol `{symbol}`: {e}")))?),
            _ => return Err(bad("needs one symbol".into())),
        },
        other => return Err(CommandError::Unknown(other.to_owned())),
    };
    Ok(Some(cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Cmd {
        parse(text, Some("zepix_bot")).unwrap().unwrap()
    }

    fn err(text: &str) -> String {
        parse(text, Some("zepix_bot")).unwrap_err().to_string()
    }

    #[test]
    fn every_command_in_the_table_parses() {
        for spec in COMMANDS {
            let text = match spec.name {
                "plugin" => "/plugin v3_combined".to_owned(),
                "close" => "/close all".to_owned(),
                "unlock" => "/unlock XAUUSD".to_owned(),
                name => format!("/{name}"),
            };
            assert_eq!(ok(&text).name(), spec.name);
        }
    }

    #[test]
    fn arguments() {
        assert_eq!(ok("/close 12"), Cmd::Close(CloseTarget::Position(PositionId(12))));
        assert_eq!(ok("/close #3"), Cmd::Close(CloseTarget::Position(PositionId(3))));
        assert_eq!(ok("/close oanda:xauusd"), Cmd::Close(CloseTarget::Symbol("XAUUSD".parse().unwrap())));
        assert_eq!(ok("/CLOSE ALL"), Cmd::Close(CloseTarget::All));
        assert_eq!(ok("/signals 5"), Cmd::Signals(5));
        assert_eq!(ok("/status@zepix_bot"), Cmd::Status);
        assert_eq!(
            ok("/trend XAUUSD 15 bull"),
            Cmd::Trend(Some(("XAUUSD".parse().unwrap(), Timeframe::M15, Trend::Bullish)))
        );
        assert_eq!(ok("/trend XAUUSD 15 bull").role(), Role::Trader);
        assert_eq!(ok("/trend").role(), Role::Viewer);
    }

    #[test]
    fn not_commands_and_other_bots() {
        assert_eq!(parse("hello", None), Ok(None));
        assert_eq!(parse("/status@other_bot", Some("zepix_bot")), Ok(None));
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(err("/sell everything"), "unknown command /sell: send /help for the list");
        assert!(err("/plugin").contains("needs one plugin id"));
        assert!(err("/plugin Bad-Id").contains("`Bad-Id`"));
        assert!(err("/close").contains("Usage: /close <id|SYMBOL|all>"));
        assert!(err("/signals 500").contains("`500` is not a number from 1 to 50"));
        assert!(err("/trend XAUUSD 7x bullish").contains("timeframe `7x`"));
        assert!(err("/trend XAUUSD 15 sideways").contains("`sideways` is not bullish"));
        assert!(err("/halt now").contains("takes no arguments"));
        assert!(err("/unlock").contains("needs one symbol"));
    }

    #[test]
    fn menu_names_are_valid_for_telegram() {
        for c in menu(false) {
            assert!((1..=32).contains(&c.command.len()));
            assert!(c.command.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        assert!(menu(true).iter().any(|c| c.command == "performance"));
        assert!(!menu(true).iter().any(|c| c.command == "halt"));
    }
}
