//! zepix market data: where bars and trades come from before the engine sees them.
//!
//! - [`csv`]: CSV files of bars (`timestamp,open,high,low,close,volume`): a fast whole-file
//!   reader, a streaming reader and a writer; errors name the file, line, column and value.
//! - [`cache`]: a binary cache of parsed bars beside the CSV file; [`load`] uses it.
//! - [`stream`]: [`BarStream`], the same read a chunk at a time on a background thread.
//! - [`generate`]: a seeded random walk of bars, the same bytes for the same seed.
//! - [`aggregate`]: ticks into bars and bars into longer timeframes, on UTC boundaries.
//! - [`binance`]: the Binance kline and trade WebSocket streams, with reconnects and gap
//!   detection.
//! - [`live`]: the random walk as a live source, for demos without a network.
//! - [`event`]: [`MarketEvent`], what the live sources send.
//! - [`time`]: the timestamp formats the files may use.
//! - [`error`]: the error type, [`DataError`].

pub mod aggregate;
pub mod binance;
pub mod cache;
pub mod csv;
pub mod error;
pub mod event;
mod fixed;
pub mod generate;
pub mod live;
pub mod stream;
pub mod time;

pub use aggregate::{BarAggregator, TickAggregator, aggregate_bars};
pub use binance::{BinanceConfig, BinanceSource, Stream};
pub use cache::load;
pub use csv::{CsvReader, CsvWriter, read_all, write_all};
pub use error::{DataError, RowError, RowProblem};
pub use event::MarketEvent;
pub use generate::{RandomWalk, generate};
pub use live::RandomWalkSource;
pub use stream::{BarStream, Chunk, Recycler};
pub use time::{format_timestamp, parse_timestamp};
