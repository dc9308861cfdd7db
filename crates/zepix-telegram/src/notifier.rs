//! The notifier: every engine event worth a message becomes one, tagged with its plugin, sent
//! `on`, `silent` or not at all as configured. It reads the engine's event bus and only ever
//! pushes to its outbox, so it never slows the kernel.

use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};
use zepix_model::{Event, EventKind};

use crate::config::{Delivery, NotifyKind, TelegramConfig};
use crate::outbox::{Outbox, Outgoing};
use crate::text::{MAX_MESSAGE, split};

/// What an event is for the notifier, if anything.
#[must_use]
pub fn classify(event: &Event) -> Option<NotifyKind> {
    let field = |k: &str| event.data.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    Some(match event.kind {
        EventKind::OrderPlaced => NotifyKind::TradeOpened,
        EventKind::OrderRejected => NotifyKind::OrderRejected,
        EventKind::PositionClosed => match field("reason").as_str() {
            "stop_loss" => NotifyKind::SlHit,
            "take_profit" => NotifyKind::TpHit,
            _ => NotifyKind::TradeClosed,
        },
        EventKind::PluginState => match field("to").as_str() {
            "failed" => NotifyKind::PluginFailed,
            "disabled" => NotifyKind::PluginDisabled,
            _ => return None,
        },
        EventKind::PluginError => NotifyKind::Error,
        EventKind::DailyLossLimit => NotifyKind::DailyLossLimit,
        EventKind::TradingState | EventKind::SymbolLock => NotifyKind::TradingState,
        EventKind::Chain => NotifyKind::PluginNotice,
        EventKind::Notify => NotifyKind::PluginNotice,
        EventKind::DailyReset | EventKind::Engine | EventKind::Command => return None,
    })
}

/// The message for an event of a kind.
#[must_use]
pub fn format(kind: NotifyKind, event: &Event) -> String {
    let icon = match kind {
        NotifyKind::TradeOpened => "🟢 Trade opened",
        NotifyKind::TradeClosed => "⚪️ Trade closed",
        NotifyKind::SlHit => "🔴 SL hit",
        NotifyKind::TpHit => "🎯 TP hit",
        NotifyKind::OrderRejected => "⛔️ Order refused",
        NotifyKind::PluginDisabled => "⏸ Plugin disabled",
        NotifyKind::PluginFailed => "💥 Plugin failed",
        NotifyKind::Error => "⚠️ Error",
        NotifyKind::DailyLossLimit => "🛑 Daily loss limit",
        NotifyKind::TradingState => "🚦 Trading",
        NotifyKind::PluginNotice => "🔔",
    };
    match &event.plugin {
        Some(plugin) => format!("{icon} [{plugin}]\n{}", event.message),
        None => format!("{icon}\n{}", event.message),
    }
}

/// Turns events into messages for `chat` until the engine's bus closes.
pub async fn run(mut events: broadcast::Receiver<Event>, outbox: Outbox, chat: i64, config: TelegramConfig) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let Some(kind) = classify(&event) else { continue };
                let silent = match config.delivery(kind) {
                    Delivery::Off => continue,
                    Delivery::Silent => true,
                    Delivery::On => false,
                };
                for text in split(&format(kind, &event), MAX_MESSAGE) {
                    outbox.push(Outgoing::Text { chat, text, keyboard: None, silent });
                }
            }
            Err(RecvError::Lagged(n)) => {
                outbox.push(Outgoing::text(
                    chat,
                    format!("⚠️ {n} engine events were missed (the notifier fell behind)."),
                ));
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;
    use zepix_model::PluginId;

    use super::*;

    fn event(kind: EventKind, data: Value) -> Event {
        Event { at: Utc::now(), kind, plugin: PluginId::new("v3_combined").ok(), message: "m".into(), data }
    }

    #[test]
    fn events_map_to_kinds() {
        assert_eq!(classify(&event(EventKind::OrderPlaced, json!({}))), Some(NotifyKind::TradeOpened));
        assert_eq!(
            classify(&event(EventKind::PositionClosed, json!({"reason": "stop_loss"}))),
            Some(NotifyKind::SlHit)
        );
        assert_eq!(
            classify(&event(EventKind::PositionClosed, json!({"reason": "take_profit"}))),
            Some(NotifyKind::TpHit)
        );
        assert_eq!(
            classify(&event(EventKind::PositionClosed, json!({"reason": "manual"}))),
            Some(NotifyKind::TradeClosed)
        );
        assert_eq!(classify(&event(EventKind::PluginState, json!({"to": "failed"}))), Some(NotifyKind::PluginFailed));
        assert_eq!(classify(&event(EventKind::PluginState, json!({"to": "running"}))), None);
        assert_eq!(classify(&event(EventKind::Command, json!({}))), None);
    }

    #[test]
    fn messages_carry_the_plugin() {
        let e = event(EventKind::OrderPlaced, json!({}));
        assert_eq!(format(NotifyKind::TradeOpened, &e), "🟢 Trade opened [v3_combined]\nm");
    }

    #[tokio::test]
    async fn settings_silence_or_drop() {
        let (tx, rx) = broadcast::channel(16);
        let outbox = Outbox::new(16);
        let mut config = TelegramConfig::default();
        config.notify.insert(NotifyKind::TradeOpened, Delivery::Silent);
        config.notify.insert(NotifyKind::Error, Delivery::Off);
        tx.send(event(EventKind::PluginError, json!({}))).unwrap();
        tx.send(event(EventKind::OrderPlaced, json!({}))).unwrap();
        tx.send(event(EventKind::PositionClosed, json!({"reason": "signal"}))).unwrap();
        drop(tx);
        run(rx, outbox.clone(), 42, config).await;
        let sent: Vec<(String, bool)> = outbox
            .take_all()
            .into_iter()
            .map(|o| match o {
                Outgoing::Text { text, silent, .. } => (text, silent),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            sent,
            [("🟢 Trade opened [v3_combined]\nm".into(), true), ("⚪️ Trade closed [v3_combined]\nm".into(), false)]
        );
    }
}
