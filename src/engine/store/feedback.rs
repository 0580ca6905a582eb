//! A user's accept/reject verdicts on generations, findings and runs.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::runs::text_enum;
use super::{Result, Store, now_micros};

/// What the feedback is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum FeedbackTarget {
    Generation(i64),
    Finding(i64),
    Run(i64),
}

impl FeedbackTarget {
    fn parts(self) -> (&'static str, i64) {
        match self {
            Self::Generation(id) => ("generation", id),
            Self::Finding(id) => ("finding", id),
            Self::Run(id) => ("run", id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Reject,
}

text_enum!(Verdict { Accept => "accept", Reject => "reject" });

/// Stored feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    pub id: i64,
    pub target: FeedbackTarget,
    pub verdict: Verdict,
    pub comment: String,
    pub created_at: i64,
}

impl Store {
    pub fn add_feedback(
        &self,
        target: FeedbackTarget,
        verdict: Verdict,
        comment: &str,
    ) -> Result<i64> {
        let (kind, id) = target.parts();
        self.conn
            .execute(
                "INSERT INTO feedback (target_kind, target_id, verdict, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![kind, id, verdict.as_str(), comment, now_micros()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Feedback on one target, oldest first.
    pub fn feedback_for(&self, target: FeedbackTarget) -> Result<Vec<Feedback>> {
        let (kind, id) = target.parts();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, verdict, comment, created_at FROM feedback WHERE target_kind = ?1 AND target_id = ?2 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![kind, id], |r| {
            let verdict: String = r.get(1)?;
            Ok(Feedback {
                id: r.get(0)?,
                target,
                verdict: verdict.parse().map_err(|e: String| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?,
                comment: r.get(2)?,
                created_at: r.get(3)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.err(e))
    }
}
