//! The zepix domain model: every type the engine, the plugins and the adapters share.
//!
//! Money and sizes are decimals in small value types ([`num`]); ids are validated newtypes
//! ([`ids`]); a raw alert becomes a strict [`signal::Signal`] through one parser ([`signal`]);
//! orders, positions and trades are in [`trading`]; the engine's event log in [`event`]; time comes
//! from an injected [`clock::Clock`].

pub mod bar;
pub mod clock;
pub mod error;
pub mod event;
pub mod ids;
pub mod num;
pub mod side;
pub mod signal;
pub mod symbol;
pub mod timeframe;
pub mod trading;

pub use bar::{Bar, Feed, Tick};
pub use clock::{Clock, LiveClock, TestClock};
pub use error::ModelError;
pub use event::{Event, EventKind};
pub use ids::{OrderId, PluginId, PositionId, SignalId};
pub use num::{Lots, Money, Pips, Price};
pub use side::{Side, Trend};
pub use signal::{Level, ParsedAlert, Signal, SignalError, SignalSource, SignalType, Sizing};
pub use symbol::{Symbol, SymbolSpec, SymbolTable};
pub use timeframe::Timeframe;
pub use trading::{Account, CloseReason, Fill, Order, OrderRequest, OrderStatus, Position, Trade};
