//! [`LogInbox`]: the engine's durable, idempotent [`Inbox`], an append-only log with group commit.
//!
//! SQLite cannot acknowledge alerts fast enough here (a unique index costs 35–50 µs per row), so
//! the acknowledgement path is a sequential append: records go to `data_dir/inbox/` as one JSON
//! object per line, in segment files named by their first sequence number. One writer thread
//! writes whatever is pending in one `write_all` and one `fdatasync`, and only then hands the
//! records to the sink and answers the callers (in that order, so anything a caller does after its
//! acknowledgement reaches the kernel after the signal). Duplicates are answered from an in-memory
//! set of ids.
//! Once the store has recorded a prefix of the log, closed segments wholly inside it are deleted.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::oneshot;
use zepix_engine::{Appended, Inbox, InboxError, InboxRecord};
use zepix_model::{Signal, SignalId, SignalSource};

use crate::codec::time_text;

/// The callback that receives durable records, in sequence order, on the writer thread.
pub type InboxSink = Box<dyn FnMut(Vec<InboxRecord>) + Send>;

/// The answer to one append.
type Reply = oneshot::Sender<Result<Appended, InboxError>>;

/// Tuning of a [`LogInbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxOptions {
    /// A segment is closed, and a new one started, once it holds at least this many bytes.
    pub segment_bytes: u64,
}

impl Default for InboxOptions {
    fn default() -> Self {
        Self { segment_bytes: 64 * 1024 * 1024 }
    }
}

/// The durable, idempotent inbox on an append-only log.
pub struct LogInbox {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for LogInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogInbox").finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything appenders and the writer share, under one mutex.
struct State {
    /// Every id accepted or pending, and every id the store has processed.
    ids: HashSet<SignalId>,
    next_seq: u64,
    /// Encoded lines of `batch`, in the same order.
    buf: Vec<u8>,
    batch: Vec<Pending>,
    /// Highest seq the store has recorded.
    watermark: u64,
    watermark_moved: bool,
    closing: bool,
    writer_idle: bool,
}

struct Pending {
    record: InboxRecord,
    reply: Reply,
}

/// A line of the log as read back.
#[derive(Deserialize)]
struct Line {
    seq: u64,
    source: String,
    received_at: DateTime<Utc>,
    signal: Signal,
}

impl LogInbox {
    /// Opens (creating if needed) the log under `data_dir/inbox/` with the default options.
    ///
    /// `processed` holds the ids the store has recorded; `committed_seq` the highest seq it has
    /// committed. Returns the inbox and the logged records whose ids are not in `processed`, in
    /// seq order: the caller processes them before anything new.
    ///
    /// # Errors
    /// I/O failures, and [`InboxError::Corrupt`] for damage other than a torn last line.
    pub fn open(
        data_dir: &Path,
        processed: &HashSet<SignalId>,
        committed_seq: u64,
        sink: InboxSink,
    ) -> Result<(Self, Vec<InboxRecord>), InboxError> {
        Self::open_with(data_dir, processed, committed_seq, sink, InboxOptions::default())
    }

    /// [`LogInbox::open`] with explicit options.
    ///
    /// # Errors
    /// I/O failures, and [`InboxError::Corrupt`] for damage other than a torn last line.
    pub fn open_with(
        data_dir: &Path,
        processed: &HashSet<SignalId>,
        committed_seq: u64,
        sink: InboxSink,
        options: InboxOptions,
    ) -> Result<(Self, Vec<InboxRecord>), InboxError> {
        let dir = data_dir.join("inbox");
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            sync_dir(data_dir)?;
        }
        let segments = list_segments(&dir)?;
        let mut ids = processed.clone();
        let mut unprocessed = Vec::new();
        let mut max_seq = 0;
        let mut closed = VecDeque::new();
        let mut active = None;
        for (i, (first, path)) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            let scan = scan_segment(path, is_last, max_seq)?;
            let last = scan.records.last().map(|r| r.seq);
            for record in scan.records {
                max_seq = record.seq;
                if ids.insert(record.signal.id.clone()) {
                    unprocessed.push(record);
                } else if !processed.contains(&record.signal.id) {
                    tracing::warn!(id = %record.signal.id, seq = record.seq, "inbox log repeats a signal id; kept the first");
                }
            }
            if is_last {
                let file = OpenOptions::new().append(true).open(path)?;
                active = Some(Segment { file, path: path.clone(), first: *first, len: scan.len, last });
            } else {
                closed.push_back(ClosedSegment { path: path.clone(), last });
            }
        }
        let next_seq = max_seq.max(committed_seq) + 1;
        let active = match active {
            Some(segment) => segment,
            None => Segment::create(&dir, next_seq)?,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ids,
                next_seq,
                buf: Vec::new(),
                batch: Vec::new(),
                watermark: 0,
                watermark_moved: false,
                closing: false,
                writer_idle: false,
            }),
            wake: Condvar::new(),
        });
        let writer = LogWriter {
            shared: Arc::clone(&shared),
            dir,
            segment_bytes: options.segment_bytes.max(1),
            active,
            closed,
            sink,
            broken: None,
        };
        let handle = std::thread::Builder::new().name("zepix-inbox-writer".into()).spawn(move || writer.run())?;
        Ok((Self { shared, writer: Mutex::new(Some(handle)) }, unprocessed))
    }

    /// Stops the writer once it has written what is pending. Later appends answer
    /// [`InboxError::Closed`]. Dropping the inbox does the same. Not to be called from the sink,
    /// which runs on the writer thread.
    pub fn close(&self) {
        {
            let mut st = self.shared.lock();
            st.closing = true;
        }
        self.shared.wake.notify_all();
        let handle = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the inbox writer panicked");
        }
    }
}

impl Drop for LogInbox {
    fn drop(&mut self) {
        self.close();
    }
}

/// The part of a line that does not depend on its seq: `,"source":…,"received_at":…,"signal":…}\n`.
fn encode_tail(source: &SignalSource, received_at: DateTime<Utc>, signal: &Signal) -> serde_json::Result<Vec<u8>> {
    let mut tail = Vec::with_capacity(320);
    tail.extend_from_slice(b",\"source\":");
    serde_json::to_writer(&mut tail, &source.to_string())?;
    tail.extend_from_slice(b",\"received_at\":\"");
    tail.extend_from_slice(time_text(received_at).as_bytes());
    tail.extend_from_slice(b"\",\"signal\":");
    serde_json::to_writer(&mut tail, signal)?;
    tail.extend_from_slice(b"}\n");
    Ok(tail)
}

impl Inbox for LogInbox {
    fn append(
        &self,
        source: SignalSource,
        received_at: DateTime<Utc>,
        signal: Signal,
    ) -> oneshot::Receiver<Result<Appended, InboxError>> {
        let (reply, answer) = oneshot::channel();
        // Encoding happens outside the lock; only the seq is written under it.
        let tail = match encode_tail(&source, received_at, &signal) {
            Ok(tail) => tail,
            Err(e) => {
                let _ = reply.send(Err(InboxError::Io(io::Error::other(e))));
                return answer;
            }
        };
        let mut st = self.shared.lock();
        if st.closing {
            drop(st);
            let _ = reply.send(Err(InboxError::Closed));
            return answer;
        }
        if st.ids.contains(&signal.id) {
            drop(st);
            let _ = reply.send(Ok(Appended::Duplicate));
            return answer;
        }
        st.ids.insert(signal.id.clone());
        let seq = st.next_seq;
        st.next_seq += 1;
        // Writing to a Vec cannot fail.
        let _ = write!(st.buf, "{{\"seq\":{seq}");
        st.buf.extend_from_slice(&tail);
        st.batch.push(Pending { record: InboxRecord { seq, source, received_at, signal }, reply });
        let wake = st.writer_idle;
        drop(st);
        if wake {
            self.shared.wake.notify_one();
        }
        answer
    }

    fn processed_up_to(&self, seq: u64) {
        let mut st = self.shared.lock();
        if seq > st.watermark {
            st.watermark = seq;
            st.watermark_moved = true;
            let wake = st.writer_idle;
            drop(st);
            if wake {
                self.shared.wake.notify_one();
            }
        }
    }
}

/// The segment being appended to.
struct Segment {
    file: File,
    path: PathBuf,
    first: u64,
    len: u64,
    last: Option<u64>,
}

impl Segment {
    fn create(dir: &Path, first: u64) -> io::Result<Self> {
        let path = segment_path(dir, first);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        sync_dir(dir)?;
        Ok(Self { file, path, first, len, last: None })
    }
}

/// A segment no longer appended to, kept until the store has recorded all of it.
struct ClosedSegment {
    path: PathBuf,
    last: Option<u64>,
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment files of `dir`, by first seq.
fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .extension()
            .filter(|ext| *ext == "log")
            .and(path.file_stem())
            .and_then(|stem| stem.to_str())
            .and_then(|stem| stem.parse::<u64>().ok());
        match first {
            Some(first) => segments.push((first, path)),
            None => tracing::warn!(file = %path.display(), "ignoring a file that is not an inbox segment"),
        }
    }
    segments.sort_unstable_by_key(|(first, _)| *first);
    Ok(segments)
}

/// What one segment holds.
struct Scan {
    records: Vec<InboxRecord>,
    /// Length after any torn tail was cut.
    len: u64,
}

fn parse_line(line: &[u8]) -> Result<InboxRecord, String> {
    let line: Line = serde_json::from_slice(line).map_err(|e| format!("unreadable record: {e}"))?;
    let source = line.source.parse::<SignalSource>().map_err(|e| format!("bad source: {e}"))?;
    Ok(InboxRecord { seq: line.seq, source, received_at: line.received_at, signal: line.signal })
}

/// Reads a segment. In the last segment, a last line without its newline or that does not parse
/// is what a crash mid-write leaves; it was never acknowledged, so it is cut off. Anything else
/// that does not read back is corruption.
fn scan_segment(path: &Path, is_last: bool, mut prev_seq: u64) -> Result<Scan, InboxError> {
    let data = std::fs::read(path)?;
    let corrupt = |offset: usize, reason: String| InboxError::Corrupt {
        file: path.display().to_string(),
        offset: offset as u64,
        reason,
    };
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let (line, next, parsed) = match data[offset..].iter().position(|b| *b == b'\n') {
            Some(end) => {
                let line = &data[offset..offset + end];
                (line, offset + end + 1, parse_line(line))
            }
            None => (&data[offset..], data.len(), Err("the last line has no newline".to_owned())),
        };
        match parsed {
            Ok(record) => {
                if record.seq <= prev_seq {
                    return Err(corrupt(offset, format!("seq {} follows seq {prev_seq}", record.seq)));
                }
                prev_seq = record.seq;
                records.push(record);
            }
            Err(reason) if is_last && next == data.len() => {
                tracing::warn!(
                    file = %path.display(), offset, bytes = line.len(), %reason,
                    "cutting a torn record off the end of the inbox log"
                );
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(offset as u64)?;
                file.sync_all()?;
                return Ok(Scan { records, len: offset as u64 });
            }
            Err(reason) => return Err(corrupt(offset, reason)),
        }
        offset = next;
    }
    Ok(Scan { records, len: data.len() as u64 })
}

/// The writer thread's state.
struct LogWriter {
    shared: Arc<Shared>,
    dir: PathBuf,
    segment_bytes: u64,
    active: Segment,
    closed: VecDeque<ClosedSegment>,
    sink: InboxSink,
    /// Set when a failed write could not be taken back: the log must not grow past damage.
    broken: Option<String>,
}

/// Refuses every append once the writer has stopped, however it stopped, so no caller waits
/// forever.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let pending = {
            let mut st = self.0.lock();
            st.closing = true;
            st.buf.clear();
            std::mem::take(&mut st.batch)
        };
        for p in pending {
            let _ = p.reply.send(Err(InboxError::Closed));
        }
    }
}

impl LogWriter {
    fn run(mut self) {
        let _guard = StopGuard(Arc::clone(&self.shared));
        let mut buf = Vec::new();
        let mut batch = Vec::new();
        loop {
            let (compact, next_seq, stop) = {
                let mut st = self.shared.lock();
                while st.batch.is_empty() && !st.closing && !st.watermark_moved {
                    st.writer_idle = true;
                    st = self.shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
                st.writer_idle = false;
                std::mem::swap(&mut buf, &mut st.buf);
                std::mem::swap(&mut batch, &mut st.batch);
                let compact = std::mem::take(&mut st.watermark_moved).then_some(st.watermark);
                (compact, st.next_seq, st.closing && batch.is_empty())
            };
            if !batch.is_empty() {
                self.write_batch(&mut buf, &mut batch);
            }
            if let Some(watermark) = compact {
                self.compact(watermark, next_seq);
            }
            if stop {
                break;
            }
        }
    }

    /// Writes and syncs one batch, then feeds the sink and answers its callers; on failure,
    /// forgets the batch's ids and answers with the error.
    fn write_batch(&mut self, buf: &mut Vec<u8>, batch: &mut Vec<Pending>) {
        let result = self.write_durably(buf, batch);
        buf.clear();
        match result {
            Ok(()) => {
                // The sink gets the records before the callers get their answers, so whatever a
                // caller does after the acknowledgement reaches the kernel after the signal.
                let mut records = Vec::with_capacity(batch.len());
                let mut replies = Vec::with_capacity(batch.len());
                for p in batch.drain(..) {
                    replies.push((p.reply, p.record.seq));
                    records.push(p.record);
                }
                let sink = &mut self.sink;
                if catch_unwind(AssertUnwindSafe(|| sink(records))).is_err() {
                    tracing::error!("the inbox sink panicked; the records stay in the log for the next start");
                }
                for (reply, seq) in replies {
                    let _ = reply.send(Ok(Appended::Accepted(seq)));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "inbox write failed; the batch is refused");
                {
                    let mut st = self.shared.lock();
                    for p in batch.iter() {
                        st.ids.remove(&p.record.signal.id);
                    }
                }
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(InboxError::Io(io::Error::new(e.kind(), e.to_string()))));
                }
            }
        }
    }

    fn write_durably(&mut self, buf: &[u8], batch: &[Pending]) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(());
        };
        if self.active.len >= self.segment_bytes {
            self.rotate(first.record.seq)?;
        }
        let start = self.active.len;
        let written = self.active.file.write_all(buf).and_then(|()| self.active.file.sync_data());
        if let Err(e) = written {
            // Take back whatever part reached the file, so a later batch does not land after a
            // torn record in the middle of the log.
            if let Err(undo) = self.active.file.set_len(start).and_then(|()| self.active.file.sync_data()) {
                let why = format!(
                    "inbox segment {} could not be restored after a failed write ({e}): {undo}",
                    self.active.path.display()
                );
                tracing::error!("{why}");
                self.broken = Some(why);
            }
            return Err(e);
        }
        self.active.len += buf.len() as u64;
        self.active.last = Some(last.record.seq);
        Ok(())
    }

    /// Closes the active segment and starts one named `first`.
    fn rotate(&mut self, first: u64) -> io::Result<()> {
        let next = Segment::create(&self.dir, first)?;
        let old = std::mem::replace(&mut self.active, next);
        tracing::debug!(segment = old.first, "inbox segment closed");
        self.closed.push_back(ClosedSegment { path: old.path, last: old.last });
        Ok(())
    }

    /// Deletes the closed segments the store has wholly recorded; a full active segment is closed
    /// first so it can go too.
    fn compact(&mut self, watermark: u64, next_seq: u64) {
        if self.active.len >= self.segment_bytes
            && self.active.last.is_some_and(|last| last <= watermark)
            && let Err(e) = self.rotate(next_seq)
        {
            tracing::warn!(error = %e, "cannot start a new inbox segment");
        }
        let mut deleted = false;
        while let Some(front) = self.closed.front() {
            if front.last.is_some_and(|last| last > watermark) {
                break;
            }
            if let Err(e) = std::fs::remove_file(&front.path) {
                tracing::warn!(error = %e, file = %front.path.display(), "cannot delete an inbox segment");
                break;
            }
            deleted = true;
            self.closed.pop_front();
        }
        if deleted && let Err(e) = sync_dir(&self.dir) {
            tracing::warn!(error = %e, "cannot sync the inbox folder");
        }
    }
}
