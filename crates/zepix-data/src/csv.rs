//! CSV bars: `timestamp,open,high,low,close,volume`, one bar a row, oldest first.
//!
//! The header is optional (a first line starting with a letter is a header), blank lines and
//! `\r\n` endings are accepted, and timestamps are anything [`parse_timestamp`] reads. Every bad
//! row is an error naming the file, the line, the column and the value. The hot path parses
//! bytes in place: no allocation per row, decimals straight into [`Decimal::new`], the usual
//! `YYYY-MM-DDTHH:MM:SSZ` timestamp by hand.
//!
//! [`parse_timestamp`]: crate::time::parse_timestamp

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use zepix_model::{Bar, Price};

use crate::error::{DataError, RowError, RowProblem};
use crate::fixed::{self, Fixed};
use crate::time::{TimeParser, format_timestamp, write_timestamp};

/// The header the writer writes.
pub const HEADER: &str = "timestamp,open,high,low,close,volume";

const COLUMNS: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

/// Reads every bar of a CSV file (the whole file at once, which is the fastest way).
///
/// # Errors
/// When the file cannot be read, or at the first bad row.
pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<Bar>, DataError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes, path)
}

/// Parses CSV bars held in memory; `path` only names them in errors.
///
/// # Errors
/// At the first bad row.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Bar>, DataError> {
    // About 50 bytes a row in the usual layout: reserve once instead of doubling twenty times.
    let mut bars = Vec::with_capacity(bytes.len() / 48 + 1);
    let mut rows = RowParser::default();
    let mut start = 0;
    let mut line = 0u64;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        line += 1;
        if let Some(bar) = rows.row(&bytes[start..end], line, path)? {
            bars.push(bar);
        }
        start = end + 1;
    }
    Ok(bars)
}

/// Streams bars from any reader in large chunks, for files too big to hold as text.
///
/// Yields each bar or the first error, then stops.
#[derive(Debug)]
pub struct CsvReader<R> {
    inner: R,
    path: PathBuf,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    eof: bool,
    done: bool,
    line: u64,
    rows: RowParser,
    read: u64,
}

impl CsvReader<File> {
    /// Opens a file.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(Self::new(file, path))
    }
}

impl<R: Read> CsvReader<R> {
    const CHUNK: usize = 1 << 20;

    /// Reads from `inner`; `path` names the input in errors.
    pub fn new(inner: R, path: impl Into<PathBuf>) -> Self {
        Self {
            inner,
            path: path.into(),
            buf: vec![0; Self::CHUNK],
            pos: 0,
            filled: 0,
            eof: false,
            done: false,
            line: 0,
            rows: RowParser::default(),
            read: 0,
        }
    }

    /// Bytes taken from the reader so far (up to a chunk ahead of the rows returned).
    pub const fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next line's byte range in the buffer, reading more when no full line is buffered.
    fn next_line(&mut self) -> io::Result<Option<(usize, usize)>> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.filled]) {
                let start = self.pos;
                self.pos += i + 1;
                return Ok(Some((start, start + i)));
            }
            if self.eof {
                if self.pos < self.filled {
                    let start = self.pos;
                    self.pos = self.filled;
                    return Ok(Some((start, self.filled)));
                }
                return Ok(None);
            }
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            if self.filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.filled += n;
                    self.read += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<Bar, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (start, end) = match self.next_line() {
                Ok(Some(range)) => range,
                Ok(None) => break,
                Err(e) => {
                    self.done = true;
                    return Some(Err(DataError::io(&self.path, e)));
                }
            };
            self.line += 1;
            match self.rows.row(&self.buf[start..end], self.line, &self.path) {
                Ok(Some(bar)) => return Some(Ok(bar)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        self.done = true;
        None
    }
}

/// The per-row state: whether the first line (maybe a header) was seen, and the previous time.
#[derive(Debug, Default)]
struct RowParser {
    seen_first: bool,
    previous: Option<DateTime<Utc>>,
    times: TimeParser,
}

impl RowParser {
    /// One line (without its `\n`): a bar, `None` for a header or blank line, or the row's error.
    fn row(&mut self, line: &[u8], number: u64, path: &Path) -> Result<Option<Bar>, RowError> {
        let mut line = line.strip_suffix(b"\r").unwrap_or(line);
        if !self.seen_first {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !self.seen_first {
            self.seen_first = true;
            if line.first().is_some_and(u8::is_ascii_alphabetic) {
                return Ok(None);
            }
        }
        let err = |column: usize, value: &[u8], problem: RowProblem, message: String| RowError {
            path: path.to_path_buf(),
            line: number,
            column: COLUMNS.get(column).copied().unwrap_or("row"),
            value: shorten(value),
            message,
            problem,
        };
        let mut fields: [&[u8]; 6] = [&[]; 6];
        let mut count = 0;
        for field in line.split(|b| *b == b',') {
            if let Some(slot) = fields.get_mut(count) {
                *slot = field.trim_ascii();
            }
            count += 1;
        }
        if count != 6 {
            return Err(err(
                usize::MAX,
                line,
                RowProblem::ColumnCount { found: count },
                format!("{count} columns, expected 6: {HEADER}"),
            ));
        }
        let time = self.times.parse(fields[0]).ok_or_else(|| {
            err(
                0,
                fields[0],
                RowProblem::BadTimestamp,
                "not a timestamp: expected ISO-8601 (2024-01-01T00:00:00Z) or epoch seconds or milliseconds".into(),
            )
        })?;
        let fast = match [1, 2, 3, 4, 5].map(|i| Fixed::parse(fields[i])) {
            [Some(o), Some(h), Some(l), Some(c), Some(v)] => fixed::bar(time, [o, h, l, c], v),
            _ => None,
        };
        let bar = match fast {
            Some(bar) => bar,
            None => self.checked(time, &fields, &err)?,
        };
        if let Some(previous) = self.previous.filter(|p| time <= *p) {
            let previous = format_timestamp(previous);
            return Err(err(
                0,
                fields[0],
                RowProblem::NotAfterPrevious { previous: previous.clone() },
                format!("not after the previous row's time {previous}: rows must be in time order"),
            ));
        }
        self.previous = Some(time);
        Ok(Some(bar))
    }

    /// The general path: any decimal `rust_decimal` reads, and an error naming the column.
    fn checked(
        &self,
        time: DateTime<Utc>,
        fields: &[&[u8]; 6],
        err: &impl Fn(usize, &[u8], RowProblem, String) -> RowError,
    ) -> Result<Bar, RowError> {
        let number = |i: usize| {
            parse_decimal(fields[i])
                .ok_or_else(|| err(i, fields[i], RowProblem::BadNumber, "not a decimal number".into()))
        };
        let price = |i: usize| {
            Price::new(number(i)?)
                .map_err(|_| err(i, fields[i], RowProblem::OutOfRange, "a price must be above zero".into()))
        };
        let (open, high, low, close) = (price(1)?, price(2)?, price(3)?, price(4)?);
        let volume = number(5)?;
        if volume.is_sign_negative() {
            return Err(err(5, fields[5], RowProblem::OutOfRange, "the volume cannot be negative".into()));
        }
        let inconsistent = |i: usize, message: String| err(i, fields[i], RowProblem::Inconsistent, message);
        if high < low {
            return Err(inconsistent(2, format!("the high is below the low {low}")));
        }
        if high < open.max(close) {
            return Err(inconsistent(2, format!("the high is below the open {open} or the close {close}")));
        }
        if low > open.min(close) {
            return Err(inconsistent(3, format!("the low is above the open {open} or the close {close}")));
        }
        Bar::new(time, open, high, low, close, volume)
            .map_err(|e| err(2, fields[2], RowProblem::Inconsistent, e.to_string()))
    }
}

fn shorten(value: &[u8]) -> String {
    const MAX: usize = 64;
    let text = String::from_utf8_lossy(&value[..value.len().min(MAX)]);
    if value.len() > MAX { format!("{text}…") } else { text.into_owned() }
}

/// A decimal from bytes: plain `[-+]digits[.digits]` of up to 18 digits directly, anything else
/// (longer, exponent) through `rust_decimal`'s parsers.
fn parse_decimal(s: &[u8]) -> Option<Decimal> {
    Fixed::parse(s).map(Fixed::decimal).or_else(|| parse_decimal_slow(s))
}

fn parse_decimal_slow(s: &[u8]) -> Option<Decimal> {
    let text = std::str::from_utf8(s).ok()?;
    if text.bytes().any(|b| b == b'_') {
        return None;
    }
    Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)).ok()
}

/// Writes bars in the format the reader reads, header first.
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> CsvWriter<W> {
    /// Starts a file: writes the header.
    ///
    /// # Errors
    /// When writing fails.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(HEADER.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(Self { out, line: Vec::with_capacity(128) })
    }

    /// Writes one bar.
    ///
    /// # Errors
    /// When writing fails.
    pub fn write(&mut self, bar: &Bar) -> io::Result<()> {
        self.line.clear();
        write_timestamp(&mut self.line, bar.time);
        writeln!(
            self.line,
            ",{},{},{},{},{}",
            bar.open.value(),
            bar.high.value(),
            bar.low.value(),
            bar.close.value(),
            bar.volume
        )?;
        self.out.write_all(&self.line)
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes bars to a file (created or truncated).
///
/// # Errors
/// When the file cannot be written.
pub fn write_all(path: impl AsRef<Path>, bars: &[Bar]) -> Result<(), DataError> {
    let path = path.as_ref();
    let io = |e| DataError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut writer = CsvWriter::new(BufWriter::with_capacity(1 << 20, file)).map_err(io)?;
    for bar in bars {
        writer.write(bar).map_err(io)?;
    }
    writer.finish().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn p(v: &str) -> Price {
        v.parse().unwrap()
    }

    fn parse_text(text: &str) -> Result<Vec<Bar>, DataError> {
        parse(text.as_bytes(), Path::new("bars.csv"))
    }

    fn row_error(text: &str) -> RowError {
        let e = parse_text(text).unwrap_err();
        let row = e.row().unwrap().clone();
        // The streaming reader reports the same error as the whole-file parser.
        let streamed = CsvReader::new(text.as_bytes(), "bars.csv").find_map(Result::err).unwrap();
        assert_eq!(streamed.row(), Some(&row));
        row
    }

    #[test]
    fn reads_iso_and_epoch_timestamps_with_or_without_a_header() {
        let text = "timestamp,open,high,low,close,volume\r\n\
                    2024-01-01T00:00:00Z,100.5,101,99.75,100,12.5\r\n\
                    2024-01-01T00:01:00+00:00,100,100.2,99.9,100.1,3\r\n\
                    1704067320,100.1,100.3,100,100.2,0\r\n\
                    1704067380000,100.2,100.2,100.2,100.2,1\r\n\
                    \r\n";
        let bars = parse_text(text).unwrap();
        let times: Vec<String> = bars.iter().map(|b| format_timestamp(b.time)).collect();
        assert_eq!(
            times,
            ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z", "2024-01-01T00:03:00Z"]
        );
        assert_eq!(bars[0].open, p("100.5"));
        assert_eq!(bars[0].low, p("99.75"));
        assert_eq!(bars[0].volume, Decimal::new(125, 1));
        let headless = parse_text("2024-01-01T00:00:00Z,1,2,0.5,1.5,7").unwrap();
        assert_eq!(headless.len(), 1);
        assert_eq!(headless[0].high, p("2"));
    }

    #[test]
    fn long_and_scientific_numbers_take_the_slow_path() {
        let bars = parse_text("2024-01-01T00:00:00Z,1.00000000000000000001,2,1e-1,1.5,1E3").unwrap();
        assert_eq!(bars[0].open.value(), Decimal::from_str("1.00000000000000000001").unwrap());
        assert_eq!(bars[0].low, p("0.1"));
        assert_eq!(bars[0].volume, Decimal::new(1000, 0));
    }

    #[test]
    fn a_bad_number_names_file_line_column_and_value() {
        let row = row_error("timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,100,10x1,99,100,1\n");
        assert_eq!((row.line, row.column, row.value.as_str()), (2, "high", "10x1"));
        assert_eq!(row.problem, RowProblem::BadNumber);
        let shown = DataError::from(row).to_string();
        assert_eq!(shown, "bars.csv:2: column high `10x1`: not a decimal number");
    }

    #[test]
    fn a_bad_timestamp_is_named() {
        let row = row_error("2024-01-01T00:00:00Z,1,1,1,1,1\nyesterday,1,1,1,1,1\n");
        assert_eq!((row.line, row.column, row.value.as_str()), (2, "timestamp", "yesterday"));
        assert_eq!(row.problem, RowProblem::BadTimestamp);
    }

    #[test]
    fn high_below_low_is_refused() {
        let row = row_error("2024-01-01T00:00:00Z,100,99,101,100,1");
        assert_eq!((row.line, row.column, row.value.as_str()), (1, "high", "99"));
        assert_eq!(row.problem, RowProblem::Inconsistent);
        assert!(row.message.contains("below the low 101"), "{}", row.message);
        let row = row_error("2024-01-01T00:00:00Z,100,101,100.5,100.7,1");
        assert_eq!((row.column, row.problem), ("low", RowProblem::Inconsistent));
        let row = row_error("2024-01-01T00:00:00Z,100,100.5,99,100.7,1");
        assert_eq!((row.column, row.problem), ("high", RowProblem::Inconsistent));
    }

    #[test]
    fn prices_must_be_positive_and_volume_not_negative() {
        let row = row_error("2024-01-01T00:00:00Z,0,1,0,1,1");
        assert_eq!((row.column, row.problem), ("open", RowProblem::OutOfRange));
        let row = row_error("2024-01-01T00:00:00Z,1,1,1,1,-2");
        assert_eq!((row.column, row.value.as_str(), row.problem), ("volume", "-2", RowProblem::OutOfRange));
    }

    #[test]
    fn time_going_backwards_or_repeating_is_refused() {
        let row = row_error(
            "2024-01-01T00:01:00Z,1,1,1,1,1\n2024-01-01T00:02:00Z,1,1,1,1,1\n2024-01-01T00:01:30Z,1,1,1,1,1\n",
        );
        assert_eq!((row.line, row.column, row.value.as_str()), (3, "timestamp", "2024-01-01T00:01:30Z"));
        assert_eq!(row.problem, RowProblem::NotAfterPrevious { previous: "2024-01-01T00:02:00Z".into() });
        let row = row_error("2024-01-01T00:01:00Z,1,1,1,1,1\n2024-01-01T00:01:00Z,1,1,1,1,1\n");
        assert_eq!(row.line, 2);
    }

    #[test]
    fn a_wrong_column_count_is_refused() {
        let row = row_error("2024-01-01T00:00:00Z,1,1,1,1");
        assert_eq!((row.column, row.problem), ("row", RowProblem::ColumnCount { found: 5 }));
        assert!(row.message.contains("5 columns, expected 6"), "{}", row.message);
        let row = row_error("2024-01-01T00:00:00Z,1,1,1,1,1,extra");
        assert_eq!(row.problem, RowProblem::ColumnCount { found: 7 });
    }

    #[test]
    fn the_streaming_reader_handles_lines_across_chunks() {
        let bars = crate::generate::generate(50_000, 7, "2024-01-01T00:00:00Z".parse().unwrap());
        let mut text = Vec::new();
        let mut writer = CsvWriter::new(&mut text).unwrap();
        for bar in &bars {
            writer.write(bar).unwrap();
        }
        writer.finish().unwrap();
        // A reader that hands out a few bytes at a time, so lines straddle every read.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let streamed: Vec<Bar> = CsvReader::new(Trickle(&text), "x").collect::<Result<_, _>>().unwrap();
        assert_eq!(streamed, bars);
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = read_all("/nonexistent/bars.csv").unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/bars.csv: "), "{e}");
    }

    fn arb_bar() -> impl Strategy<Value = (i64, i64, i64, i64, u32, i64)> {
        // open, close, extra high, extra low (in 1e-4), scale, volume
        (1i64..10_000_000, 1i64..10_000_000, 0i64..100_000, 0i64..100_000, 0u32..6, 0i64..1_000_000_000)
    }

    proptest! {
        #[test]
        fn writing_then_reading_round_trips(
            rows in prop::collection::vec((arb_bar(), 1i64..100_000, 0u32..3), 0..40),
        ) {
            let mut time = DateTime::from_timestamp(1_600_000_000, 0).unwrap();
            let mut bars = Vec::new();
            for ((open, close, up, down, scale, volume), step, frac) in rows {
                let nanos = [0, 500_000_000, 123_456_789][frac as usize];
                time = DateTime::from_timestamp(time.timestamp() + step, nanos).unwrap();
                let low = (open.min(close) - down).max(1);
                let price = |v: i64| Price::new(Decimal::new(v, 4)).unwrap();
                bars.push(Bar::new(time, price(open), price(open.max(close) + up), price(low), price(close), Decimal::new(volume, scale)).unwrap());
            }
            let mut text = Vec::new();
            let mut writer = CsvWriter::new(&mut text).unwrap();
            for bar in &bars {
                writer.write(bar).unwrap();
            }
            writer.finish().unwrap();
            prop_assert_eq!(parse(&text, Path::new("p.csv")).unwrap(), bars);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let whole = parse(&bytes, Path::new("junk.csv"));
            let streamed: Result<Vec<Bar>, DataError> = CsvReader::new(&bytes[..], "junk.csv").collect();
            prop_assert_eq!(whole.is_ok(), streamed.is_ok());
        }

        #[test]
        fn csv_like_junk_never_panics(lines in prop::collection::vec("[0-9TZ:.,+-eE ]{0,60}", 0..20)) {
            let text = lines.join("\n");
            let _ = parse(text.as_bytes(), Path::new("junk.csv"));
        }
    }
}
