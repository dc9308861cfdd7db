//! The zepix kernel.
//!
//! - [`ports`]: the `Venue`, `Store` and `Inbox` the kernel talks to.
//! - [`kernel`]: the sequencer: hooks, routing, dispatch, failure isolation, daily reset.
//! - [`runtime`]: the kernel's thread and the [`EngineHandle`] the server and CLI use.
//! - [`registry`] and [`lifecycle`]: plugins found, built, tracked.
//! - [`router`]: which plugin gets a signal.
//! - [`services`] and [`context`]: the service API behind each plugin's context.
//! - [`risk`]: trading state, the risk gate and lot sizing. [`trend`]: the trend manager.
//! - [`outcome`], [`metrics`], [`config`], [`daily`], [`error`].

pub mod chains;
pub mod config;
pub mod context;
pub mod daily;
pub mod error;
pub mod kernel;
pub mod lifecycle;
pub mod metrics;
pub mod outcome;
pub mod ports;
pub mod registry;
pub mod risk;
pub mod router;
pub mod runtime;
pub mod services;
pub mod shadow;
pub mod trend;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use config::{EngineConfig, KernelConfig, Mode, PluginConfig, PluginMode, PluginSystemConfig};
pub use error::EngineError;
pub use kernel::{EngineStatus, Kernel};
pub use lifecycle::PluginState;
pub use metrics::EngineMetrics;
pub use outcome::{Outcome, OutcomeStatus};
pub use ports::{
    Appended, Execution, Inbox, InboxError, InboxRecord, OrderTicket, PluginDb, SignalRecord, Store, StoreError,
    StoreOp, StoreSnapshot, Venue, VenueError,
};
pub use registry::{PluginStatus, Registry};
pub use risk::{RiskApproved, RiskConfig, TradingState};
pub use runtime::{Command, EmitSink, EngineHandle, EventBus, SubmitError, Submitted, event_bus, spawn_kernel};
pub use services::Services;
