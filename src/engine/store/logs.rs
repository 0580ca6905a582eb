//! Log lines of runs, ingested in batches and stored in chunks (see `log_chunks` in schema.sql).
//!
//! One transaction per batch and one row per chunk of up to [`CHUNK_LINES`] lines of the same
//! stage keep ingest near the speed of appending to a file; a crash loses at most the batch in
//! flight. Each run keeps at most `store.max_log_lines_per_run` lines: later ones are counted in
//! `runs.log_lines_dropped` instead of stored.
//!
//! Output that is not a newline-terminated UTF-8 line of at most [`PRESENT_BYTES`] (newline-free
//! or binary output) is a [`LogBytes`] entry, stored byte-exact as one blob row of up to
//! [`BLOB_BYTES`] (migrate_v3.sql). Readers present a blob as lines split after each newline and
//! every [`PRESENT_BYTES`] (so line reads and pages work unchanged); [`Store::log_range_exact`]
//! gives the exact bytes back.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::runs::text_enum;
use super::{Result, Store, now_micros};

/// Lines per stored chunk.
pub(super) const CHUNK_LINES: usize = 512;
/// Bytes of text per stored chunk, whichever comes first.
const CHUNK_BYTES: usize = 64 * 1024;
/// Longest line a byte chunk is presented as (and longest text line stored as text).
pub const PRESENT_BYTES: usize = 64 * 1024;
/// Consecutive byte entries of one stream are merged into blobs of up to this size.
const BLOB_BYTES: usize = 1 << 20;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// kiln's own messages about the run.
    Kiln,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

text_enum!(LogStream { Stdout => "stdout", Stderr => "stderr", Kiln => "kiln" });
text_enum!(LogLevel { Error => "error", Warn => "warn", Info => "info", Debug => "debug", Trace => "trace" });

/// A line to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stage_id: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub ts: i64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: String,
}

impl LogLine {
    /// A line stamped now.
    pub fn now(
        stage_id: Option<i64>,
        stream: LogStream,
        level: LogLevel,
        text: impl Into<String>,
    ) -> Self {
        Self {
            stage_id,
            ts: now_micros(),
            stream,
            level,
            text: text.into(),
        }
    }
}

/// Output kept byte-exact: anything but one newline-terminated UTF-8 line (newline-free output,
/// binary data, a line over [`PRESENT_BYTES`]). `bytes` includes the newline, if one ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBytes {
    pub stage_id: Option<i64>,
    /// Microseconds since the Unix epoch.
    pub ts: i64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub bytes: Vec<u8>,
}

/// One entry to append: a text line or exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Line(LogLine),
    Bytes(LogBytes),
}

impl LogEntry {
    /// Bytes of text or data it holds.
    pub fn len(&self) -> usize {
        match self {
            LogEntry::Line(l) => l.text.len(),
            LogEntry::Bytes(b) => b.bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A presented line with the exact bytes it stands for (a text line's text and its newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactLogLine {
    pub line: StoredLogLine,
    pub bytes: Vec<u8>,
}

/// A line read back, with its position in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredLogLine {
    pub seq: i64,
    pub stage_id: Option<i64>,
    pub ts: i64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: String,
}

/// What one append kept and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Appended {
    pub written: u64,
    pub dropped: u64,
}

#[derive(Deserialize)]
struct RawLine(i64, LogStream, LogLevel, String);

/// A byte chunk's metadata (its `lines` column).
#[derive(Deserialize)]
struct RawMeta(i64, LogStream, LogLevel);

/// What one stored row is made of: a chunk of text lines or consecutive byte entries.
enum Group<'a> {
    Lines(Vec<&'a LogLine>),
    Bytes(Vec<&'a LogBytes>),
}

/// The pieces a byte chunk is presented as: split after each newline and every
/// [`PRESENT_BYTES`].
pub(super) fn present(mut rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest[..rest.len().min(PRESENT_BYTES)];
        let end = memchr::memchr(b'\n', window).map_or(window.len(), |i| i + 1);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// Groups entries into rows: runs of lines (split by [`chunks`]) and runs of byte entries of the
/// same stage, stream and level up to [`BLOB_BYTES`].
fn groups(entries: &[LogEntry]) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for e in entries {
        match (e, out.last_mut()) {
            (LogEntry::Line(l), Some(Group::Lines(v))) => v.push(l),
            (LogEntry::Line(l), _) => out.push(Group::Lines(vec![l])),
            (LogEntry::Bytes(b), Some(Group::Bytes(v)))
                if v[0].stage_id == b.stage_id
                    && v[0].stream == b.stream
                    && v[0].level == b.level
                    && v.iter().map(|x| x.bytes.len()).sum::<usize>() + b.bytes.len()
                        <= BLOB_BYTES =>
            {
                v.push(b);
            }
            (LogEntry::Bytes(b), _) => out.push(Group::Bytes(vec![b])),
        }
    }
    out
}

impl Store {
    /// Appends `lines` to run `run_id` in one transaction.
    pub fn append_logs(&self, run_id: i64, lines: &[LogLine]) -> Result<Appended> {
        if lines.is_empty() {
            return Ok(Appended::default());
        }
        let refs: Vec<&LogLine> = lines.iter().collect();
        self.append_groups(run_id, &[Group::Lines(refs)])
    }

    /// Appends text lines and byte entries to run `run_id` in one transaction, in order. A byte
    /// chunk counts as the lines it is presented as.
    pub fn append_log_entries(&self, run_id: i64, entries: &[LogEntry]) -> Result<Appended> {
        if entries.is_empty() {
            return Ok(Appended::default());
        }
        self.append_groups(run_id, &groups(entries))
    }

    fn append_groups(&self, run_id: i64, groups: &[Group<'_>]) -> Result<Appended> {
        // IMMEDIATE: take the write lock up front, so a concurrent writer makes us wait (up to
        // `busy_timeout_ms`) instead of failing at once when a read upgrades to a write.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(|e| self.err(e))?;
        let stored: i64 = tx
            .query_row("SELECT log_lines FROM runs WHERE id = ?1", [run_id], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        let mut room = (self.config.max_log_lines_per_run as i64 - stored).max(0) as usize;
        let mut seq = stored;
        let mut appended = Appended::default();
        let mut json = String::with_capacity(CHUNK_BYTES + 1024);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO log_chunks (run_id, stage_id, first_seq, line_count, first_ts, last_ts, lines, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(|e| self.err(e))?;
            for group in groups {
                match group {
                    Group::Lines(lines) => {
                        let kept = &lines[..lines.len().min(room)];
                        appended.dropped += (lines.len() - kept.len()) as u64;
                        for chunk in chunks(kept) {
                            json.clear();
                            encode_chunk(chunk, &mut json);
                            let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
                            insert
                                .execute(params![
                                    run_id,
                                    first.stage_id,
                                    seq,
                                    chunk.len() as i64,
                                    first.ts,
                                    last.ts,
                                    json,
                                    None::<Vec<u8>>
                                ])
                                .map_err(|e| self.err(e))?;
                            seq += chunk.len() as i64;
                            room -= chunk.len();
                            appended.written += chunk.len() as u64;
                        }
                    }
                    Group::Bytes(parts) => {
                        let joined;
                        let bytes: &[u8] = if let [one] = parts.as_slice() {
                            &one.bytes
                        } else {
                            joined = parts.iter().fold(
                                Vec::with_capacity(parts.iter().map(|p| p.bytes.len()).sum()),
                                |mut all, p| {
                                    all.extend_from_slice(&p.bytes);
                                    all
                                },
                            );
                            &joined
                        };
                        let count = present(bytes).count();
                        if count > room {
                            appended.dropped += count as u64;
                            room = 0;
                            continue;
                        }
                        let (first, last) = (parts[0], parts[parts.len() - 1]);
                        json.clear();
                        let _ = write!(
                            json,
                            "[{},\"{}\",\"{}\"]",
                            first.ts,
                            first.stream.as_str(),
                            first.level.as_str()
                        );
                        insert
                            .execute(params![
                                run_id,
                                first.stage_id,
                                seq,
                                count as i64,
                                first.ts,
                                last.ts,
                                json,
                                bytes
                            ])
                            .map_err(|e| self.err(e))?;
                        seq += count as i64;
                        room -= count;
                        appended.written += count as u64;
                    }
                }
            }
        }
        tx.execute(
            "UPDATE runs SET log_lines = log_lines + ?2, log_lines_dropped = log_lines_dropped + ?3 WHERE id = ?1",
            params![run_id, appended.written as i64, appended.dropped as i64],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(appended)
    }

    /// Counts `n` more lines of run `run_id` as dropped (lines that could not be stored).
    pub fn add_dropped_log_lines(&self, run_id: i64, n: u64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET log_lines_dropped = log_lines_dropped + ?2 WHERE id = ?1",
                params![run_id, n as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest `limit` lines of a run, oldest first.
    pub fn log_tail(&self, run_id: i64, limit: usize) -> Result<Vec<StoredLogLine>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT stage_id, first_seq, line_count, lines, bytes FROM log_chunks WHERE run_id = ?1 ORDER BY first_seq DESC",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([run_id]).map_err(|e| self.err(e))?;
        let mut chunks = Vec::new();
        let mut have = 0usize;
        while have < limit {
            let Some(row) = rows.next().map_err(|e| self.err(e))? else {
                break;
            };
            have += row.get::<_, i64>(2).map_err(|e| self.err(e))? as usize;
            let chunk: (Option<i64>, i64, String, Option<Vec<u8>>) =
                (|| Ok((row.get(0)?, row.get(1)?, row.get(3)?, row.get(4)?)))()
                    .map_err(|e| self.err(e))?;
            chunks.push(chunk);
        }
        let mut lines = Vec::with_capacity(have);
        for (stage_id, first_seq, json, bytes) in chunks.into_iter().rev() {
            self.decode_row(
                stage_id,
                first_seq,
                &json,
                bytes.as_deref(),
                &mut lines,
                None,
            )?;
        }
        let skip = lines.len().saturating_sub(limit);
        lines.drain(..skip);
        Ok(lines)
    }

    /// Up to `limit` lines of a run starting at position `from_seq`.
    pub fn log_range(
        &self,
        run_id: i64,
        from_seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredLogLine>> {
        self.range(run_id, from_seq, limit, None)
    }

    /// Like [`Store::log_range`], with the exact bytes of each line: a text line's text and its
    /// newline, a byte chunk's piece as it was written (so concatenating them gives back the
    /// output byte for byte).
    pub fn log_range_exact(
        &self,
        run_id: i64,
        from_seq: i64,
        limit: usize,
    ) -> Result<Vec<ExactLogLine>> {
        let mut exact = Vec::new();
        let lines = self.range(run_id, from_seq, limit, Some(&mut exact))?;
        Ok(lines
            .into_iter()
            .zip(exact)
            .map(|(line, bytes)| ExactLogLine { line, bytes })
            .collect())
    }

    fn range(
        &self,
        run_id: i64,
        from_seq: i64,
        limit: usize,
        mut exact: Option<&mut Vec<Vec<u8>>>,
    ) -> Result<Vec<StoredLogLine>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT stage_id, first_seq, lines, bytes FROM log_chunks WHERE run_id = ?1 AND first_seq >=
                   coalesce((SELECT max(first_seq) FROM log_chunks WHERE run_id = ?1 AND first_seq <= ?2), 0)
                 ORDER BY first_seq",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![run_id, from_seq])
            .map_err(|e| self.err(e))?;
        let mut lines = Vec::new();
        while lines.len() < limit + CHUNK_LINES {
            let Some(row) = rows.next().map_err(|e| self.err(e))? else {
                break;
            };
            let (stage_id, first_seq, json, bytes): (Option<i64>, i64, String, Option<Vec<u8>>) =
                (|| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))()
                    .map_err(|e| self.err(e))?;
            self.decode_row(
                stage_id,
                first_seq,
                &json,
                bytes.as_deref(),
                &mut lines,
                exact.as_deref_mut(),
            )?;
            if lines
                .last()
                .is_some_and(|l| l.seq >= from_seq + limit as i64)
            {
                break;
            }
        }
        let skip = lines.iter().take_while(|l| l.seq < from_seq).count();
        lines.drain(..skip);
        lines.truncate(limit);
        if let Some(exact) = exact {
            exact.drain(..skip.min(exact.len()));
            exact.truncate(limit);
        }
        Ok(lines)
    }

    /// Decodes one stored row (text chunk or byte chunk) into `out`; with `exact`, also the
    /// exact bytes of each line, in step with `out`.
    pub(super) fn decode_row(
        &self,
        stage_id: Option<i64>,
        first_seq: i64,
        json: &str,
        bytes: Option<&[u8]>,
        out: &mut Vec<StoredLogLine>,
        exact: Option<&mut Vec<Vec<u8>>>,
    ) -> Result<()> {
        let Some(bytes) = bytes else {
            let before = out.len();
            self.decode_chunk(stage_id, first_seq, json, out)?;
            if let Some(exact) = exact {
                exact.extend(out[before..].iter().map(|l| {
                    let mut b = Vec::with_capacity(l.text.len() + 1);
                    b.extend_from_slice(l.text.as_bytes());
                    b.push(b'\n');
                    b
                }));
            }
            return Ok(());
        };
        let RawMeta(ts, stream, level) =
            serde_json::from_str(json).map_err(|e| super::Error::Corrupt {
                path: self.path.clone(),
                detail: format!("byte chunk at line {first_seq} has bad metadata: {e}"),
            })?;
        let mut exact = exact;
        for (i, piece) in present(bytes).enumerate() {
            let text = piece.strip_suffix(b"\n").unwrap_or(piece);
            out.push(StoredLogLine {
                seq: first_seq + i as i64,
                stage_id,
                ts,
                stream,
                level,
                text: String::from_utf8_lossy(text).into_owned(),
            });
            if let Some(exact) = exact.as_deref_mut() {
                exact.push(piece.to_vec());
            }
        }
        Ok(())
    }

    pub(super) fn decode_chunk(
        &self,
        stage_id: Option<i64>,
        first_seq: i64,
        json: &str,
        out: &mut Vec<StoredLogLine>,
    ) -> Result<()> {
        let raw: Vec<RawLine> = serde_json::from_str(json).map_err(|e| super::Error::Corrupt {
            path: self.path.clone(),
            detail: format!("log chunk at line {first_seq} is not valid: {e}"),
        })?;
        out.extend(
            raw.into_iter()
                .enumerate()
                .map(|(i, RawLine(ts, stream, level, text))| StoredLogLine {
                    seq: first_seq + i as i64,
                    stage_id,
                    ts,
                    stream,
                    level,
                    text,
                }),
        );
        Ok(())
    }
}

/// Splits lines into runs of the same stage, at most [`CHUNK_LINES`] lines / [`CHUNK_BYTES`].
fn chunks<'a, 'b>(lines: &'b [&'a LogLine]) -> impl Iterator<Item = &'b [&'a LogLine]> {
    let mut rest = lines;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let mut bytes = 0;
        let end = rest
            .iter()
            .take(CHUNK_LINES)
            .position(|l| {
                bytes += l.text.len();
                l.stage_id != first.stage_id || bytes > CHUNK_BYTES
            })
            .map_or(rest.len().min(CHUNK_LINES), |i| i.max(1));
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// `[[ts,"stream","level","text"],...]`, written by hand: this is the ingest hot path.
fn encode_chunk(lines: &[&LogLine], out: &mut String) {
    out.push('[');
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "[{},\"{}\",\"{}\",",
            l.ts,
            l.stream.as_str(),
            l.level.as_str()
        );
        push_json_string(out, &l.text);
        out.push(']');
    }
    out.push(']');
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Buffers lines for one run and writes them in batches.
///
/// A batch is written when it holds `batch_lines` lines or its oldest line has waited
/// `max_delay`, on [`LogWriter::flush`], and on drop.
pub struct LogWriter<'a> {
    store: &'a Store,
    run_id: i64,
    buffer: Vec<LogLine>,
    oldest: Option<Instant>,
    batch_lines: usize,
    max_delay: Duration,
    totals: Appended,
}

impl<'a> LogWriter<'a> {
    pub fn new(store: &'a Store, run_id: i64) -> Self {
        Self {
            store,
            run_id,
            buffer: Vec::with_capacity(8 * CHUNK_LINES),
            oldest: None,
            batch_lines: 8 * CHUNK_LINES,
            max_delay: Duration::from_millis(100),
            totals: Appended::default(),
        }
    }

    /// Lines per transaction (default 4096).
    #[must_use]
    pub fn with_batch_lines(mut self, n: usize) -> Self {
        self.batch_lines = n.max(1);
        self
    }

    pub fn push(&mut self, line: LogLine) -> Result<()> {
        self.oldest.get_or_insert_with(Instant::now);
        self.buffer.push(line);
        if self.buffer.len() >= self.batch_lines
            || self.oldest.is_some_and(|t| t.elapsed() >= self.max_delay)
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything buffered as one batch.
    pub fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let appended = self.store.append_logs(self.run_id, &self.buffer)?;
        self.totals.written += appended.written;
        self.totals.dropped += appended.dropped;
        self.buffer.clear();
        self.oldest = None;
        Ok(())
    }

    /// Lines written and dropped so far (after the last flush).
    pub fn totals(&self) -> Appended {
        self.totals
    }
}

impl Drop for LogWriter<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(run = self.run_id, "losing buffered log lines: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stage: Option<i64>, text: &str) -> LogLine {
        LogLine {
            stage_id: stage,
            ts: 1,
            stream: LogStream::Stdout,
            level: LogLevel::Info,
            text: text.into(),
        }
    }

    #[test]
    fn chunks_split_on_stage_and_size() {
        let mut lines: Vec<LogLine> = (0..CHUNK_LINES + 3).map(|_| line(Some(1), "x")).collect();
        lines.push(line(Some(2), "y"));
        let refs: Vec<&LogLine> = lines.iter().collect();
        let sizes: Vec<usize> = chunks(&refs).map(<[&LogLine]>::len).collect();
        assert_eq!(sizes, vec![CHUNK_LINES, 3, 1]);
        let big = "z".repeat(CHUNK_BYTES);
        let lines = [line(None, &big), line(None, &big)];
        let refs: Vec<&LogLine> = lines.iter().collect();
        assert_eq!(chunks(&refs).count(), 2);
    }

    fn bytes(stream: LogStream, data: &[u8]) -> LogEntry {
        LogEntry::Bytes(LogBytes {
            stage_id: None,
            ts: 2,
            stream,
            level: LogLevel::Info,
            bytes: data.to_vec(),
        })
    }

    /// Pseudo-random bytes without a newline (xorshift: no extra crate).
    fn noise(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                match (seed >> 24) as u8 {
                    b'\n' => b'.',
                    b => b,
                }
            })
            .collect()
    }

    #[test]
    fn byte_chunks_round_trip_exactly_and_read_as_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("k.db"),
            &super::super::StoreConfig::default(),
        )
        .unwrap();
        let run = store
            .start_run(&super::super::NewRun {
                project_id: None,
                request_id: None,
                kind: super::super::RunKind::Sandbox,
            })
            .unwrap();
        // 10 MB of random bytes without a newline, in 256 KiB pieces, then mixed output:
        // text lines, a binary line with a newline, an unterminated tail.
        let data = noise(10_000_000, 0x9E37_79B9_7F4A_7C15);
        let mut entries: Vec<LogEntry> = data
            .chunks(256 << 10)
            .map(|c| bytes(LogStream::Stdout, c))
            .collect();
        entries.push(LogEntry::Line(line(None, "a text line")));
        entries.push(bytes(LogStream::Stdout, b"\xff\xfe binary\n"));
        entries.push(LogEntry::Line(line(None, "another")));
        entries.push(bytes(LogStream::Stderr, b"no newline at the end"));
        let appended = store.append_log_entries(run.id, &entries).unwrap();
        assert_eq!(appended.dropped, 0);
        let mut want = data.clone();
        want.extend_from_slice(b"a text line\n\xff\xfe binary\nanother\nno newline at the end");
        let mut got = Vec::new();
        let mut next = 0;
        loop {
            let page = store.log_range_exact(run.id, next, 100).unwrap();
            let Some(last) = page.last() else { break };
            next = last.line.seq + 1;
            for l in &page {
                assert!(l.bytes.len() <= PRESENT_BYTES, "a line is at most 64 KiB");
                got.extend_from_slice(&l.bytes);
            }
        }
        assert_eq!(got.len(), want.len());
        assert!(got == want, "byte-exact round trip");
        // 10 MB in 1 MiB blobs are presented as 64 KiB lines; the rest as written.
        let presented = data.len().div_ceil(PRESENT_BYTES) as u64;
        assert_eq!(appended.written, presented + 4);
        let tail = store.log_tail(run.id, 4).unwrap();
        let texts: Vec<&str> = tail.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "a text line",
                "\u{fffd}\u{fffd} binary",
                "another",
                "no newline at the end"
            ]
        );
        assert_eq!(tail[3].stream, LogStream::Stderr);
        assert_eq!(tail[3].seq, presented as i64 + 3);
        let page = store.log_range(run.id, 3, 2).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!((page[0].seq, page[1].seq), (3, 4));
        let rows: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM log_chunks WHERE run_id = ?1 AND bytes IS NOT NULL",
                [run.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 10 + 2, "256 KiB pieces merge into 1 MiB blobs");
    }

    #[test]
    fn presenting_splits_after_newlines_and_every_64_kib() {
        let mut data = vec![b'a'; PRESENT_BYTES + 10];
        data.extend_from_slice(b"x\ny");
        let pieces: Vec<usize> = present(&data).map(<[u8]>::len).collect();
        assert_eq!(pieces, [PRESENT_BYTES, 12, 1]);
    }

    #[test]
    fn encoding_round_trips_through_serde() {
        let text = "tab\t \"quote\" back\\slash \u{1} é 🦀\nnl";
        let mut out = String::new();
        encode_chunk(&[&line(None, text)], &mut out);
        let raw: Vec<RawLine> = serde_json::from_str(&out).unwrap();
        assert_eq!(raw[0].3, text);
    }
}
