//! The zepix paper venue: a simulated broker that fills market orders at the mid price plus
//! spread and slippage, and closes positions when a mark crosses their stop loss or take profit.
//!
//! - [`config`]: [`PaperConfig`], the `[venue]` table of `zepix.toml`.
//! - [`error`]: [`PaperConfigError`], a config that cannot run.
//! - [`paper`]: [`PaperVenue`], the [`zepix_engine::Venue`] implementation.

pub mod config;
pub mod error;
pub mod paper;

pub use config::PaperConfig;
pub use error::PaperConfigError;
pub use paper::PaperVenue;

#[cfg(test)]
mod tests;
