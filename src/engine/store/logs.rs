//! Log lines of runs, ingested in batches and stored in chunks (see `log_chunks` in schema.sql).
//!
//! One transaction per batch and one row per chunk of up to [`CHUNK_LINES`] lines of the same
//! stage keep ingest near the speed of appending to a file; a crash loses at most the batch in
//! flight. Each run keeps at most `store.max_log_lines_per_run` lines: later ones are counted in
//! `runs.log_lines_dropped` instead of stored.

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

impl Store {
    /// Appends `lines` to run `run_id` in one transaction.
    pub fn append_logs(&self, run_id: i64, lines: &[LogLine]) -> Result<Appended> {
        if lines.is_empty() {
            return Ok(Appended::default());
        }
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
        let room = (self.config.max_log_lines_per_run as i64 - stored).max(0) as usize;
        let kept = &lines[..lines.len().min(room)];
        let mut seq = stored;
        let mut json = String::with_capacity(CHUNK_BYTES + 1024);
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO log_chunks (run_id, stage_id, first_seq, line_count, first_ts, last_ts, lines)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.err(e))?;
            for chunk in chunks(kept) {
                json.clear();
                encode_chunk(chunk, &mut json);
                let (first, last) = (&chunk[0], &chunk[chunk.len() - 1]);
                insert
                    .execute(params![
                        run_id,
                        first.stage_id,
                        seq,
                        chunk.len() as i64,
                        first.ts,
                        last.ts,
                        json
                    ])
                    .map_err(|e| self.err(e))?;
                seq += chunk.len() as i64;
            }
        }
        let appended = Appended {
            written: kept.len() as u64,
            dropped: (lines.len() - kept.len()) as u64,
        };
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
                "SELECT stage_id, first_seq, line_count, lines FROM log_chunks WHERE run_id = ?1 ORDER BY first_seq DESC",
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
            let chunk: (Option<i64>, i64, String) =
                (|| Ok((row.get(0)?, row.get(1)?, row.get(3)?)))().map_err(|e| self.err(e))?;
            chunks.push(chunk);
        }
        let mut lines = Vec::with_capacity(have);
        for (stage_id, first_seq, json) in chunks.into_iter().rev() {
            self.decode_chunk(stage_id, first_seq, &json, &mut lines)?;
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
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT stage_id, first_seq, lines FROM log_chunks WHERE run_id = ?1 AND first_seq >=
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
            let (stage_id, first_seq, json): (Option<i64>, i64, String) =
                (|| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))().map_err(|e| self.err(e))?;
            self.decode_chunk(stage_id, first_seq, &json, &mut lines)?;
            if lines
                .last()
                .is_some_and(|l| l.seq >= from_seq + limit as i64)
            {
                break;
            }
        }
        lines.retain(|l| l.seq >= from_seq);
        lines.truncate(limit);
        Ok(lines)
    }

    fn decode_chunk(
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
fn chunks(lines: &[LogLine]) -> impl Iterator<Item = &[LogLine]> {
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
fn encode_chunk(lines: &[LogLine], out: &mut String) {
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
        let sizes: Vec<usize> = chunks(&lines).map(<[LogLine]>::len).collect();
        assert_eq!(sizes, vec![CHUNK_LINES, 3, 1]);
        let big = "z".repeat(CHUNK_BYTES);
        let lines = vec![line(None, &big), line(None, &big)];
        assert_eq!(chunks(&lines).count(), 2);
    }

    #[test]
    fn encoding_round_trips_through_serde() {
        let text = "tab\t \"quote\" back\\slash \u{1} é 🦀\nnl";
        let mut out = String::new();
        encode_chunk(&[line(None, text)], &mut out);
        let raw: Vec<RawLine> = serde_json::from_str(&out).unwrap();
        assert_eq!(raw[0].3, text);
    }
}
