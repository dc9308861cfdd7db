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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::DateTime;
use zepix_model::Bar;

use crate::csv;
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
/// read-only folder, is logged and skipped).
///
/// # Errors
/// When the file cannot be read or has a bad row.
pub fn load(source: impl AsRef<Path>) -> Result<Vec<Bar>, DataError> {
    let source = source.as_ref();
    // The key is taken before parsing: if the file changes meanwhile, the cache written below
    // carries the old key and is rebuilt next time.
    let key = Key::of(source)?;
    if let Some(bars) = read_keyed(source, key) {
        return Ok(bars);
    }
    let bars = csv::read_all(source)?;
    if let Err(e) = write_keyed(source, key, &bars) {
        tracing::warn!("bar cache not written: {e}");
    }
    Ok(bars)
}

/// The cached bars of `source`, or `None` when there is no cache or it is stale or invalid.
///
/// # Errors
/// When the source itself cannot be read.
pub fn read(source: &Path) -> Result<Option<Vec<Bar>>, DataError> {
    Ok(read_keyed(source, Key::of(source)?))
}

/// Writes the cache of `source` holding `bars` (which should be what the source holds now).
///
/// # Errors
/// When the source cannot be read or the cache cannot be written, or when a value is too precise
/// for the cache (a mantissa beyond 64 bits).
pub fn write(source: &Path, bars: &[Bar]) -> Result<(), DataError> {
    write_keyed(source, Key::of(source)?, bars)
}

/// What identifies the version of a source file the cache was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    len: u64,
    mtime_secs: i64,
    mtime_nanos: u32,
}

impl Key {
    fn of(source: &Path) -> Result<Self, DataError> {
        let meta = fs::metadata(source).map_err(|e| DataError::io(source, e))?;
        let modified = meta.modified().map_err(|e| DataError::io(source, e))?;
        let (mtime_secs, mtime_nanos) = match modified.duration_since(UNIX_EPOCH) {
            Ok(d) => (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
            Err(before) => (-i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX), 0),
        };
        Ok(Self { len: meta.len(), mtime_secs, mtime_nanos })
    }
}

fn checksum(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut hash = 0x243F_6A88_85A3_08D3_u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    for &b in chunks.remainder() {
        hash = (hash.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    hash
}

fn write_keyed(source: &Path, key: Key, bars: &[Bar]) -> Result<(), DataError> {
    let path = cache_path(source);
    let mut payload = Vec::with_capacity(bars.len() * RECORD);
    for bar in bars {
        payload.extend_from_slice(&bar.time.timestamp().to_le_bytes());
        payload.extend_from_slice(&bar.time.timestamp_subsec_nanos().to_le_bytes());
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
            payload.extend_from_slice(&mantissa.to_le_bytes());
            // At most 18, checked above.
            payload.push(value.scale() as u8);
        }
    }
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&(RECORD as u32).to_le_bytes());
    header.extend_from_slice(&key.len.to_le_bytes());
    header.extend_from_slice(&key.mtime_secs.to_le_bytes());
    header.extend_from_slice(&key.mtime_nanos.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&(bars.len() as u64).to_le_bytes());
    header.extend_from_slice(&checksum(&payload).to_le_bytes());
    // Written to a temporary file and renamed, so a reader never sees half a cache.
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&header)?;
        file.write_all(&payload)?;
        file.flush()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
        let _ = fs::remove_file(&tmp);
        return Err(DataError::io(path, e));
    }
    Ok(())
}

fn read_keyed(source: &Path, key: Key) -> Option<Vec<Bar>> {
    let path = cache_path(source);
    let bytes = fs::read(&path).ok()?;
    let bars = decode(&bytes, key);
    if bars.is_none() {
        tracing::info!("ignoring stale or invalid bar cache {}", path.display());
    }
    bars
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

fn decode(bytes: &[u8], key: Key) -> Option<Vec<Bar>> {
    let mut head = Cursor(bytes);
    if &head.take::<8>()? != MAGIC || head.u32()? != VERSION || head.u32()? as usize != RECORD {
        return None;
    }
    let found = Key { len: head.u64()?, mtime_secs: head.i64()?, mtime_nanos: head.u32()? };
    head.u32()?;
    let count = usize::try_from(head.u64()?).ok()?;
    let sum = head.u64()?;
    let payload = head.0;
    if found != key || Some(payload.len()) != count.checked_mul(RECORD) || checksum(payload) != sum {
        return None;
    }
    let mut bars = Vec::with_capacity(count);
    let mut cursor = Cursor(payload);
    let mut previous = None;
    for _ in 0..count {
        let time = DateTime::from_timestamp(cursor.i64()?, cursor.u32()?)?;
        let prices = [cursor.fixed()?, cursor.fixed()?, cursor.fixed()?, cursor.fixed()?];
        let bar = fixed::any_bar(time, prices, cursor.fixed()?)?;
        if previous.is_some_and(|p| time <= p) {
            return None;
        }
        previous = Some(time);
        bars.push(bar);
    }
    Some(bars)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn setup(count: usize) -> (tempfile::TempDir, PathBuf, Vec<Bar>) {
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
        let sum = checksum(&bytes[HEADER..]);
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
