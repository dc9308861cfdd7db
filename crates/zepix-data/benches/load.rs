//! How fast bars come off disk: CSV parsing (whole file, in memory, streaming) against the binary
//! cache, and the background reader a backtest uses, on the same generated file.
//! `cargo bench -p zepix-data --bench load [-- BARS]`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use zepix_data::{BarStream, CsvReader, cache, csv, generate};

const RUNS: usize = 5;

/// The best of several runs, and what the last run returned.
fn best<T>(mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut fastest = Duration::MAX;
    let mut out = None;
    for _ in 0..RUNS {
        let began = Instant::now();
        out = Some(black_box(run()));
        fastest = fastest.min(began.elapsed());
    }
    (fastest, out.unwrap_or_else(|| unreachable!("RUNS > 0")))
}

fn report(what: &str, bars: usize, took: Duration) {
    let rate = bars as f64 / took.as_secs_f64();
    println!("{what:<34} {:>9.1} ms  {:>12.0} bars/s", took.as_secs_f64() * 1e3, rate);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("bars.csv");
    let bars = generate(count, 42, "2024-01-01T00:00:00Z".parse()?);
    let began = Instant::now();
    csv::write_all(&source, &bars)?;
    let size = std::fs::metadata(&source)?.len();
    println!("{count} bars, CSV {:.1} MB, written in {:.0} ms", size as f64 / 1e6, began.elapsed().as_secs_f64() * 1e3);

    let bytes = std::fs::read(&source)?;
    let (took, parsed) = best(|| csv::parse(&bytes, Path::new("bars.csv")));
    assert_eq!(parsed?, bars);
    report("parse (in memory)", count, took);

    let (took, read) = best(|| csv::read_all(&source));
    assert_eq!(read?, bars);
    report("read_all (file, parse)", count, took);

    let (took, streamed) = best(|| CsvReader::open(&source).and_then(|r| r.collect::<Result<Vec<_>, _>>()));
    assert_eq!(streamed?, bars);
    report("CsvReader (streaming)", count, took);

    let began = Instant::now();
    cache::write(&source, &bars)?;
    report("cache write", count, began.elapsed());
    let cache_size = std::fs::metadata(cache::cache_path(&source))?.len();
    println!("cache {:.1} MB", cache_size as f64 / 1e6);

    let (took, cached) = best(|| cache::read(&source));
    assert_eq!(cached?, Some(bars));
    report("cache read", count, took);

    // All the chunks as the user of the stream sees them; the first run parses the CSV and
    // writes the cache, the others read the cache.
    let drain = || -> Result<usize, zepix_data::DataError> {
        let stream = BarStream::open(&source)?;
        let spare = stream.recycler();
        let mut n = 0;
        for chunk in stream {
            let chunk = chunk?;
            n += chunk.bars.len();
            spare.recycle(chunk.bars);
        }
        Ok(n)
    };
    std::fs::remove_file(cache::cache_path(&source))?;
    let began = Instant::now();
    assert_eq!(drain()?, count);
    report("BarStream (parse, write cache)", count, began.elapsed());
    let (took, streamed) = best(drain);
    assert_eq!(streamed?, count);
    report("BarStream (from the cache)", count, took);
    Ok(())
}
