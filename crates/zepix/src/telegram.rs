//! Wiring of the Telegram bots: `[telegram]` from `zepix.toml`, the running engine, and a copy
//! of the configuration with every secret removed for `/config`.

use anyhow::{Context as _, Result};
use zepix_engine::EngineHandle;
use zepix_telegram::outbox::Limits;
use zepix_telegram::{Bots, Context};

use crate::config::Config;

/// Starts the bots whose tokens are set; `None` when none is.
///
/// # Errors
/// An invalid `[telegram]` section, or an HTTP client that cannot be built.
pub fn start(config: &Config, engine: &EngineHandle) -> Result<Option<Bots>> {
    if !config.telegram.any_on() {
        return Ok(None);
    }
    let ctx = Context {
        engine: engine.clone(),
        config_text: redacted(config),
        daily_loss_limit: config.risk.daily_loss_limit,
    };
    let bots = Bots::start(&config.telegram, ctx, Limits::default()).context("starting the Telegram bots")?;
    tracing::info!("telegram: {} running", bots.started.join(", "));
    Ok(Some(bots))
}

/// Keys whose values never leave the engine.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "token", "password", "passphrase", "key"].iter().any(|s| key.contains(s))
}

fn redact(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table.iter_mut() {
                if is_secret(key) {
                    *v = toml::Value::String("<redacted>".into());
                } else {
                    redact(v);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The configuration as TOML, secrets replaced by `<redacted>`.
fn redacted(config: &Config) -> String {
    let mut table = toml::Table::new();
    let mut put = |name: &str, value: Result<toml::Value, toml::ser::Error>| {
        if let Ok(v) = value {
            table.insert(name.to_owned(), v);
        }
    };
    put("server", toml::Value::try_from(&config.server));
    put("engine", toml::Value::try_from(&config.engine));
    put("plugin_system", toml::Value::try_from(&config.plugin_system));
    put("venue", toml::Value::try_from(&config.venue));
    put("risk", toml::Value::try_from(&config.risk));
    put("plugins", toml::Value::try_from(&config.plugins));
    put("telegram", toml::Value::try_from(&config.telegram));
    let mut value = toml::Value::Table(table);
    redact(&mut value);
    format!("⚙️ Configuration (secrets removed)\n{}", toml::to_string(&value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_reaches_config() {
        let text = r#"
[server]
secret = "hunter2"
[telegram]
[telegram.controller]
token = "123:abcdef"
[[telegram.users]]
id = 5
role = "admin"
[plugins.signal_executor.settings]
api_key = "k-123"
"#;
        let config = Config::parse(text, |_| None).unwrap();
        let shown = redacted(&config);
        for secret in ["hunter2", "123:abcdef", "k-123"] {
            assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
        }
        assert!(shown.contains("<redacted>"));
    }
}
