//! The append-log inbox: durable before acknowledged, idempotent, recoverable after a crash.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a failure is a failed test")]

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, mpsc};

use common::{at, sid, signal};
use zepix_engine::{Appended, Inbox, InboxError, InboxRecord};
use zepix_model::{PluginId, SignalId, SignalSource};
use zepix_store::{InboxOptions, InboxSink, LogInbox};

/// A sink that forwards every batch to a channel the test reads.
fn channel_sink() -> (InboxSink, mpsc::Receiver<Vec<InboxRecord>>) {
    let (tx, rx) = mpsc::channel();
    (
        Box::new(move |records| {
            let _ = tx.send(records);
        }),
        rx,
    )
}

fn open(dir: &Path, processed: &[&str], committed: u64) -> Result<(LogInbox, Vec<InboxRecord>), InboxError> {
    open_with(dir, processed, committed, InboxOptions::default())
}

fn open_with(
    dir: &Path,
    processed: &[&str],
    committed: u64,
    options: InboxOptions,
) -> Result<(LogInbox, Vec<InboxRecord>), InboxError> {
    let processed: HashSet<SignalId> = processed.iter().map(|id| sid(id)).collect();
    LogInbox::open_with(dir, &processed, committed, Box::new(|_| {}), options)
}

fn append(inbox: &LogInbox, id: &str) -> Appended {
    inbox.append(SignalSource::Webhook, at(1), signal(id)).blocking_recv().unwrap().unwrap()
}

/// The segment files (`*.log`), in order; the spare being prepared for the next one is not one.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("inbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
}

/// Every file in the inbox folder.
fn all_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir.join("inbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// A segment's data: its bytes up to the zero padding, which must be all zeros to the end.
fn data(file: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(file).unwrap();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    assert!(bytes[end..].iter().all(|b| *b == 0), "only zeros after the data of {}", file.display());
    bytes.truncate(end);
    bytes
}

fn text(file: &Path) -> String {
    String::from_utf8(data(file)).unwrap()
}

/// Writes `bytes` at `offset` of `file`, over what is there.
fn write_at(file: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new().write(true).open(file).unwrap().write_all_at(bytes, offset).unwrap();
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

fn ids(records: &[InboxRecord]) -> Vec<String> {
    records.iter().map(|r| r.signal.id.to_string()).collect()
}

#[test]
fn accepted_records_reach_the_sink_in_order_and_the_file_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, batches) = channel_sink();
    let (inbox, pending) = LogInbox::open(dir.path(), &HashSet::new(), 0, sink).unwrap();
    assert!(pending.is_empty());
    let source = SignalSource::Plugin(PluginId::new("v3").unwrap());
    let replies: Vec<_> = ["a", "b", "c"].iter().map(|id| inbox.append(source.clone(), at(2), signal(id))).collect();
    let answers: Vec<Appended> = replies.into_iter().map(|r| r.blocking_recv().unwrap().unwrap()).collect();
    assert_eq!(answers, vec![Appended::Accepted(1), Appended::Accepted(2), Appended::Accepted(3)]);
    // The last answer came after its batch went to the sink, so every record is already there.
    let mut seen: Vec<InboxRecord> = batches.try_iter().flatten().collect();
    assert_eq!(seen.len(), 3, "the sink has the records before the callers have their answers");
    while seen.len() < 3 {
        seen.extend(batches.recv().unwrap());
    }
    assert_eq!(seen.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(seen[0], InboxRecord { seq: 1, source: source.clone(), received_at: at(2), signal: signal("a") });

    let files = segments(dir.path());
    assert_eq!(names(&files), vec!["00000000000000000001.log"]);
    assert_eq!(std::fs::metadata(&files[0]).unwrap().len(), 64 * 1024 * 1024, "preallocated to the segment size");
    let text = text(&files[0]);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["source"], "plugin:v3");
    assert_eq!(first["signal"], signal("a").to_canonical());
    assert_eq!(text.lines().count(), 3);
}

#[test]
fn repeated_ids_answer_duplicate_including_processed_ones_and_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (inbox, _) = open(dir.path(), &["old"], 0).unwrap();
        assert_eq!(append(&inbox, "a"), Appended::Accepted(1));
        assert_eq!(append(&inbox, "a"), Appended::Duplicate);
        assert_eq!(append(&inbox, "old"), Appended::Duplicate, "only in the store's processed set");
    }
    let (inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a"]);
    assert_eq!(append(&inbox, "a"), Appended::Duplicate, "remembered from the log");
    assert_eq!(append(&inbox, "b"), Appended::Accepted(2));
    assert_eq!(text(&segments(dir.path())[0]).lines().count(), 2, "nothing stored twice");
}

#[test]
fn reopen_returns_exactly_the_unprocessed_records_and_continues_the_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, batches) = channel_sink();
    let mut accepted = Vec::new();
    {
        let (inbox, _) = LogInbox::open(dir.path(), &HashSet::new(), 0, sink).unwrap();
        for id in ["a", "b", "c", "d"] {
            append(&inbox, id);
        }
        inbox.close();
        while let Ok(batch) = batches.recv() {
            accepted.extend(batch);
        }
    }
    let (inbox, pending) = open(dir.path(), &["a", "c"], 3).unwrap();
    assert_eq!(pending, vec![accepted[1].clone(), accepted[3].clone()], "b and d, whole and in seq order");
    assert_eq!(append(&inbox, "e"), Appended::Accepted(5));
    drop(inbox);

    let (inbox, pending) = open(dir.path(), &["a", "b", "c", "d", "e"], 40).unwrap();
    assert!(pending.is_empty());
    assert_eq!(append(&inbox, "f"), Appended::Accepted(41), "the store's committed seq is never reused");
}

#[test]
fn a_torn_tail_is_cut_off_and_the_next_append_works() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (inbox, _) = open(dir.path(), &[], 0).unwrap();
        append(&inbox, "a");
        append(&inbox, "b");
    }
    let file = segments(dir.path())[0].clone();
    let good = data(&file);
    let size = std::fs::metadata(&file).unwrap().len();
    // Over the zero padding, as a crash mid-write leaves it: a partial line followed by zeros.
    write_at(&file, good.len() as u64, br#"{"seq":3,"source":"webhook","received_at":"2023-11-"#);

    let (inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b"]);
    assert_eq!(data(&file), good, "the partial line is gone, zeroed");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size, "the preallocated size is kept");
    assert_eq!(append(&inbox, "c"), Appended::Accepted(3));
    drop(inbox);
    let (_inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b", "c"]);
}

#[test]
fn a_torn_line_longer_than_the_next_record_is_zeroed_so_nothing_follows_the_next_newline() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (inbox, _) = open(dir.path(), &[], 0).unwrap();
        append(&inbox, "a");
    }
    let file = segments(dir.path())[0].clone();
    let good = data(&file);
    // A torn batch: a long partial line, zeros where a page never reached the disk, then more.
    let mut torn = br#"{"seq":2,"source":"webhook","received_at":"2023-11-14T22:13:20Z","signal":{"id":"#.to_vec();
    torn.extend_from_slice(&[b'x'; 3000]);
    write_at(&file, good.len() as u64, &torn);
    write_at(&file, good.len() as u64 + 8192, b"{\"seq\":3}\n{\"seq\":4");

    let (inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a"]);
    assert_eq!(data(&file), good, "everything after the last whole record is zeroed");
    assert_eq!(append(&inbox, "b"), Appended::Accepted(2));
    drop(inbox);
    let lines = text(&file);
    assert_eq!(lines.lines().count(), 2);
    assert!(lines.ends_with('\n'));
    let (_inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b"]);
}

#[test]
fn a_reopened_preallocated_segment_continues_at_its_data_end() {
    let dir = tempfile::tempdir().unwrap();
    let small = InboxOptions { segment_bytes: 64 * 1024 };
    {
        let (inbox, _) = open_with(dir.path(), &[], 0, small).unwrap();
        append(&inbox, "a");
        append(&inbox, "b");
    }
    let file = segments(dir.path())[0].clone();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 64 * 1024, "preallocated");
    let before = data(&file);
    assert_eq!(before.iter().filter(|b| **b == b'\n').count(), 2, "two lines, then zeros");
    {
        let (inbox, pending) = open_with(dir.path(), &[], 0, small).unwrap();
        assert_eq!(ids(&pending), vec!["a", "b"]);
        assert_eq!(append(&inbox, "c"), Appended::Accepted(3));
    }
    let after = data(&file);
    assert!(after.starts_with(&before), "appended after the data, not after the padding");
    assert_eq!(text(&file).lines().count(), 3);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 64 * 1024, "the file did not grow");
    assert_eq!(names(&segments(dir.path())), vec!["00000000000000000001.log"]);
    let (_inbox, pending) = open_with(dir.path(), &[], 0, small).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b", "c"]);
}

#[test]
fn segments_without_zero_padding_from_before_preallocation_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let small = InboxOptions { segment_bytes: 4096 };
    {
        let (inbox, _) = open_with(dir.path(), &[], 0, InboxOptions { segment_bytes: 1 }).unwrap();
        append(&inbox, "a");
        append(&inbox, "b");
    }
    // Cut both segments to their data, as the log was written before preallocation, and leave a
    // torn line at the end of the last one.
    let files = segments(dir.path());
    assert_eq!(files.len(), 2);
    for file in &files {
        let bytes = data(file);
        std::fs::write(file, &bytes).unwrap();
    }
    let last_len = std::fs::metadata(&files[1]).unwrap().len();
    std::fs::OpenOptions::new().append(true).open(&files[1]).unwrap().write_all(b"{\"seq\":3,\"sou").unwrap();

    let (inbox, pending) = open_with(dir.path(), &[], 0, small).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b"]);
    assert_eq!(data(&files[1]).len() as u64, last_len, "the torn line is gone");
    assert_eq!(std::fs::metadata(&files[1]).unwrap().len(), 4096, "the active segment is padded on open");
    assert_eq!(append(&inbox, "c"), Appended::Accepted(3));
    drop(inbox);
    let (_inbox, pending) = open_with(dir.path(), &[], 0, small).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b", "c"]);
}

#[test]
fn data_after_the_zero_padding_of_an_older_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let small = InboxOptions { segment_bytes: 4096 };
    {
        let (inbox, _) = open_with(dir.path(), &[], 0, small).unwrap();
        append(&inbox, "a");
    }
    let files = segments(dir.path());
    let end = data(&files[0]).len() as u64;
    write_at(&files[0], 3000, b"garbage");
    // A second segment makes the first an older one.
    std::fs::write(dir.path().join("inbox").join("00000000000000000009.log"), b"").unwrap();
    match open_with(dir.path(), &[], 0, small) {
        Err(InboxError::Corrupt { file, offset, .. }) => {
            assert!(file.ends_with("00000000000000000001.log"), "{file}");
            assert_eq!(offset, 3000);
            assert!(end < 3000);
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, p)| p)),
    }
}

#[test]
fn an_unparsable_last_line_with_its_newline_is_also_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (inbox, _) = open(dir.path(), &[], 0).unwrap();
        append(&inbox, "a");
    }
    let file = segments(dir.path())[0].clone();
    let good = data(&file);
    write_at(&file, good.len() as u64, b"\0\0\0\0\n");
    // And as a log from before preallocation would have it, at the end of the file.
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"\0\0\0\0\n").unwrap();
    let (inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a"]);
    assert_eq!(data(&file), good, "zeroed");
    assert_eq!(append(&inbox, "b"), Appended::Accepted(2));
    drop(inbox);
    let (_inbox, pending) = open(dir.path(), &[], 0).unwrap();
    assert_eq!(ids(&pending), vec!["a", "b"]);
}

#[test]
fn damage_in_the_middle_is_an_error_naming_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (inbox, _) = open(dir.path(), &[], 0).unwrap();
        for id in ["a", "b", "c"] {
            append(&inbox, id);
        }
    }
    let file = segments(dir.path())[0].clone();
    let text = text(&file);
    let second = text.find('\n').unwrap() + 1;
    let mut damaged = std::fs::read(&file).unwrap();
    damaged[second + 2] = b'#';
    std::fs::write(&file, &damaged).unwrap();

    match open(dir.path(), &[], 0) {
        Err(InboxError::Corrupt { file: name, offset, .. }) => {
            assert!(name.ends_with("00000000000000000001.log"), "{name}");
            assert_eq!(offset, second as u64);
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, p)| p)),
    }
    assert_eq!(std::fs::read(&file).unwrap(), damaged, "a damaged log is left as it was");
}

#[test]
fn a_torn_line_in_an_older_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = InboxOptions { segment_bytes: 1 };
    {
        let (inbox, _) = open_with(dir.path(), &[], 0, tiny).unwrap();
        append(&inbox, "a");
        append(&inbox, "b");
    }
    let files = segments(dir.path());
    assert_eq!(files.len(), 2);
    let end = data(&files[0]).len() as u64;
    std::fs::OpenOptions::new().append(true).open(&files[0]).unwrap().write_all(b"{\"seq\":").unwrap();
    let err = open_with(dir.path(), &[], 0, tiny).unwrap_err();
    assert!(err.to_string().contains("00000000000000000001.log"), "{err}");
    match err {
        InboxError::Corrupt { offset, .. } => assert_eq!(offset, end),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn rotation_and_processed_up_to_delete_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = InboxOptions { segment_bytes: 1 };
    let (inbox, _) = open_with(dir.path(), &[], 0, tiny).unwrap();
    for id in ["a", "b", "c", "d", "e"] {
        append(&inbox, id);
    }
    assert_eq!(segments(dir.path()).len(), 5, "one segment per write once each is full");
    inbox.processed_up_to(3);
    inbox.close();
    assert_eq!(
        all_files(dir.path()),
        vec!["00000000000000000004.log", "00000000000000000005.log"],
        "and no spare segment left behind"
    );

    let (inbox, pending) = open_with(dir.path(), &["a", "b", "c"], 3, tiny).unwrap();
    assert_eq!(ids(&pending), vec!["d", "e"]);
    inbox.processed_up_to(5);
    inbox.close();
    assert_eq!(
        names(&segments(dir.path())),
        vec!["00000000000000000006.log"],
        "a full active segment that is wholly processed goes too"
    );
    let (inbox, pending) = open_with(dir.path(), &["a", "b", "c", "d", "e"], 5, tiny).unwrap();
    assert!(pending.is_empty());
    assert_eq!(append(&inbox, "f"), Appended::Accepted(6));
}

#[test]
fn appends_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, _) = open(dir.path(), &[], 0).unwrap();
    inbox.close();
    let answer = inbox.append(SignalSource::Cli, at(0), signal("late")).blocking_recv().unwrap();
    assert!(matches!(answer, Err(InboxError::Closed)));
}

#[test]
fn concurrent_appends_get_unique_increasing_seqs_in_file_order() {
    const THREADS: usize = 8;
    const EACH: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let (sink, batches) = channel_sink();
    let (inbox, _) = LogInbox::open(dir.path(), &HashSet::new(), 0, sink).unwrap();
    let inbox = Arc::new(inbox);
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (inbox, start) = (Arc::clone(&inbox), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let mut got = Vec::new();
                // Half are awaited one by one (like an HTTP handler), half fired in a burst.
                let mut burst = Vec::new();
                for i in 0..EACH {
                    let id = format!("t{t}-{i}");
                    let reply = inbox.append(SignalSource::Webhook, at(0), signal(&id));
                    if i % 2 == 0 {
                        got.push((id, reply.blocking_recv().unwrap().unwrap()));
                    } else {
                        burst.push((id, reply));
                    }
                }
                for (id, reply) in burst {
                    got.push((id, reply.blocking_recv().unwrap().unwrap()));
                }
                // A repeat from another thread's point of view is still a duplicate.
                let again = inbox.append(SignalSource::Webhook, at(0), signal(&format!("t{t}-0")));
                assert_eq!(again.blocking_recv().unwrap().unwrap(), Appended::Duplicate);
                got
            })
        })
        .collect();
    let mut by_seq = std::collections::BTreeMap::new();
    for worker in workers {
        let got = worker.join().unwrap();
        let mut last_awaited = 0;
        for (i, (id, answer)) in got.into_iter().enumerate() {
            let Appended::Accepted(seq) = answer else { panic!("{id} was not accepted: {answer:?}") };
            if i < EACH / 2 {
                assert!(seq > last_awaited, "one thread's sequential appends get increasing seqs");
                last_awaited = seq;
            }
            assert!(by_seq.insert(seq, id).is_none(), "seq {seq} given twice");
        }
    }
    let total = THREADS * EACH;
    assert_eq!(by_seq.keys().copied().collect::<Vec<u64>>(), (1..=total as u64).collect::<Vec<_>>());

    let mut from_sink = Vec::new();
    while from_sink.len() < total {
        from_sink.extend(batches.recv().unwrap().into_iter().map(|r| (r.seq, r.signal.id.to_string())));
    }
    let expected: Vec<(u64, String)> = by_seq.clone().into_iter().collect();
    assert_eq!(from_sink, expected, "the sink sees every record once, in seq order");

    let text = text(&segments(dir.path())[0]);
    let in_file: Vec<(u64, String)> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (v["seq"].as_u64().unwrap(), v["signal"]["id"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(in_file, expected, "file order is seq order");
}

#[test]
fn many_rotations_through_prepared_segments_keep_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let small = InboxOptions { segment_bytes: 2048 };
    let all: Vec<String> = (0..60).map(|i| format!("s{i}")).collect();
    {
        let (inbox, _) = open_with(dir.path(), &[], 0, small).unwrap();
        for (i, id) in all.iter().enumerate() {
            assert_eq!(append(&inbox, id), Appended::Accepted(i as u64 + 1));
        }
    }
    let files = segments(dir.path());
    assert!(files.len() > 5, "{} segments", files.len());
    assert_eq!(all_files(dir.path()).len(), files.len(), "no spare left after close");
    for file in &files[..files.len() - 1] {
        assert!(std::fs::metadata(file).unwrap().len() >= 2048);
    }
    // A spare left by a crash is not a segment and is removed on open.
    std::fs::write(dir.path().join("inbox").join("next-segment.tmp"), b"junk").unwrap();
    let (inbox, pending) = open_with(dir.path(), &[], 0, small).unwrap();
    assert_eq!(ids(&pending), all);
    assert_eq!(append(&inbox, "last"), Appended::Accepted(61));
    inbox.processed_up_to(61);
    inbox.close();
    assert_eq!(segments(dir.path()).len(), 1, "every closed segment processed and deleted");
}

#[test]
fn issue_2_a_repeat_in_flight_is_answered_only_after_the_first_copy_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, _) = open(dir.path(), &[], 0).unwrap();
    for round in 0..50 {
        let id = format!("twin-{round}");
        let mut first = inbox.append(SignalSource::Webhook, at(1), signal(&id));
        let second = inbox.append(SignalSource::Webhook, at(1), signal(&id));
        assert_eq!(second.blocking_recv().unwrap().unwrap(), Appended::Duplicate);
        // When the repeat hears "duplicate", the first copy is already on disk and acknowledged.
        assert!(matches!(first.try_recv(), Ok(Ok(Appended::Accepted(_)))), "round {round}");
    }
}
