//! What a live market data source sends: bars, trades, gaps, and its connection's ups and downs.

use chrono::{DateTime, Utc};
use zepix_model::{Bar, Feed, Symbol, Tick};

/// One event from a live source, in the order the source saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    /// A closed bar of a feed.
    Bar(Feed, Bar),
    /// A trade.
    Tick(Symbol, Tick),
    /// Bars of `feed` are missing: those opening from `from` up to (not including) `to`. The bar
    /// opening at `to` follows as a [`MarketEvent::Bar`].
    Gap {
        /// The feed with the hole.
        feed: Feed,
        /// Open time of the first missing bar.
        from: DateTime<Utc>,
        /// Open time of the bar after the hole.
        to: DateTime<Utc>,
    },
    /// The source is connected (again) and streaming.
    Connected,
    /// The source lost its connection and will reconnect.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
}
