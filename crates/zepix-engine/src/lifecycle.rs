//! The plugin lifecycle: one transition function over (state, event).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Found (built-in table or a `plugins/` folder), manifest valid.
    Discovered,
    /// Built from its validated settings.
    Loaded,
    /// `on_start` ran.
    Initialized,
    /// Receives signals.
    Running,
    /// Turned off by an operator; keeps its positions, receives nothing.
    Disabled,
    /// Shut down with the engine.
    Stopped,
    /// Failed to load or start, or five consecutive calls failed.
    Failed,
}

/// What happens to a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// Built.
    Load,
    /// Started.
    Initialize,
    /// Starts receiving signals.
    Run,
    /// Operator turns it off.
    Disable,
    /// Operator turns it on.
    Enable,
    /// Engine shuts down.
    Stop,
    /// Something failed.
    Fail,
}

/// A transition that the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a plugin that is {from} cannot {event:?}")]
pub struct TransitionError {
    /// The state it was in.
    pub from: PluginState,
    /// What was asked.
    pub event: LifecycleEvent,
}

impl PluginState {
    /// The next state, or an error for an impossible transition.
    ///
    /// # Errors
    /// When `event` makes no sense in this state (e.g. enabling a stopped plugin).
    pub const fn on(self, event: LifecycleEvent) -> Result<Self, TransitionError> {
        use LifecycleEvent as E;
        use PluginState as S;
        Ok(match (self, event) {
            (S::Discovered, E::Load) => S::Loaded,
            (S::Loaded, E::Initialize) => S::Initialized,
            (S::Initialized, E::Run) => S::Running,
            (S::Running, E::Disable) => S::Disabled,
            (S::Disabled | S::Failed, E::Enable) => S::Running,
            (S::Running | S::Disabled | S::Initialized | S::Loaded | S::Failed, E::Stop) => S::Stopped,
            (S::Discovered | S::Loaded | S::Initialized | S::Running, E::Fail) => S::Failed,
            (from, event) => return Err(TransitionError { from, event }),
        })
    }

    /// The snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Discovered => "discovered",
            Self::Loaded => "loaded",
            Self::Initialized => "initialized",
            Self::Running => "running",
            Self::Disabled => "disabled",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleEvent as E;
    use PluginState as S;

    #[test]
    fn happy_path_and_toggles() {
        let s = S::Discovered.on(E::Load).and_then(|s| s.on(E::Initialize)).and_then(|s| s.on(E::Run)).unwrap();
        assert_eq!(s, S::Running);
        assert_eq!(s.on(E::Disable).unwrap(), S::Disabled);
        assert_eq!(S::Disabled.on(E::Enable).unwrap(), S::Running);
        assert_eq!(S::Running.on(E::Fail).unwrap(), S::Failed);
        assert_eq!(S::Failed.on(E::Enable).unwrap(), S::Running);
        assert_eq!(S::Running.on(E::Stop).unwrap(), S::Stopped);
    }

    #[test]
    fn impossible_transitions_are_errors() {
        assert!(S::Stopped.on(E::Enable).is_err());
        assert!(S::Running.on(E::Enable).is_err());
        assert!(S::Disabled.on(E::Disable).is_err());
        assert!(S::Discovered.on(E::Run).is_err());
        assert!(S::Failed.on(E::Fail).is_err());
    }
}
