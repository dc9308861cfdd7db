//! Bars read on a background thread a chunk at a time, so a backtest replays the first bars
//! while the rest of the file is still being parsed: on two cores, reading costs next to nothing
//! on top of the replay. The chunks' vectors go back to the reader once used, so the whole file
//! never sits in memory.
//!
//! A CSV file is read through its cache ([`crate::cache`]): from the cache when it matches the
//! file (its checksum checked before the first bar is handed out), else by parsing the file and
//! writing the cache as the chunks go by. The cache is only put in place once the whole file has
//! been read without error.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use zepix_model::Bar;

use crate::cache::{CacheReader, CacheWriter, Key, cache_path};
use crate::csv::CsvReader;
use crate::error::DataError;

/// Bars in a chunk.
const CHUNK: usize = 16_384;

/// Chunks the reader may be ahead of its user.
const AHEAD: usize = 4;

/// Some bars of the source, in time order, after the previous chunk's.
#[derive(Debug)]
pub struct Chunk {
    /// The bars.
    pub bars: Vec<Bar>,
    /// How much of the source has been read, from 0 to 1.
    pub read: f64,
    /// Whether they came from the cache rather than from parsing the CSV.
    pub cached: bool,
}

/// The bars of a CSV file, read on a background thread; iterate for the chunks. A bad row ends
/// the stream with its error.
#[derive(Debug)]
pub struct BarStream {
    chunks: Receiver<Result<Chunk, DataError>>,
    spare: Sender<Vec<Bar>>,
    worker: Option<JoinHandle<()>>,
    source: PathBuf,
}

impl BarStream {
    /// Starts reading `source`.
    ///
    /// # Errors
    /// When the file does not exist or its metadata cannot be read; a file that cannot be read
    /// and a bad row come later, from the iterator.
    pub fn open(source: impl AsRef<Path>) -> Result<Self, DataError> {
        let source = source.as_ref().to_path_buf();
        let key = Key::of(&source)?;
        let (sender, chunks) = mpsc::sync_channel(AHEAD);
        let (spare, spares) = mpsc::channel();
        let reader = Reader { source: source.clone(), key, chunks: sender, spares };
        let worker = std::thread::Builder::new()
            .name("zepix-bars".into())
            .spawn(move || reader.run())
            .map_err(|e| DataError::io(&source, e))?;
        Ok(Self { chunks, spare, worker: Some(worker), source })
    }

    /// Where used chunks go back to the reader to be filled again.
    #[must_use]
    pub fn recycler(&self) -> Recycler {
        Recycler(self.spare.clone())
    }
}

/// Hands chunks' vectors back to the reader of a [`BarStream`].
#[derive(Debug, Clone)]
pub struct Recycler(Sender<Vec<Bar>>);

impl Recycler {
    /// Gives a chunk's vector back, its bars no longer needed.
    pub fn recycle(&self, mut bars: Vec<Bar>) {
        bars.clear();
        let _ = self.0.send(bars);
    }
}

impl Iterator for BarStream {
    type Item = Result<Chunk, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Ok(item) = self.chunks.recv() {
            return Some(item);
        }
        // The reader hung up: it finished, or it panicked, which must not pass for the end of
        // the file.
        let worker = self.worker.take()?;
        worker.join().err().map(|_| {
            Err(DataError::io(
                &self.source,
                std::io::Error::other("the bar reader thread failed; the file was not read to its end"),
            ))
        })
    }
}

impl Drop for BarStream {
    fn drop(&mut self) {
        // Hanging up stops a reader that is still going; it removes its unfinished cache.
        self.chunks = mpsc::sync_channel(0).1;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The background side: reads, sends chunks, writes the cache.
struct Reader {
    source: PathBuf,
    key: Key,
    chunks: SyncSender<Result<Chunk, DataError>>,
    spares: Receiver<Vec<Bar>>,
}

impl Reader {
    fn run(self) {
        if let Some(cache) = CacheReader::open(&self.source, self.key)
            && self.send_cache(cache)
        {
            return;
        }
        self.send_csv();
    }

    fn vec(&self) -> Vec<Bar> {
        self.spares.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK))
    }

    /// False when the stream's user is gone.
    fn send(&self, item: Result<Chunk, DataError>) -> bool {
        self.chunks.send(item).is_ok()
    }

    /// Sends the cache's bars. False when it holds an invalid bar before any was sent (it is
    /// removed and the CSV is to be read instead); a bad bar found later ends the stream with
    /// an error, since what was sent cannot be taken back.
    fn send_cache(&self, mut cache: CacheReader) -> bool {
        let mut sent = false;
        loop {
            let mut bars = self.vec();
            if !cache.read_into(&mut bars, CHUNK) {
                let path = cache_path(&self.source);
                tracing::info!("ignoring invalid bar cache {}", path.display());
                let _ = fs::remove_file(&path);
                if sent {
                    let _ = self.send(Err(DataError::InvalidCache { path }));
                }
                return sent;
            }
            if bars.is_empty() {
                return true;
            }
            let read = 1.0 - cache.remaining as f64 / cache.count.max(1) as f64;
            if !self.send(Ok(Chunk { bars, read, cached: true })) {
                return true;
            }
            sent = true;
        }
    }

    fn send_csv(&self) {
        let mut rows = match CsvReader::open(&self.source) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = self.send(Err(e));
                return;
            }
        };
        let mut cache =
            CacheWriter::create(&self.source, self.key).map_err(|e| tracing::warn!("bar cache not written: {e}")).ok();
        let size = self.key.len.max(1) as f64;
        let mut bars = self.vec();
        loop {
            let row = rows.next();
            let end = row.is_none();
            match row {
                Some(Ok(bar)) => bars.push(bar),
                // The unfinished cache is removed as it drops.
                Some(Err(e)) => {
                    let _ = self.send(Err(e));
                    return;
                }
                None => {}
            }
            if bars.len() == CHUNK || (end && !bars.is_empty()) {
                if let Some(writer) = cache.as_mut()
                    && let Err(e) = writer.push(&bars)
                {
                    tracing::warn!("bar cache not written: {e}");
                    cache = None;
                }
                let read = (rows.bytes_read() as f64 / size).min(1.0);
                if !self.send(Ok(Chunk { bars, read, cached: false })) {
                    return;
                }
                bars = self.vec();
            }
            if end {
                break;
            }
        }
        if let Some(Err(e)) = cache.map(CacheWriter::finish) {
            tracing::warn!("bar cache not written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cache::tests::setup as file;

    fn collect(source: &Path) -> (Vec<Bar>, Vec<f64>, Vec<bool>) {
        let stream = BarStream::open(source).unwrap();
        let spare = stream.recycler();
        let (mut bars, mut read, mut cached) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in stream {
            let chunk = chunk.unwrap();
            bars.extend_from_slice(&chunk.bars);
            read.push(chunk.read);
            cached.push(chunk.cached);
            spare.recycle(chunk.bars);
        }
        (bars, read, cached)
    }

    #[test]
    fn chunks_hold_every_bar_in_order_first_from_the_csv_then_from_its_cache() {
        let (_dir, source, bars) = file(CHUNK * 2 + 100);
        let (first, read, cached) = collect(&source);
        assert_eq!(first, bars);
        assert_eq!(read.len(), 3, "two full chunks and the rest");
        assert!(read.windows(2).all(|w| w[0] <= w[1]) && read[2] == 1.0, "{read:?}");
        assert_eq!(cached, [false; 3]);
        assert!(cache_path(&source).exists());
        let (second, read, cached) = collect(&source);
        assert_eq!(second, bars);
        assert_eq!(cached, [true; 3]);
        assert_eq!(read.last(), Some(&1.0));
    }

    #[test]
    fn a_bad_row_ends_the_stream_with_its_line_and_leaves_no_cache() {
        let (dir, source, _) = file(CHUNK + 10);
        let mut text = fs::read_to_string(&source).unwrap();
        text.push_str("2030-01-01T00:00:00Z,1,x,1,1,1\n");
        fs::write(&source, text).unwrap();
        let items: Vec<_> = BarStream::open(&source).unwrap().collect();
        assert_eq!(items.len(), 2, "the full chunk, then the error");
        assert!(items[0].is_ok());
        let e = items[1].as_ref().unwrap_err();
        assert_eq!(e.row().unwrap().line, CHUNK as u64 + 12, "after the header and every good row");
        assert!(!cache_path(&source).exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary cache left");
    }

    #[test]
    fn a_user_that_stops_early_leaves_no_half_written_cache() {
        let (dir, source, bars) = file(CHUNK * 8);
        let mut stream = BarStream::open(&source).unwrap();
        let first = stream.next().unwrap().unwrap();
        assert_eq!(first.bars[..], bars[..CHUNK]);
        drop(stream);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "only the CSV");
    }

    #[test]
    fn a_cache_damaged_after_its_first_chunk_ends_the_stream_with_an_error_and_is_removed() {
        let (_dir, source, bars) = file(CHUNK + 10);
        assert_eq!(collect(&source).0, bars);
        let cache = cache_path(&source);
        let bytes = fs::read(&cache).unwrap();
        // Rebuild the cache with a bar out of time order in the second chunk and a valid checksum.
        let mut bad = bars.clone();
        bad[CHUNK + 5].time = bad[0].time;
        let mut writer = CacheWriter::create(&source, Key::of(&source).unwrap()).unwrap();
        writer.push(&bad).unwrap();
        writer.finish().unwrap();
        assert_ne!(fs::read(&cache).unwrap(), bytes);
        let items: Vec<_> = BarStream::open(&source).unwrap().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].as_ref().unwrap().cached);
        assert!(matches!(items[1], Err(DataError::InvalidCache { .. })), "{:?}", items[1]);
        assert!(!cache.exists());
        assert_eq!(collect(&source).0, bars, "the next read parses the CSV again");
    }

    #[test]
    fn a_missing_file_is_an_error_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = BarStream::open(dir.path().join("none.csv")).unwrap_err();
        assert!(e.to_string().contains("none.csv"), "{e}");
    }
}
