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
//!
//! Segments are preallocated: a new segment is written full of zeros (real blocks, synced once),
//! and records overwrite those zeros in place, so a commit's `fdatasync` flushes data blocks only
//! and never the inode (the file size does not change). A segment's data therefore ends at the
//! first NUL byte where a line would start. The next segment is prepared in the background once
//! the active one is half full, under a temporary name that is not a segment, and renamed into
//! place at rotation. Segments written before preallocation (no zero padding) read the same way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
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
    /// Ids whose first copy is not durable yet, with the repeats waiting for its outcome: a
    /// repeat is answered `Duplicate` only once the first copy is on disk.
    in_flight: HashMap<SignalId, Vec<Reply>>,
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

/// The file the next segment is prepared in, ahead of rotation; not a segment (no `.log`).
const SPARE_NAME: &str = "next-segment.tmp";

/// Zeros are written in chunks of this size.
const ZERO_CHUNK: u64 = 1024 * 1024;

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
        let segment_bytes = options.segment_bytes.max(1);
        // A spare left by a crash may be incomplete; it is prepared again when needed.
        match std::fs::remove_file(dir.join(SPARE_NAME)) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
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
                let file = OpenOptions::new().read(true).write(true).open(path)?;
                let mut size = scan.size;
                if size < segment_bytes {
                    // A segment from before preallocation, or from smaller options: pad it now so
                    // its appends do not grow the file.
                    write_zeros(&file, size, segment_bytes)?;
                    file.sync_all()?;
                    size = segment_bytes;
                }
                active = Some(Segment { file, path: path.clone(), first: *first, len: scan.len, size, last });
            } else {
                closed.push_back(ClosedSegment { path: path.clone(), last });
            }
        }
        let next_seq = max_seq.max(committed_seq) + 1;
        let active = match active {
            Some(segment) => segment,
            None => Segment::create(&dir, next_seq, segment_bytes)?,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ids,
                in_flight: HashMap::new(),
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
            segment_bytes,
            active,
            closed,
            spare: None,
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
            match st.in_flight.get_mut(&signal.id) {
                Some(waiting) => waiting.push(reply),
                None => {
                    drop(st);
                    let _ = reply.send(Ok(Appended::Duplicate));
                }
            }
            return answer;
        }
        st.ids.insert(signal.id.clone());
        st.in_flight.insert(signal.id.clone(), Vec::new());
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
    /// Where the data ends: the next record is written here, over zeros.
    len: u64,
    /// The file's size; from `len` up to it, the file holds zeros.
    size: u64,
    last: Option<u64>,
}

impl Segment {
    /// Creates the segment named `first`, preallocated to `size` zero bytes.
    fn create(dir: &Path, first: u64, size: u64) -> io::Result<Self> {
        let path = segment_path(dir, first);
        let file = preallocate(&path, size)?;
        sync_dir(dir)?;
        Ok(Self { file, path, first, len: 0, size, last: None })
    }

    /// Takes back whatever part of a failed write of `[start, end)` reached the file: the file is
    /// cut back to its preallocated size and the range zeroed, so the data still ends at `start`.
    fn take_back(&self, start: u64, end: u64) -> io::Result<()> {
        if end > self.size {
            self.file.set_len(self.size.max(start))?;
        }
        write_zeros(&self.file, start, end.min(self.size))?;
        self.file.sync_data()
    }
}

/// Writes zeros over `[from, to)` of `file`, in large chunks.
fn write_zeros(file: &File, from: u64, to: u64) -> io::Result<()> {
    let chunk = usize::try_from(to.saturating_sub(from).min(ZERO_CHUNK)).map_err(io::Error::other)?;
    let zeros = vec![0u8; chunk];
    let mut at = from;
    while at < to {
        let n = usize::try_from((to - at).min(ZERO_CHUNK)).map_err(io::Error::other)?;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Creates (or replaces) `path` holding `size` zero bytes, written and synced with the file's
/// metadata, so writes over them later change no metadata. Real zeros rather than `fallocate`,
/// whose unwritten extents would need converting (a metadata update) on first write, and which
/// needs `unsafe` or another dependency. The caller syncs the directory.
fn preallocate(path: &Path, size: u64) -> io::Result<File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
    write_zeros(&file, 0, size)?;
    file.sync_all()?;
    Ok(file)
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
    /// Where the data ends, after any torn tail was cut.
    len: u64,
    /// The file's size.
    size: u64,
}

fn parse_line(line: &[u8]) -> Result<InboxRecord, String> {
    let line: Line = serde_json::from_slice(line).map_err(|e| format!("unreadable record: {e}"))?;
    let source = line.source.parse::<SignalSource>().map_err(|e| format!("bad source: {e}"))?;
    Ok(InboxRecord { seq: line.seq, source, received_at: line.received_at, signal: line.signal })
}

/// Reads a segment. Its data ends at the file's end or at a NUL byte where a line would start;
/// the rest of a preallocated segment is zeros. In the last segment, a last line cut short (by the
/// end of the file or by zeros) or that does not parse is what a crash mid-write leaves; it was
/// never acknowledged, so it is zeroed, together with anything else after the end of the data.
/// Anything else that does not read back is corruption.
fn scan_segment(path: &Path, is_last: bool, mut prev_seq: u64) -> Result<Scan, InboxError> {
    let data = std::fs::read(path)?;
    let corrupt = |offset: usize, reason: String| InboxError::Corrupt {
        file: path.display().to_string(),
        offset: offset as u64,
        reason,
    };
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < data.len() && data[offset] != 0 {
        let rest = &data[offset..];
        let (line, next, parsed) = match rest.iter().position(|b| *b == b'\n' || *b == 0) {
            Some(end) if rest[end] == b'\n' => (&rest[..end], offset + end + 1, parse_line(&rest[..end])),
            Some(end) => (&rest[..end], offset + end, Err("the last line is cut short by zeros".to_owned())),
            None => (rest, data.len(), Err("the last line has no newline".to_owned())),
        };
        match parsed {
            Ok(record) => {
                if record.seq <= prev_seq {
                    return Err(corrupt(offset, format!("seq {} follows seq {prev_seq}", record.seq)));
                }
                prev_seq = record.seq;
                records.push(record);
            }
            Err(reason) if is_last && data.get(next).is_none_or(|b| *b == 0) => {
                tracing::warn!(
                    file = %path.display(), offset, bytes = line.len(), %reason,
                    "cutting a torn record off the end of the inbox log"
                );
                break;
            }
            Err(reason) => return Err(corrupt(offset, reason)),
        }
        offset = next;
    }
    let tail = &data[offset..];
    if let Some(first) = tail.iter().position(|b| *b != 0) {
        if !is_last {
            return Err(corrupt(offset + first, "data after the end of the segment's records".to_owned()));
        }
        // Zero everything up to the last byte that is not zero, so a later, shorter record does
        // not leave the rest of the torn write after its newline.
        let dirty_end = offset + tail.iter().rposition(|b| *b != 0).map_or(0, |last| last + 1);
        tracing::warn!(
            file = %path.display(), offset, bytes = dirty_end - offset,
            "zeroing an unacknowledged tail of the inbox log"
        );
        let file = OpenOptions::new().write(true).open(path)?;
        write_zeros(&file, offset as u64, dirty_end as u64)?;
        file.sync_data()?;
    }
    Ok(Scan { records, len: offset as u64, size: data.len() as u64 })
}

/// The writer thread's state.
struct LogWriter {
    shared: Arc<Shared>,
    dir: PathBuf,
    segment_bytes: u64,
    active: Segment,
    closed: VecDeque<ClosedSegment>,
    sink: InboxSink,
    /// The next segment, being preallocated in the background as the spare file.
    spare: Option<JoinHandle<io::Result<File>>>,
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
        self.discard_spare();
    }

    /// Starts preparing the next segment in the background, unless that is under way.
    fn prepare_spare(&mut self) {
        if self.spare.is_some() {
            return;
        }
        let (path, size) = (self.dir.join(SPARE_NAME), self.segment_bytes);
        match std::thread::Builder::new().name("zepix-inbox-prealloc".into()).spawn(move || preallocate(&path, size)) {
            Ok(handle) => self.spare = Some(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start preparing the next inbox segment"),
        }
    }

    /// Waits for the spare being prepared, if any; `None` if there is none or it failed.
    fn take_spare(&mut self) -> Option<File> {
        match self.spare.take()?.join() {
            Ok(Ok(file)) => Some(file),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot prepare the next inbox segment ahead of time");
                None
            }
            Err(_) => {
                tracing::error!("the inbox segment preparation panicked");
                None
            }
        }
    }

    /// Removes the spare on the way out: a spare left behind is removed by the next open anyway.
    fn discard_spare(&mut self) {
        if self.spare.is_none() {
            return;
        }
        drop(self.take_spare());
        match std::fs::remove_file(self.dir.join(SPARE_NAME)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "cannot remove the spare inbox segment"),
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
                let ids: Vec<SignalId> = batch.iter().map(|p| p.record.signal.id.clone()).collect();
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
                // Repeats wait in `in_flight` until the first copies have their answer: one that
                // arrives meanwhile joins them, so "duplicate" never overtakes "accepted".
                let mut repeats = Vec::new();
                {
                    let mut st = self.shared.lock();
                    for id in &ids {
                        repeats.extend(st.in_flight.remove(id).unwrap_or_default());
                    }
                }
                for reply in repeats {
                    let _ = reply.send(Ok(Appended::Duplicate));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "inbox write failed; the batch is refused");
                // The first copies failed, so their repeats were not stored either: both are told.
                let mut repeats = Vec::new();
                {
                    let mut st = self.shared.lock();
                    for p in batch.iter() {
                        st.ids.remove(&p.record.signal.id);
                        repeats.extend(st.in_flight.remove(&p.record.signal.id).unwrap_or_default());
                    }
                }
                let failed = || InboxError::Io(io::Error::new(e.kind(), e.to_string()));
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(failed()));
                }
                for reply in repeats {
                    let _ = reply.send(Err(failed()));
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
        let end = start + buf.len() as u64;
        // Over the preallocated zeros: the file size does not change, so neither does the inode.
        let written = self.active.file.write_all_at(buf, start).and_then(|()| self.active.file.sync_data());
        if let Err(e) = written {
            // Take back whatever part reached the file, so a later batch does not land after a
            // torn record in the middle of the log.
            if let Err(undo) = self.active.take_back(start, end) {
                let why = format!(
                    "inbox segment {} could not be restored after a failed write ({e}): {undo}",
                    self.active.path.display()
                );
                tracing::error!("{why}");
                self.broken = Some(why);
            }
            return Err(e);
        }
        self.active.len = end;
        self.active.size = self.active.size.max(end);
        self.active.last = Some(last.record.seq);
        if self.active.len >= self.segment_bytes / 2 {
            self.prepare_spare();
        }
        Ok(())
    }

    /// Closes the active segment and starts one named `first`.
    fn rotate(&mut self, first: u64) -> io::Result<()> {
        let path = segment_path(&self.dir, first);
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("inbox segment {} already exists", path.display()),
            ));
        }
        let next = match self.take_spare() {
            Some(file) => {
                std::fs::rename(self.dir.join(SPARE_NAME), &path)?;
                sync_dir(&self.dir)?;
                let size = file.metadata()?.len();
                Segment { file, path, first, len: 0, size, last: None }
            }
            None => Segment::create(&self.dir, first, self.segment_bytes)?,
        };
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
