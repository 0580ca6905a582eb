//! A user's verdict on a finding an editor showed rather than one a run recorded ("kiln: Not
//! a problem here"): the finding is stored without a run and the feedback references it, in
//! one transaction, so `feedback` rows always point at a stored finding.

use rusqlite::params;

use super::{Result, Store, Verdict, now_micros};
use crate::engine::analysis::{Range, Severity};

/// A finding as the editor showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFinding {
    /// The file, relative to the project root when inside it.
    pub file: String,
    pub rule: String,
    pub severity: Severity,
    pub range: Range,
    pub message: String,
}

impl Store {
    /// Stores `finding` (no run) and the user's verdict on it; returns `(finding, feedback)` ids.
    pub fn add_finding_feedback(
        &self,
        finding: &SeenFinding,
        verdict: Verdict,
        comment: &str,
    ) -> Result<(i64, i64)> {
        let now = now_micros();
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO findings (run_id, stage_id, rule, severity, file, start_line, start_col, end_line, end_col, message, fix, created_at)
             VALUES (NULL, NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)",
            params![
                finding.rule,
                finding.severity.as_str(),
                finding.file,
                finding.range.start.line,
                finding.range.start.character,
                finding.range.end.line,
                finding.range.end.character,
                finding.message,
                now
            ],
        )
        .map_err(|e| self.err(e))?;
        let finding_id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO feedback (target_kind, target_id, verdict, comment, created_at) VALUES ('finding', ?1, ?2, ?3, ?4)",
            params![finding_id, verdict.as_str(), comment, now],
        )
        .map_err(|e| self.err(e))?;
        let feedback_id = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.err(e))?;
        Ok((finding_id, feedback_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::analysis::Position;
    use crate::engine::store::{FeedbackTarget, StoreConfig};

    #[test]
    fn the_verdict_references_the_stored_finding() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db"), &StoreConfig::default()).unwrap();
        let seen = SeenFinding {
            file: "m.py".into(),
            rule: "PY109".into(),
            severity: Severity::Warning,
            range: Range {
                start: Position {
                    line: 0,
                    character: 0,
                },
                end: Position {
                    line: 0,
                    character: 9,
                },
            },
            message: "unused import".into(),
        };
        let (finding, feedback) = store
            .add_finding_feedback(&seen, Verdict::Reject, "not a problem here")
            .unwrap();
        let got = store
            .feedback_for(FeedbackTarget::Finding(finding))
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, feedback);
        assert_eq!(got[0].verdict, Verdict::Reject);
        let rule: String = store
            .conn
            .query_row(
                "SELECT rule FROM findings WHERE id = ?1 AND run_id IS NULL",
                [finding],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rule, "PY109");
    }
}
