//! Per-test results of a run's test processes (the `test_run` stage, `kiln run`): one row per
//! test case with its outcome, duration, failure message and where the test is defined.

use rusqlite::{Row, params};
use serde::{Deserialize, Serialize};

use super::runs::text_enum;
use super::{Result, Store, now_micros};

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Passed,
    Failed,
    /// The test could not run (collection or set-up error, a crash).
    Error,
    Skipped,
}

text_enum!(TestOutcome { Passed => "passed", Failed => "failed", Error => "error", Skipped => "skipped" });

/// One test case as a test tool reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    /// The tool's full name (`test_conv.py::test_f_to_c`, `tests::adds`, `suite > case`).
    pub name: String,
    pub outcome: TestOutcome,
    pub duration_ms: Option<u64>,
    /// The assertion message or error (first lines), for failures, errors and skips.
    pub message: Option<String>,
    /// Project-relative file and 1-based line of the test (or of the failure) when known.
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// A stored test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredTestResult {
    pub id: i64,
    pub run_id: i64,
    pub stage_id: Option<i64>,
    pub process_id: Option<i64>,
    #[serde(flatten)]
    pub case: TestCase,
    pub created_at: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<StoredTestResult> {
    let outcome: String = r.get(5)?;
    Ok(StoredTestResult {
        id: r.get(0)?,
        run_id: r.get(1)?,
        stage_id: r.get(2)?,
        process_id: r.get(3)?,
        case: TestCase {
            name: r.get(4)?,
            outcome: outcome.parse().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into())
            })?,
            duration_ms: r.get::<_, Option<i64>>(6)?.map(|d| d as u64),
            message: r.get(7)?,
            file: r.get(8)?,
            line: r.get::<_, Option<i64>>(9)?.map(|l| l as u32),
        },
        created_at: r.get(10)?,
    })
}

impl Store {
    /// Stores the results of one test process, in one transaction; returns how many.
    pub fn insert_test_results(
        &self,
        run_id: i64,
        stage_id: Option<i64>,
        process_id: Option<i64>,
        cases: &[TestCase],
    ) -> Result<usize> {
        let now = now_micros();
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO test_results (run_id, stage_id, process_id, name, outcome, duration_ms, message, file, line, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| self.err(e))?;
            for c in cases {
                stmt.execute(params![
                    run_id,
                    stage_id,
                    process_id,
                    c.name,
                    c.outcome.as_str(),
                    c.duration_ms.map(|d| d as i64),
                    c.message,
                    c.file,
                    c.line,
                    now
                ])
                .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(cases.len())
    }

    /// Every test result of a run, in the order they were stored.
    pub fn test_results_of_run(&self, run_id: i64) -> Result<Vec<StoredTestResult>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, run_id, stage_id, process_id, name, outcome, duration_ms, message, file, line, created_at
                 FROM test_results WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::{NewRun, RunKind, StoreConfig};

    #[test]
    fn results_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db"), &StoreConfig::default()).unwrap();
        let run = store
            .start_run(&NewRun {
                project_id: None,
                request_id: None,
                kind: RunKind::Check,
            })
            .unwrap();
        let case = TestCase {
            name: "test_a.py::test_x".into(),
            outcome: TestOutcome::Failed,
            duration_ms: Some(3),
            message: Some("assert 1 == 2".into()),
            file: Some("test_a.py".into()),
            line: Some(7),
        };
        assert_eq!(
            store
                .insert_test_results(run.id, None, None, std::slice::from_ref(&case))
                .unwrap(),
            1
        );
        let got = store.test_results_of_run(run.id).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].case, case);
    }
}
