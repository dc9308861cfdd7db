//! The zepix kernel.
//!
//! - [`ports`]: the `Venue`, `Store` and `Inbox` the kernel talks to.
//! - [`outcome`]: what happened to a signal.
//! - [`risk`]: trading state, the risk gate and lot sizing.

pub mod outcome;
pub mod ports;
pub mod risk;

pub use outcome::{Outcome, OutcomeStatus};
pub use ports::{
    Appended, Execution, Inbox, InboxError, InboxRecord, OrderTicket, PluginDb, SignalRecord, Store, StoreError,
    StoreOp, StoreSnapshot, Venue, VenueError,
};
pub use risk::{RiskApproved, TradingState};
