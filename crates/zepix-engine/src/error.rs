//! Engine errors, split into what an operator can fix and what stops the engine.

use zepix_model::{PluginId, PositionId};

use crate::lifecycle::TransitionError;
use crate::ports::{InboxError, StoreError};

/// An engine error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No plugin with this id.
    #[error("no plugin `{0}`")]
    UnknownPlugin(PluginId),
    /// The lifecycle does not allow it.
    #[error("plugin `{plugin}`: {source}")]
    Transition {
        /// Which plugin.
        plugin: PluginId,
        /// The refused transition.
        source: TransitionError,
    },
    /// The plugin cannot run in this engine version.
    #[error("plugin `{0}` cannot run: {1}")]
    NotRunnable(PluginId, String),
    /// No open position with this id.
    #[error("no open position {0}")]
    UnknownPosition(PositionId),
    /// The request cannot be done (e.g. no price to close at).
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The inbox failed.
    #[error(transparent)]
    Inbox(#[from] InboxError),
    /// The engine has stopped.
    #[error("the engine is not running")]
    Stopped,
}

impl EngineError {
    /// Whether the engine cannot go on (storage gone); everything else is answered and survived.
    #[must_use]
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Inbox(_))
    }
}
