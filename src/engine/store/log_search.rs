//! Scanning a run's whole log chunk by chunk, for search and filter in the background: one
//! query streams the chunks in order, so memory stays at one chunk however long the log is. A
//! caller looking for a literal can skip whole chunks by testing the chunk's stored JSON first
//! (decoding it costs far more than searching it).

use std::ops::ControlFlow;

use rusqlite::params;

use super::{Result, Store, StoredLogLine};

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
        let mut lines = Vec::new();
        let mut next = from_seq;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let (stage_id, first_seq, count, json, bytes): (
                Option<i64>,
                i64,
                i64,
                String,
                Option<Vec<u8>>,
            ) = (|| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })()
            .map_err(|e| self.err(e))?;
            // A byte chunk's text is not in its JSON: always decode it.
            if bytes.is_none() && !may_match(&json) {
                next = next.max(first_seq + count);
                continue;
            }
            lines.clear();
            self.decode_row(
                stage_id,
                first_seq,
                &json,
                bytes.as_deref(),
                &mut lines,
                None,
            )?;
            for line in lines.iter().filter(|l| l.seq >= from_seq) {
                next = line.seq + 1;
                if visit(line).is_break() {
                    return Ok(next);
                }
            }
        }
        Ok(next)
    }
}
