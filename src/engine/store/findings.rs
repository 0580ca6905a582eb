//! Analysis findings of a run (`kiln check --record`, the pipeline's check stage).

use rusqlite::params;
use serde::Serialize;

use super::{Result, Store, now_micros};
use crate::engine::analysis::{Finding, Fix, Position, Range, Severity};

/// A finding as stored: the analysis finding plus its file and ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFinding {
    pub id: i64,
    pub run_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub file: String,
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    pub range: Range,
    pub fix: Option<Fix>,
    pub created_at: i64,
}

impl Store {
    /// Stores the findings of one file for a run, in one transaction; returns how many.
    pub fn insert_findings(
        &mut self,
        run_id: i64,
        stage_id: Option<i64>,
        file: &str,
        findings: &[Finding],
    ) -> Result<usize> {
        self.insert_findings_shared(run_id, stage_id, file, findings)
    }

    /// [`insert_findings`](Self::insert_findings) through a shared reference, for the store
    /// writer thread (nothing else holds a transaction open on its connection).
    pub fn insert_findings_shared(
        &self,
        run_id: i64,
        stage_id: Option<i64>,
        file: &str,
        findings: &[Finding],
    ) -> Result<usize> {
        let now = now_micros();
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| super::classify(&self.path, &self.config, e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO findings (run_id, stage_id, rule, severity, file, start_line, start_col, end_line, end_col, message, fix, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(|e| super::classify(&self.path, &self.config, e))?;
            for f in findings {
                let fix = f
                    .fix
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|e| super::Error::Conflict(format!("cannot encode a fix: {e}")))?;
                stmt.execute(params![
                    run_id,
                    stage_id,
                    f.rule,
                    f.severity.as_str(),
                    file,
                    f.range.start.line,
                    f.range.start.character,
                    f.range.end.line,
                    f.range.end.character,
                    f.message,
                    fix,
                    now
                ])
                .map_err(|e| super::classify(&self.path, &self.config, e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(findings.len())
    }

    /// Every finding of a run, by file and position.
    pub fn findings_of_run(&self, run_id: i64) -> Result<Vec<StoredFinding>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, run_id, stage_id, file, rule, severity, message, start_line, start_col, end_line, end_col, fix, created_at
                 FROM findings WHERE run_id = ?1 ORDER BY file, start_line, start_col, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                let severity: String = r.get(5)?;
                let fix: Option<String> = r.get(11)?;
                Ok(StoredFinding {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    stage_id: r.get(2)?,
                    file: r.get(3)?,
                    rule: r.get(4)?,
                    severity: Severity::parse(&severity).unwrap_or(Severity::Warning),
                    message: r.get(6)?,
                    range: Range {
                        start: Position {
                            line: r.get(7)?,
                            character: r.get(8)?,
                        },
                        end: Position {
                            line: r.get(9)?,
                            character: r.get(10)?,
                        },
                    },
                    fix: fix.and_then(|f| serde_json::from_str(&f).ok()),
                    created_at: r.get(12)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::analysis::{FileKind, Language, RuleSet, analyze_source};
    use crate::engine::store::{NewRun, RunKind, StoreConfig};

    #[test]
    fn findings_round_trip_through_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("k.db"), &StoreConfig::default()).unwrap();
        let run = store
            .start_run(&NewRun {
                project_id: None,
                request_id: None,
                kind: RunKind::Check,
            })
            .unwrap();
        let findings = analyze_source(
            "import os\nif x == None:\n    pass\n",
            Language::Python,
            FileKind::default(),
            &RuleSet::default(),
        )
        .unwrap();
        assert_eq!(
            store
                .insert_findings(run.id, None, "a.py", &findings)
                .unwrap(),
            findings.len()
        );
        let stored = store.findings_of_run(run.id).unwrap();
        assert_eq!(stored.len(), findings.len());
        for (s, f) in stored.iter().zip(&findings) {
            assert_eq!(
                (s.rule.as_str(), s.severity, s.range, &s.fix),
                (f.rule.as_str(), f.severity, f.range, &f.fix)
            );
            assert_eq!(s.file, "a.py");
        }
        assert!(store.findings_of_run(run.id + 1).unwrap().is_empty());
    }
}
