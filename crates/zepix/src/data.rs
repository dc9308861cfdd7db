//! `zepix data`: market data files (`generate` writes a synthetic CSV of bars).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use zepix_data::{CsvWriter, RandomWalk, format_timestamp, parse_timestamp};
use zepix_model::Timeframe;

/// The `data` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCmd {
    /// Write a synthetic CSV of one-minute bars: a seeded random walk from 100.00, the same file
    /// for the same seed.
    Generate {
        /// How many bars.
        #[arg(long, default_value_t = 100_000)]
        bars: usize,
        /// The seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The file to write (`timestamp,open,high,low,close,volume`).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The first bar's open time.
        #[arg(long, value_name = "TIME", default_value = "2024-01-01T00:00:00Z")]
        start: String,
    },
}

/// Runs a `data` subcommand.
///
/// # Errors
/// When the arguments are wrong or the file cannot be written.
pub fn run(command: DataCmd) -> Result<ExitCode> {
    match command {
        DataCmd::Generate { bars, seed, out, start } => generate(bars, seed, &out, &start),
    }
}

fn generate(count: usize, seed: u64, out: &Path, start: &str) -> Result<ExitCode> {
    let start = parse_timestamp(start)
        .with_context(|| format!("--start `{start}`: expected a time such as 2024-01-01T00:00:00Z"))?;
    let began = Instant::now();
    let file = std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let write_error = || format!("cannot write {}", out.display());
    let mut writer = CsvWriter::new(BufWriter::with_capacity(1 << 20, file)).with_context(write_error)?;
    let mut progress = Progress::new(count);
    let mut last = None;
    for (done, bar) in RandomWalk::new(seed, start, Timeframe::M1).take(count).enumerate() {
        writer.write(&bar).with_context(write_error)?;
        last = Some(bar.time);
        progress.update(done + 1);
    }
    writer.finish().with_context(write_error)?;
    progress.finish();
    let span =
        last.map_or_else(String::new, |last| format!(", {} to {}", format_timestamp(start), format_timestamp(last)));
    zepix::say!(
        "wrote {count} one-minute bars (seed {seed}{span}) to {} in {:.2} s",
        out.display(),
        began.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// A progress line on stderr, shown only once the work has taken more than a moment.
struct Progress {
    total: usize,
    began: Instant,
    shown: bool,
    next_check: usize,
}

impl Progress {
    const EVERY: usize = 1 << 16;
    const AFTER: Duration = Duration::from_millis(300);

    fn new(total: usize) -> Self {
        Self { total, began: Instant::now(), shown: false, next_check: Self::EVERY }
    }

    fn update(&mut self, done: usize) {
        if done < self.next_check {
            return;
        }
        self.next_check = done + Self::EVERY;
        if self.shown || self.began.elapsed() >= Self::AFTER {
            self.shown = true;
            let percent = done * 100 / self.total.max(1);
            eprint!("\r  {done}/{} bars ({percent}%)", self.total);
            let _ = std::io::stderr().flush();
        }
    }

    fn finish(&self) {
        if self.shown {
            eprintln!("\r  {}/{} bars (100%)", self.total, self.total);
        }
    }
}
