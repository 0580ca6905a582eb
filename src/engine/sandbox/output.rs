//! Output streaming: two reader tasks split the init's stdout and stderr pipes into lines,
//! apply the output caps under one lock (never held across an await) and send batches through
//! a bounded channel, so memory stays bounded whatever the program writes.
//!
//! A line of up to [`MAX_LINE`] bytes comes whole; longer or newline-free output comes in
//! pieces of [`MAX_LINE`] bytes (`newline` false), byte-exact (`raw` keeps invalid UTF-8).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{Notify, mpsc};

use super::outcome::{OutputLine, Stream};

/// Longest line delivered as one; longer lines and newline-free output come in pieces of this
/// size. With the channel's 16 batches per stream this bounds the bytes in flight to 4 MiB.
const MAX_LINE: usize = 256 << 10;
/// A piece at least this long is probably newline-free output: its buffer is sized for a
/// whole [`MAX_LINE`] piece at once instead of growing by doubling.
const BIG_PIECE: usize = 16 << 10;

/// Output accounting shared by the two readers.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) stdout_bytes: u64,
    pub(super) stderr_bytes: u64,
    pub(super) delivered_bytes: u64,
    pub(super) lines: u64,
    pub(super) dropped: u64,
    /// An output cap was reached: the run is being stopped.
    pub(super) capped: bool,
}

/// State shared by the readers and the supervisor.
pub(super) struct Shared {
    counters: Mutex<Counters>,
    max_bytes: u64,
    max_lines: u64,
    /// Notified once when a cap is reached.
    pub(super) capped: Notify,
}

impl Shared {
    pub(super) fn new(max_bytes: u64, max_lines: u64) -> Self {
        Self {
            counters: Mutex::new(Counters::default()),
            max_bytes,
            max_lines,
            capped: Notify::new(),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn now_us() -> i64 {
    crate::engine::store::now_micros()
}

pub(super) async fn read_stream(
    mut pipe: impl AsyncRead + Unpin,
    stream: Stream,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Vec<OutputLine>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    let mut pending: Vec<u8> = Vec::new();
    let mut batch: Vec<OutputLine> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        ingest(&shared, stream, &buf[..n], &mut pending, &mut batch);
        if !batch.is_empty() {
            // A gone receiver only means nobody reads lines; keep draining the pipe.
            let _ = tx.send(std::mem::take(&mut batch)).await;
        }
    }
    if let Some(line) = last_line(&shared, stream, &pending) {
        let _ = tx.send(vec![line]).await;
    }
}

/// The unterminated last line, if the caps still allow it.
fn last_line(shared: &Shared, stream: Stream, pending: &[u8]) -> Option<OutputLine> {
    if pending.is_empty() {
        return None;
    }
    let mut c = shared.lock();
    let len = pending.len() as u64;
    if c.capped || c.delivered_bytes + len > shared.max_bytes || c.lines + 1 > shared.max_lines {
        c.dropped += len;
        return None;
    }
    c.delivered_bytes += len;
    c.lines += 1;
    Some(OutputLine::from_bytes(
        stream,
        now_us(),
        pending.to_vec(),
        false,
    ))
}

/// Splits freshly read bytes into lines, applying the output caps. Runs under the counters'
/// lock, never across an await.
fn ingest(
    shared: &Shared,
    stream: Stream,
    data: &[u8],
    pending: &mut Vec<u8>,
    batch: &mut Vec<OutputLine>,
) {
    let ts_us = now_us();
    let n = data.len();
    let mut c = shared.lock();
    match stream {
        Stream::Stdout => c.stdout_bytes += n as u64,
        Stream::Stderr => c.stderr_bytes += n as u64,
    }
    if c.capped {
        c.dropped += n as u64;
        return;
    }
    let mut rest = data;
    while !rest.is_empty() {
        let window = &rest[..rest.len().min(MAX_LINE - pending.len())];
        let (piece, newline) = match memchr::memchr(b'\n', window) {
            Some(i) => (&rest[..=i], true),
            None => (window, false),
        };
        let len = pending.len() + piece.len();
        if newline || len >= MAX_LINE {
            if c.delivered_bytes + len as u64 > shared.max_bytes || c.lines + 1 > shared.max_lines {
                c.capped = true;
                c.dropped += (pending.len() + rest.len()) as u64;
                pending.clear();
                shared.capped.notify_one();
                return;
            }
            c.delivered_bytes += len as u64;
            c.lines += 1;
            let bytes = if pending.is_empty() {
                piece.to_vec()
            } else {
                pending.extend_from_slice(piece);
                std::mem::take(pending)
            };
            batch.push(OutputLine::from_bytes(stream, ts_us, bytes, newline));
        } else {
            if pending.is_empty() && piece.len() >= BIG_PIECE {
                pending.reserve_exact(MAX_LINE);
            }
            pending.extend_from_slice(piece);
        }
        rest = &rest[piece.len()..];
    }
}
