//! Scanning a run's whole log chunk by chunk, for search and filter in the background: one
//! query streams the chunks in order, so memory stays at one chunk however long the log is. A
//! caller looking for a literal can skip whole chunks by testing the chunk's stored JSON first
//! (decoding it costs far more than searching it). Lines are handed out borrowed from the
//! chunk's text (no owned `String` per line unless the line has JSON escapes), which is what
//! makes a scan of a million lines cheap.

use std::borrow::Cow;
use std::ops::ControlFlow;

use rusqlite::params;
use serde::Deserialize;

use super::{LogLevel, LogStream, Result, Store, StoredLogLine};

/// A line as a scan sees it: like [`StoredLogLine`], its text borrowed from the stored chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLineRef<'a> {
    pub seq: i64,
    pub stage_id: Option<i64>,
    pub ts: i64,
    pub stream: LogStream,
    pub level: LogLevel,
    pub text: &'a str,
}

#[derive(Deserialize)]
struct RawRef<'a>(i64, LogStream, LogLevel, #[serde(borrow)] Cow<'a, str>);

impl Store {
    /// Calls `visit` with every line of run `run_id` from position `from_seq` on, in order,
    /// until it returns `Break`. Returns the position after the last line scanned.
    pub fn scan_log(
        &self,
        run_id: i64,
        from_seq: i64,
        visit: impl FnMut(&StoredLogLine) -> ControlFlow<()>,
    ) -> Result<i64> {
        self.scan_log_where(run_id, from_seq, |_| true, visit)
    }

    /// Like [`Store::scan_log`], but chunks whose stored JSON text fails `may_match` are skipped
    /// without decoding. Only sound when every line `visit` cares about has text that appears
    /// verbatim in the JSON (a literal without `"`, `\` or control characters).
    pub fn scan_log_where(
        &self,
        run_id: i64,
        from_seq: i64,
        may_match: impl Fn(&str) -> bool,
        mut visit: impl FnMut(&StoredLogLine) -> ControlFlow<()>,
    ) -> Result<i64> {
        self.scan_log_refs(run_id, from_seq, may_match, |l| {
            visit(&StoredLogLine {
                seq: l.seq,
                stage_id: l.stage_id,
                ts: l.ts,
                stream: l.stream,
                level: l.level,
                text: l.text.to_string(),
            })
        })
    }

    /// [`Store::scan_log_where`] without copying: each line borrows the chunk being read.
    pub fn scan_log_refs(
        &self,
        run_id: i64,
        from_seq: i64,
        may_match: impl Fn(&str) -> bool,
        mut visit: impl FnMut(&LogLineRef<'_>) -> ControlFlow<()>,
    ) -> Result<i64> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT stage_id, first_seq, line_count, lines, bytes FROM log_chunks
                 WHERE run_id = ?1 AND first_seq + line_count > ?2 ORDER BY first_seq",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![run_id, from_seq])
            .map_err(|e| self.err(e))?;
        let mut next = from_seq;
        let mut decoded = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let (stage_id, first_seq, count): (Option<i64>, i64, i64) =
                (|| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))().map_err(|e| self.err(e))?;
            // Borrowed from SQLite's row buffer: valid until the next `rows.next()`.
            let json = row
                .get_ref(3)
                .and_then(|v| {
                    v.as_str().map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            3,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })
                })
                .map_err(|e| self.err(e))?;
            let bytes = row
                .get_ref(4)
                .map(|v| v.as_blob_or_null().ok().flatten())
                .map_err(|e| self.err(e))?;
            if let Some(bytes) = bytes {
                // A byte chunk's text is not in its JSON: always decode it, owned.
                decoded.clear();
                self.decode_row(stage_id, first_seq, json, Some(bytes), &mut decoded, None)?;
                for l in decoded.iter().filter(|l| l.seq >= from_seq) {
                    next = l.seq + 1;
                    let line = LogLineRef {
                        seq: l.seq,
                        stage_id: l.stage_id,
                        ts: l.ts,
                        stream: l.stream,
                        level: l.level,
                        text: &l.text,
                    };
                    if visit(&line).is_break() {
                        return Ok(next);
                    }
                }
                continue;
            }
            if !may_match(json) {
                next = next.max(first_seq + count);
                continue;
            }
            let raw: Vec<RawRef<'_>> =
                serde_json::from_str(json).map_err(|e| super::Error::Corrupt {
                    path: self.path.clone(),
                    detail: format!("log chunk at line {first_seq} is not valid: {e}"),
                })?;
            for (i, RawRef(ts, stream, level, text)) in raw.iter().enumerate() {
                let seq = first_seq + i as i64;
                if seq < from_seq {
                    continue;
                }
                next = seq + 1;
                let line = LogLineRef {
                    seq,
                    stage_id,
                    ts: *ts,
                    stream: *stream,
                    level: *level,
                    text,
                };
                if visit(&line).is_break() {
                    return Ok(next);
                }
            }
        }
        Ok(next)
    }
}
