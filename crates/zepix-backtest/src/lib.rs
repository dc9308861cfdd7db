//! Backtests of zepix plugins on historical bars.
//!
//! - [`report`]: what a run produced ([`RunInput`]: trades, equity curve, run settings) and
//!   [`write_report`], which writes `report.json` and a self-contained `index.html`.
//! - [`replay`]: bars through the engine's kernel on a simulated clock ([`Replay`]).
//! - [`metrics`]: [`Metrics::compute`]: P&L, win rate, profit factor, drawdown, Sharpe, exposure.
//! - [`html`]: the HTML page with the equity and drawdown charts drawn as inline SVG.
//! - [`sweep`]: `--sweep NAME=SPEC` parsing, the combinations of several sweeps, and the table of
//!   their results sorted by a metric.

pub mod html;
pub mod metrics;
pub mod replay;
pub mod report;
pub mod sweep;

pub use metrics::Metrics;
pub use replay::{FillRule, Replay, Replayed, ScratchStore};
pub use report::{EquityPoint, ReportFiles, RunInput, write_report};
pub use sweep::{METRIC_NAMES, Sweep, SweepError, combinations, format_table, parse_sweep};
