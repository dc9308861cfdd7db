//! What happened to a signal: stored with it, shown by `GET /api/signals/{id}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use zepix_model::{OrderId, PluginId, PositionId};
use zepix_plugin::{Decision, DecisionKind};

/// The outcome's headline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// A plugin placed orders or closed positions.
    Executed,
    /// Refused: by a hook, a plugin's filter, the risk gate, or as stale.
    Rejected,
    /// Routed, but nothing to do.
    Ignored,
    /// No plugin takes it.
    Unrouted,
    /// The plugin failed (error or panic).
    Failed,
    /// A trend or market update was applied.
    Applied,
}

impl OutcomeStatus {
    /// Every status, in a stable order (for metrics).
    pub const ALL: [Self; 6] =
        [Self::Executed, Self::Rejected, Self::Ignored, Self::Unrouted, Self::Failed, Self::Applied];

    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Executed => "executed",
            Self::Rejected => "rejected",
            Self::Ignored => "ignored",
            Self::Unrouted => "unrouted",
            Self::Failed => "failed",
            Self::Applied => "applied",
        }
    }
}

impl fmt::Display for OutcomeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Headline.
    pub status: OutcomeStatus,
    /// The plugin it went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginId>,
    /// A stable reason code (`trading_halted`, `no_plugin`, `hook_rejected`, `stale`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Orders placed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<OrderId>,
    /// Positions closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closed: Vec<PositionId>,
}

impl Outcome {
    /// An outcome with no plugin, orders or closes.
    #[must_use]
    pub fn new(status: OutcomeStatus, code: &str, reason: impl Into<String>) -> Self {
        Self {
            status,
            plugin: None,
            code: Some(code.to_owned()),
            reason: Some(reason.into()),
            orders: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// A trend or market update applied.
    #[must_use]
    pub fn applied(reason: impl Into<String>) -> Self {
        Self { code: None, ..Self::new(OutcomeStatus::Applied, "", reason) }
    }

    /// The outcome of a plugin's decision.
    #[must_use]
    pub fn from_decision(plugin: PluginId, decision: Decision) -> Self {
        let status = match decision.kind {
            DecisionKind::Executed => OutcomeStatus::Executed,
            DecisionKind::Rejected => OutcomeStatus::Rejected,
            DecisionKind::Ignored => OutcomeStatus::Ignored,
        };
        let code = match decision.kind {
            DecisionKind::Rejected => Some("plugin_rejected".to_owned()),
            _ => None,
        };
        Self {
            status,
            plugin: Some(plugin),
            code,
            reason: decision.reason,
            orders: decision.orders,
            closed: decision.closed,
        }
    }

    /// Sets the plugin.
    #[must_use]
    pub fn with_plugin(mut self, plugin: PluginId) -> Self {
        self.plugin = Some(plugin);
        self
    }
}
