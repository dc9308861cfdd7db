//! One plugin process: spawned through the sandbox launcher, with its stdin written directly by
//! the caller (a backlog drained by a task when the pipe is full),
//! a reader task parsing its stdout into protocol messages, and a task logging its stderr.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use zepix_model::PluginId;
use zepix_plugin::remote::MAX_LINE_BYTES;
use zepix_plugin::{Message, RpcError};

/// How to start a process: the program and its arguments (the launcher and everything after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

/// Handles a message on the reader's task; gives it back when the supervisor must see it.
pub type Router = std::sync::Arc<dyn Fn(u64, Message) -> Option<Message> + Send + Sync>;

/// What a process's reader saw.
#[derive(Debug)]
pub enum Output {
    /// A well-formed message.
    Message(Message),
    /// A line that is not a protocol message: what to answer, and with which id.
    Invalid(Option<serde_json::Value>, RpcError),
    /// The process broke the protocol in a way that ends it (a line over the limit).
    Fatal(String),
    /// Its stdout closed: it exited or is exiting.
    Closed,
}

/// A running process and the ends of its pipes the supervisor uses.
#[derive(Debug)]
pub struct Process {
    child: Child,
    stdin: Arc<Stdin>,
    /// When it was started.
    pub started: Instant,
}

/// Longest stderr line logged; the rest is cut.
const MAX_LOG_LINE: usize = 4_096;
/// stderr lines logged per second per plugin; more are counted and reported.
const LOG_LINES_PER_SECOND: u32 = 50;

impl Process {
    /// Starts `launch` with piped stdio. Each message it writes goes to `router` first; what the
    /// router gives back, and every other output, goes to `events`, tagged with `generation`.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(
        launch: &Launch,
        plugin: &PluginId,
        generation: u64,
        events: mpsc::UnboundedSender<(u64, Output)>,
        router: Router,
    ) -> std::io::Result<Self> {
        let mut child = Command::new(&launch.program)
            .args(&launch.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the child's pipes were not set up"));
        };
        let wake = Arc::new(tokio::sync::Notify::new());
        // Writes must never block the sender (the kernel's thread): a full pipe goes to the backlog.
        // The fd comes back from the runtime in blocking mode, so non-blocking is set here.
        let fd = stdin.into_owned_fd()?;
        rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK)?;
        let stdin = Arc::new(Stdin { fd, backlog: Mutex::new(Vec::new()), wake: wake.clone() });
        tokio::spawn(drain(Arc::downgrade(&stdin), wake));
        // The reader is a thread of its own blocking on the pipe: an answer wakes it directly,
        // not through the async runtime's I/O driver and then a worker (a hop that costs tens of
        // microseconds on a small machine).
        let stdout = std::fs::File::from(stdout.into_owned_fd()?);
        rustix::fs::fcntl_setfl(&stdout, rustix::fs::OFlags::empty())?;
        std::thread::Builder::new().name(format!("plugin-{plugin}")).spawn(move || {
            read_messages(std::io::BufReader::with_capacity(1 << 16, stdout), generation, &events, &router)
        })?;
        tokio::spawn(log_stderr(BufReader::new(stderr), plugin.clone(), generation));
        Ok(Self { child, stdin, started: Instant::now() })
    }

    /// The process's stdin: lines written to it arrive in order.
    #[must_use]
    pub fn writer(&self) -> Arc<Stdin> {
        self.stdin.clone()
    }

    /// Queues one message; the writer sends everything queued in one write.
    pub fn send(&self, message: &Message) {
        let mut line = message.to_line().into_bytes();
        line.push(b'\n');
        self.stdin.send(&line);
    }

    /// Kills the process now.
    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// Its pid, for logs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits up to `grace` for the process to exit after `shutdown`, then kills it.
    pub async fn finish(mut self, grace: Duration) {
        if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// A plugin's stdin, written by whoever sends (the kernel's thread, a reader): a write that fits
/// in the pipe goes at once with no hand-off; the rest waits in a backlog that a task drains as
/// the plugin reads, so a plugin that stops reading never blocks the sender.
#[derive(Debug)]
pub struct Stdin {
    fd: std::os::fd::OwnedFd,
    backlog: Mutex<Vec<u8>>,
    wake: Arc<tokio::sync::Notify>,
}

impl Drop for Stdin {
    fn drop(&mut self) {
        // Lets the drain task see that nobody writes any more, and end.
        self.wake.notify_one();
    }
}

/// How long the drain task waits before retrying a full pipe.
const FULL_PIPE_RETRY: Duration = Duration::from_millis(1);

impl Stdin {
    fn backlog(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes one line (with its newline), or queues it behind lines not yet written. A closed
    /// pipe means the process is gone: its reader reports that.
    pub fn send(&self, line: &[u8]) {
        let mut backlog = self.backlog();
        if !backlog.is_empty() {
            backlog.extend_from_slice(line);
            return;
        }
        match rustix::io::write(&self.fd, line) {
            Ok(n) if n == line.len() => {}
            Ok(n) => {
                backlog.extend_from_slice(&line[n..]);
                self.wake.notify_one();
            }
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {
                backlog.extend_from_slice(line);
                self.wake.notify_one();
            }
            Err(_) => {}
        }
    }
}

/// Writes a stdin's backlog as the plugin reads; ends when the stdin is dropped.
async fn drain(stdin: std::sync::Weak<Stdin>, wake: Arc<tokio::sync::Notify>) {
    loop {
        wake.notified().await;
        loop {
            let Some(stdin) = stdin.upgrade() else { return };
            let full = {
                let mut backlog = stdin.backlog();
                if backlog.is_empty() {
                    break;
                }
                match rustix::io::write(&stdin.fd, &backlog) {
                    Ok(n) => {
                        backlog.drain(..n);
                        false
                    }
                    Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => true,
                    Err(_) => return,
                }
            };
            drop(stdin);
            if full {
                tokio::time::sleep(FULL_PIPE_RETRY).await;
            }
        }
    }
}

/// Reads one line of at most `limit` bytes into `buf` (without the newline). `Ok(false)` at the
/// end of the stream; an error when the line is longer than the limit.
fn read_line_limited<R: std::io::BufRead>(reader: &mut R, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<bool> {
    buf.clear();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i, true),
            None => (available.len(), false),
        };
        if buf.len() + take > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&available[..take]);
        reader.consume(take + usize::from(done));
        if done {
            return Ok(true);
        }
    }
}

fn read_messages<R: std::io::BufRead>(
    mut reader: R,
    generation: u64,
    events: &mpsc::UnboundedSender<(u64, Output)>,
    router: &Router,
) {
    let mut buf = Vec::with_capacity(4_096);
    loop {
        let output = match read_line_limited(&mut reader, &mut buf, MAX_LINE_BYTES) {
            Ok(false) => Output::Closed,
            Ok(true) if buf.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(true) => match Message::parse(&buf) {
                Ok(message) => match router(generation, message) {
                    Some(message) => Output::Message(message),
                    None => continue,
                },
                Err((id, error)) => Output::Invalid(id, error),
            },
            Err(e) => Output::Fatal(format!("protocol error: {e}")),
        };
        let last = matches!(output, Output::Closed | Output::Fatal(_));
        if events.send((generation, output)).is_err() || last {
            return;
        }
    }
}

async fn log_stderr<R: AsyncBufRead + Unpin>(mut reader: R, plugin: PluginId, generation: u64) {
    let mut buf = Vec::new();
    let mut window = Instant::now();
    let mut logged = 0u32;
    let mut dropped = 0u64;
    loop {
        buf.clear();
        match (&mut reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if window.elapsed() >= Duration::from_secs(1) {
            if dropped > 0 {
                tracing::warn!(plugin = %plugin, generation, "{dropped} stderr lines dropped (over {LOG_LINES_PER_SECOND}/s)");
            }
            window = Instant::now();
            logged = 0;
            dropped = 0;
        }
        if logged >= LOG_LINES_PER_SECOND {
            dropped += 1;
            continue;
        }
        logged += 1;
        let text = String::from_utf8_lossy(&buf[..buf.len().min(MAX_LOG_LINE)]);
        tracing::info!(plugin = %plugin, generation, "{}", text.trim_end());
    }
    if dropped > 0 {
        tracing::warn!(plugin = %plugin, generation, "{dropped} stderr lines dropped (over {LOG_LINES_PER_SECOND}/s)");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_over_the_limit_are_refused_and_short_ones_read() {
        let data = b"short\n0123456789abcdef\nend".to_vec();
        let mut reader = std::io::BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        assert!(read_line_limited(&mut reader, &mut buf, 10).unwrap());
        assert_eq!(buf, b"short");
        assert!(read_line_limited(&mut reader, &mut buf, 10).is_err());
    }

    #[test]
    fn the_last_line_needs_no_newline() {
        let data = b"a\nlast".to_vec();
        let mut reader = std::io::BufReader::new(&data[..]);
        let mut buf = Vec::new();
        assert!(read_line_limited(&mut reader, &mut buf, 10).unwrap());
        assert!(read_line_limited(&mut reader, &mut buf, 10).unwrap());
        assert_eq!(buf, b"last");
        assert!(!read_line_limited(&mut reader, &mut buf, 10).unwrap());
    }
}
