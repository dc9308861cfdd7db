//! A binary cache of parsed bars beside their CSV file (`bars.csv` → `bars.csv.zbars`), for
//! repeated backtests on the same data.
//!
//! The cache records the source's length and modification time and a format version; a cache
//! whose key does not match the source, whose length or checksum is wrong, or whose bars are
//! not valid bars in time order is ignored and rebuilt, never trusted. Layout (little-endian): a
//! 56-byte header (magic, version, record size, source length, source mtime, bar count,
//! checksum), then one 57-byte record per bar (seconds, nanoseconds, and five decimals as a
//! 64-bit mantissa and a scale).

use std::fs;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Utc};
use zepix_model::Bar;

use crate::error::DataError;
use crate::fixed::{self, Fixed};

const MAGIC: &[u8; 8] = b"ZEPIXBAR";
const VERSION: u32 = 1;
const HEADER: usize = 56;
const RECORD: usize = 8 + 4 + 5 * 9;

/// Where the cache of `source` lives: beside it, with `.zbars` appended to its name.
#[must_use]
pub fn cache_path(source: &Path) -> PathBuf {
    let mut name = source.as_os_str().to_owned();
    name.push(".zbars");
    PathBuf::from(name)
}

/// Reads the bars of a CSV file through its cache: from the cache when it matches the file, else
/// by parsing the file and then writing the cache (a cache that cannot be written, such as in a
/// read-only folder, is logged and skipped). [`BarStream`] does the same a chunk at a time on a
/// background thread; this collects it.
///
/// # Errors
/// When the file cannot be read or has a bad row.
///
/// [`BarStream`]: crate::BarStream
pub fn load(source: impl AsRef<Path>) -> Result<Vec<Bar>, DataError> {
    let mut bars = Vec::new();
    for chunk in crate::BarStream::open(source)? {
        bars.extend_from_slice(&chunk?.bars);
    }
    Ok(bars)
}

/// The cached bars of `source`, or `None` when there is no cache or it is stale or invalid.
///
/// # Errors
/// When the source itself cannot be read.
pub fn read(source: &Path) -> Result<Option<Vec<Bar>>, DataError> {
    let Some(mut reader) = CacheReader::open(source, Key::of(source)?) else { return Ok(None) };
    let mut bars = Vec::with_capacity(reader.remaining);
    Ok(reader.read_into(&mut bars, usize::MAX).then_some(bars))
}

/// Writes the cache of `source` holding `bars` (which should be what the source holds now).
///
/// # Errors
/// When the source cannot be read or the cache cannot be written, or when a value is too precise
/// for the cache (a mantissa beyond 64 bits).
pub fn write(source: &Path, bars: &[Bar]) -> Result<(), DataError> {
    let mut writer = CacheWriter::create(source, Key::of(source)?)?;
    writer.push(bars)?;
    writer.finish()
}

/// What identifies the version of a source file the cache was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    /// The source's length in bytes.
    pub(crate) len: u64,
    mtime_secs: i64,
    mtime_nanos: u32,
}

impl Key {
    pub(crate) fn of(source: &Path) -> Result<Self, DataError> {
        let meta = fs::metadata(source).map_err(|e| DataError::io(source, e))?;
        let modified = meta.modified().map_err(|e| DataError::io(source, e))?;
        let (mtime_secs, mtime_nanos) = match modified.duration_since(UNIX_EPOCH) {
            Ok(d) => (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
            Err(before) => (-i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX), 0),
        };
        Ok(Self { len: meta.len(), mtime_secs, mtime_nanos })
    }
}

/// The cache's checksum, fed a piece at a time: 64-bit little-endian words, then the bytes
/// after the last whole word one by one.
#[derive(Debug, Clone, Copy)]
struct Checksum {
    hash: u64,
    partial: [u8; 8],
    held: usize,
}

impl Checksum {
    const fn new() -> Self {
        Self { hash: 0x243F_6A88_85A3_08D3, partial: [0; 8], held: 0 }
    }

    const fn mix(hash: u64, word: u64) -> u64 {
        (hash.rotate_left(5) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn update(&mut self, mut bytes: &[u8]) {
        if self.held > 0 {
            let take = (8 - self.held).min(bytes.len());
            self.partial[self.held..self.held + take].copy_from_slice(&bytes[..take]);
            self.held += take;
            bytes = &bytes[take..];
            if self.held < 8 {
                return;
            }
            self.hash = Self::mix(self.hash, u64::from_le_bytes(self.partial));
            self.held = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.hash = Self::mix(self.hash, u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        self.partial[..rest.len()].copy_from_slice(rest);
        self.held = rest.len();
    }

    fn finish(self) -> u64 {
        self.partial[..self.held].iter().fold(self.hash, |hash, &b| Self::mix(hash, u64::from(b)))
    }
}

/// Appends one bar's record to `out`.
fn encode(bar: &Bar, out: &mut Vec<u8>) -> Result<(), DataError> {
    out.extend_from_slice(&bar.time.timestamp().to_le_bytes());
    out.extend_from_slice(&bar.time.timestamp_subsec_nanos().to_le_bytes());
    for value in [bar.open.value(), bar.high.value(), bar.low.value(), bar.close.value(), bar.volume] {
        let too_precise = || DataError::Unsupported {
            what: "value for the bar cache",
            value: value.to_string(),
            expected: "at most 18 digits and 18 decimals",
        };
        let mantissa = i64::try_from(value.mantissa()).map_err(|_| too_precise())?;
        if value.scale() > 18 {
            return Err(too_precise());
        }
        out.extend_from_slice(&mantissa.to_le_bytes());
        // At most 18, checked above.
        out.push(value.scale() as u8);
    }
    Ok(())
}

/// Writes a cache a piece at a time into a temporary file beside it, renamed into place by
/// [`CacheWriter::finish`] so a reader never sees half a cache; dropped unfinished, it removes
/// the temporary file.
#[derive(Debug)]
pub(crate) struct CacheWriter {
    file: std::io::BufWriter<fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    key: Key,
    count: u64,
    sum: Checksum,
    records: Vec<u8>,
    finished: bool,
}

impl CacheWriter {
    pub(crate) fn create(source: &Path, key: Key) -> Result<Self, DataError> {
        static WRITERS: AtomicU64 = AtomicU64::new(0);
        let path = cache_path(source);
        remove_abandoned(&path);
        let n = WRITERS.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!("{TMP}{}-{n}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let file = fs::File::create(&tmp).map_err(|e| DataError::io(&path, e))?;
        let mut writer = Self {
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            tmp,
            path,
            key,
            count: 0,
            sum: Checksum::new(),
            records: Vec::new(),
            finished: false,
        };
        // The header's place; its count and checksum are known at the end.
        writer.file.write_all(&[0; HEADER]).map_err(|e| DataError::io(&writer.path, e))?;
        Ok(writer)
    }

    pub(crate) fn push(&mut self, bars: &[Bar]) -> Result<(), DataError> {
        self.records.clear();
        for bar in bars {
            encode(bar, &mut self.records)?;
        }
        self.sum.update(&self.records);
        self.count += bars.len() as u64;
        self.file.write_all(&self.records).map_err(|e| DataError::io(&self.path, e))
    }

    pub(crate) fn finish(mut self) -> Result<(), DataError> {
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&(RECORD as u32).to_le_bytes());
        header.extend_from_slice(&self.key.len.to_le_bytes());
        header.extend_from_slice(&self.key.mtime_secs.to_le_bytes());
        header.extend_from_slice(&self.key.mtime_nanos.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&self.count.to_le_bytes());
        header.extend_from_slice(&self.sum.finish().to_le_bytes());
        let written = self
            .file
            .flush()
            .and_then(|()| self.file.get_mut().seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.get_mut().write_all(&header))
            .and_then(|()| fs::rename(&self.tmp, &self.path));
        self.finished = written.is_ok();
        written.map_err(|e| DataError::io(&self.path, e))
    }
}

/// What a cache's temporary file adds to its name, before the writer's process id.
const TMP: &str = ".tmp";

/// Removes temporary caches of `path` whose writing process is gone (a backtest interrupted
/// while it read its file leaves one behind).
fn remove_abandoned(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = fs::read_dir(dir) else { return };
    let prefix = format!("{name}{TMP}");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let pid = file.to_str().and_then(|f| f.strip_prefix(&prefix)).and_then(|rest| rest.split('-').next());
        if let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Reads a cache that matches its source: [`CacheReader::open`] checks the header, the length
/// and the checksum of the whole file before any bar is taken from it.
#[derive(Debug)]
pub(crate) struct CacheReader {
    file: std::io::BufReader<fs::File>,
    /// Bars not read yet.
    pub(crate) remaining: usize,
    /// Bars in the cache.
    pub(crate) count: usize,
    previous: Option<DateTime<Utc>>,
    record: [u8; RECORD],
}

impl CacheReader {
    /// The cache of `source` made from the version `key`, or `None` (logged) when there is none
    /// or it is stale or damaged.
    pub(crate) fn open(source: &Path, key: Key) -> Option<Self> {
        let path = cache_path(source);
        let file = fs::File::open(&path).ok()?;
        let reader = Self::check(file, key);
        if reader.is_none() {
            tracing::info!("ignoring stale or invalid bar cache {}", path.display());
        }
        reader
    }

    fn check(file: fs::File, key: Key) -> Option<Self> {
        let mut file = std::io::BufReader::with_capacity(1 << 20, file);
        let mut header = [0u8; HEADER];
        file.read_exact(&mut header).ok()?;
        let mut head = Cursor(&header);
        if &head.take::<8>()? != MAGIC || head.u32()? != VERSION || head.u32()? as usize != RECORD {
            return None;
        }
        let found = Key { len: head.u64()?, mtime_secs: head.i64()?, mtime_nanos: head.u32()? };
        head.u32()?;
        let count = usize::try_from(head.u64()?).ok()?;
        let expected = head.u64()?;
        let payload = count.checked_mul(RECORD)?;
        let length = file.get_ref().metadata().ok()?.len();
        if found != key || u64::try_from(payload).ok()?.checked_add(HEADER as u64)? != length {
            return None;
        }
        let mut sum = Checksum::new();
        loop {
            let piece = file.fill_buf().ok()?;
            if piece.is_empty() {
                break;
            }
            sum.update(piece);
            let n = piece.len();
            file.consume(n);
        }
        if sum.finish() != expected {
            return None;
        }
        file.seek(SeekFrom::Start(HEADER as u64)).ok()?;
        Some(Self { file, remaining: count, count, previous: None, record: [0; RECORD] })
    }

    /// Appends up to `max` bars to `bars`; false when a record is not a valid bar in time order
    /// or cannot be read (the cache cannot be trusted).
    pub(crate) fn read_into(&mut self, bars: &mut Vec<Bar>, max: usize) -> bool {
        for _ in 0..max.min(self.remaining) {
            if self.file.read_exact(&mut self.record).is_err() {
                return false;
            }
            let Some(bar) = decode(&self.record) else { return false };
            if self.previous.is_some_and(|p| bar.time <= p) {
                return false;
            }
            self.previous = Some(bar.time);
            bars.push(bar);
            self.remaining -= 1;
        }
        true
    }
}

/// Little-endian integers at fixed offsets; `None` past the end.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn fixed(&mut self) -> Option<Fixed> {
        let mantissa = self.i64()?;
        let [scale] = self.take()?;
        Fixed::new(mantissa, u32::from(scale))
    }
}

/// One record's bar, when it is a valid one.
fn decode(record: &[u8; RECORD]) -> Option<Bar> {
    let mut cursor = Cursor(record);
    let time = DateTime::from_timestamp(cursor.i64()?, cursor.u32()?)?;
    let prices = [cursor.fixed()?, cursor.fixed()?, cursor.fixed()?, cursor.fixed()?];
    fixed::any_bar(time, prices, cursor.fixed()?)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::csv;

    #[test]
    fn the_checksum_is_the_same_whatever_the_pieces_it_is_fed() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        let mut whole = Checksum::new();
        whole.update(&bytes);
        for cut in [1, 3, 7, 8, 9, 57, 199] {
            let mut pieces = Checksum::new();
            for piece in bytes.chunks(cut) {
                pieces.update(piece);
            }
            assert_eq!(pieces.finish(), whole.finish(), "pieces of {cut}");
        }
    }

    /// A folder with `bars.csv` of `count` generated bars.
    pub(crate) fn setup(count: usize) -> (tempfile::TempDir, PathBuf, Vec<Bar>) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("bars.csv");
        let bars = crate::generate::generate(count, 3, "2024-01-01T00:00:00Z".parse().unwrap());
        csv::write_all(&source, &bars).unwrap();
        (dir, source, bars)
    }

    #[test]
    fn the_first_load_writes_the_cache_and_the_second_reads_it() {
        let (_dir, source, bars) = setup(1000);
        assert_eq!(read(&source).unwrap(), None);
        assert_eq!(load(&source).unwrap(), bars);
        assert!(cache_path(&source).exists());
        assert_eq!(read(&source).unwrap(), Some(bars.clone()));
        assert_eq!(load(&source).unwrap(), bars);
    }

    #[test]
    fn a_temporary_cache_left_by_a_process_that_is_gone_is_removed() {
        let (dir, source, bars) = setup(100);
        let cache = cache_path(&source);
        let name = |suffix: &str| dir.path().join(format!("{}{suffix}", cache.file_name().unwrap().to_str().unwrap()));
        // No process has an id above the kernel's maximum (4,194,304); this one is running.
        let (gone, alive) = (name(".tmp4294967295-0"), name(&format!(".tmp{}-999", std::process::id())));
        fs::write(&gone, b"half a cache").unwrap();
        fs::write(&alive, b"being written").unwrap();
        assert_eq!(load(&source).unwrap(), bars);
        assert!(!gone.exists());
        assert!(alive.exists(), "a running writer's file is left alone");
        assert!(cache.exists());
    }

    #[test]
    fn a_changed_source_makes_the_cache_stale_and_it_is_rebuilt() {
        let (_dir, source, bars) = setup(100);
        load(&source).unwrap();
        let fewer = &bars[..60];
        csv::write_all(&source, fewer).unwrap();
        assert_eq!(read(&source).unwrap(), None);
        assert_eq!(load(&source).unwrap(), fewer);
        assert_eq!(read(&source).unwrap().unwrap(), fewer);
    }

    #[test]
    fn a_corrupted_or_truncated_cache_is_ignored() {
        let (_dir, source, bars) = setup(100);
        load(&source).unwrap();
        let cache = cache_path(&source);
        let good = fs::read(&cache).unwrap();
        let mut flipped = good.clone();
        flipped[HEADER + 20] ^= 0x40;
        for broken in [flipped, good[..good.len() - 1].to_vec(), b"ZEPIXBAR".to_vec(), Vec::new()] {
            fs::write(&cache, &broken).unwrap();
            assert_eq!(read(&source).unwrap(), None);
            assert_eq!(load(&source).unwrap(), bars);
            assert_eq!(fs::read(&cache).unwrap(), good, "the cache is rebuilt");
        }
    }

    #[test]
    fn a_cache_that_passes_the_checksum_but_holds_invalid_bars_is_ignored() {
        let (_dir, source, bars) = setup(10);
        load(&source).unwrap();
        let cache = cache_path(&source);
        let mut bytes = fs::read(&cache).unwrap();
        // Make the first bar's open zero (mantissa at offset 12 of the record) and fix the checksum.
        bytes[HEADER + 12..HEADER + 20].copy_from_slice(&0i64.to_le_bytes());
        let mut sum = Checksum::new();
        sum.update(&bytes[HEADER..]);
        let sum = sum.finish();
        bytes[48..56].copy_from_slice(&sum.to_le_bytes());
        fs::write(&cache, &bytes).unwrap();
        assert_eq!(read(&source).unwrap(), None);
        assert_eq!(load(&source).unwrap(), bars);
    }

    #[test]
    fn a_bad_row_is_reported_by_load_and_no_cache_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("bad.csv");
        fs::write(&source, "2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T00:01:00Z,1,x,1,1,1\n").unwrap();
        let e = load(&source).unwrap_err();
        assert_eq!(e.row().unwrap().line, 2);
        assert!(!cache_path(&source).exists());
    }
}
