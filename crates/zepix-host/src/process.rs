//! One plugin process: spawned through the sandbox launcher, with a writer task feeding its stdin,
//! a reader task parsing its stdout into protocol messages, and a task logging its stderr.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
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
    lines: mpsc::UnboundedSender<Vec<u8>>,
    /// When it was started.
    pub started: Instant,
}

/// Longest stderr line logged; the rest is cut.
const MAX_LOG_LINE: usize = 4_096;
/// stderr lines logged per second per plugin; more are counted and reported.
const LOG_LINES_PER_SECOND: u32 = 50;

impl Process {
    /// Starts `launch` with piped stdio. Its output goes to `events`, tagged with `generation`.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(
        launch: &Launch,
        plugin: &PluginId,
        generation: u64,
        events: mpsc::UnboundedSender<(u64, Output)>,
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
        let (lines, to_write) = mpsc::unbounded_channel();
        tokio::spawn(write_lines(stdin, to_write));
        tokio::spawn(read_messages(BufReader::with_capacity(1 << 16, stdout), generation, events));
        tokio::spawn(log_stderr(BufReader::new(stderr), plugin.clone(), generation));
        Ok(Self { child, lines, started: Instant::now() })
    }

    /// Queues one message; the writer sends everything queued in one write.
    pub fn send(&self, message: &Message) {
        let mut line = message.to_line().into_bytes();
        line.push(b'\n');
        // A closed writer means the process is gone; its reader reports that.
        let _ = self.lines.send(line);
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

async fn write_lines(mut stdin: ChildStdin, mut lines: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(1 << 16);
    while let Some(first) = lines.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < (1 << 20) {
            match lines.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if stdin.write_all(&batch).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
}

/// Reads one line of at most `limit` bytes into `buf` (without the newline). `Ok(false)` at the
/// end of the stream; an error when the line is longer than the limit.
async fn read_line_limited<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<bool> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await?;
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

async fn read_messages<R: AsyncBufRead + Unpin>(
    mut reader: R,
    generation: u64,
    events: mpsc::UnboundedSender<(u64, Output)>,
) {
    let mut buf = Vec::with_capacity(4_096);
    loop {
        let output = match read_line_limited(&mut reader, &mut buf, MAX_LINE_BYTES).await {
            Ok(false) => Output::Closed,
            Ok(true) if buf.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(true) => match Message::parse(&buf) {
                Ok(message) => Output::Message(message),
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

    #[tokio::test]
    async fn lines_over_the_limit_are_refused_and_short_ones_read() {
        let data = b"short\n0123456789abcdef\nend".to_vec();
        let mut reader = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        assert!(read_line_limited(&mut reader, &mut buf, 10).await.unwrap());
        assert_eq!(buf, b"short");
        assert!(read_line_limited(&mut reader, &mut buf, 10).await.is_err());
    }

    #[tokio::test]
    async fn the_last_line_needs_no_newline() {
        let data = b"a\nlast".to_vec();
        let mut reader = BufReader::new(&data[..]);
        let mut buf = Vec::new();
        assert!(read_line_limited(&mut reader, &mut buf, 10).await.unwrap());
        assert!(read_line_limited(&mut reader, &mut buf, 10).await.unwrap());
        assert_eq!(buf, b"last");
        assert!(!read_line_limited(&mut reader, &mut buf, 10).await.unwrap());
    }
}
