//! Model calls: one row per call in `generations`, the response cache, and usage totals.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Result, Store, now_micros};

/// A model call to record. JSON columns are passed already serialized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGeneration {
    pub run_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub provider: String,
    pub model: String,
    pub messages_json: String,
    pub params_json: String,
    pub response: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub cost_usd: Option<f64>,
    /// `ok`, `error` or `cancelled`.
    pub status: String,
    pub error: Option<String>,
    pub cache_key: Option<String>,
    pub cache_hit: bool,
    /// Why the reply ended: `stop`, `length`, `tool_calls`, `content_filter` (or another word
    /// the provider used), `error` or `cancelled`; `None` when the provider said nothing.
    pub finish_reason: Option<String>,
}

/// A stored reply that can answer an identical request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// The generation the reply came from.
    pub id: i64,
    pub response: String,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// The finish reason of the original reply (a cut reply stays cut when served again).
    pub finish_reason: Option<String>,
}

/// One recorded generation, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    pub id: i64,
    pub provider: String,
    pub model: String,
    pub messages_json: String,
    pub params_json: String,
    pub response: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub latency_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub cost_usd: Option<f64>,
    pub status: String,
    pub error: Option<String>,
    pub cache_key: Option<String>,
    pub cache_hit: bool,
    pub created_at: i64,
    /// See [`NewGeneration::finish_reason`]; `None` for calls recorded before schema version 2.
    pub finish_reason: Option<String>,
}

/// Usage of one model on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub provider: String,
    pub model: String,
    pub calls: i64,
    pub errors: i64,
    pub cache_hits: i64,
    /// Replies cut at `max_tokens` (`finish_reason = 'length'`).
    pub truncated: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost_usd: f64,
}

impl Store {
    /// Records one model call and returns its id.
    pub fn insert_generation(&self, g: &NewGeneration) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO generations (run_id, stage_id, provider, model, messages, params,
                     response, tokens_in, tokens_out, latency_ms, ttft_ms, cost_usd, status, error,
                     cache_key, cache_hit, created_at, finish_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                         ?18)",
                params![
                    g.run_id,
                    g.stage_id,
                    g.provider,
                    g.model,
                    g.messages_json,
                    g.params_json,
                    g.response,
                    g.tokens_in,
                    g.tokens_out,
                    g.latency_ms,
                    g.ttft_ms,
                    g.cost_usd,
                    g.status,
                    g.error,
                    g.cache_key,
                    g.cache_hit,
                    now_micros(),
                    g.finish_reason,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest successful, non-cached reply recorded under `cache_key`.
    pub fn cached_response(&self, cache_key: &str) -> Result<Option<CachedResponse>> {
        self.conn
            .query_row(
                "SELECT id, response, tokens_in, tokens_out, finish_reason FROM generations
                 WHERE cache_key = ?1 AND status = 'ok' AND cache_hit = 0 AND response IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [cache_key],
                |r| {
                    Ok(CachedResponse {
                        id: r.get(0)?,
                        response: r.get(1)?,
                        tokens_in: r.get(2)?,
                        tokens_out: r.get(3)?,
                        finish_reason: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// One generation by id.
    pub fn generation(&self, id: i64) -> Result<Generation> {
        self.conn
            .query_row(
                "SELECT id, provider, model, messages, params, response, tokens_in, tokens_out,
                        latency_ms, ttft_ms, cost_usd, status, error, cache_key, cache_hit, created_at,
                        finish_reason
                 FROM generations WHERE id = ?1",
                [id],
                |r| {
                    Ok(Generation {
                        id: r.get(0)?,
                        provider: r.get(1)?,
                        model: r.get(2)?,
                        messages_json: r.get(3)?,
                        params_json: r.get(4)?,
                        response: r.get(5)?,
                        tokens_in: r.get(6)?,
                        tokens_out: r.get(7)?,
                        latency_ms: r.get(8)?,
                        ttft_ms: r.get(9)?,
                        cost_usd: r.get(10)?,
                        status: r.get(11)?,
                        error: r.get(12)?,
                        cache_key: r.get(13)?,
                        cache_hit: r.get(14)?,
                        created_at: r.get(15)?,
                        finish_reason: r.get(16)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| super::Error::NotFound {
                what: "generation",
                id: id.to_string(),
            })
    }

    /// Calls, tokens and cost per model and UTC day since `since_micros`, newest day first.
    pub fn stats_by_model_and_day(&self, since_micros: i64) -> Result<Vec<UsageRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT date(created_at / 1000000, 'unixepoch') AS day, provider, model,
                        count(*), sum(status != 'ok'), sum(cache_hit),
                        coalesce(sum(finish_reason = 'length'), 0), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),
                        coalesce(sum(cost_usd), 0.0)
                 FROM generations WHERE created_at >= ?1
                 GROUP BY day, provider, model ORDER BY day DESC, provider, model",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([since_micros], |r| {
                Ok(UsageRow {
                    day: r.get(0)?,
                    provider: r.get(1)?,
                    model: r.get(2)?,
                    calls: r.get(3)?,
                    errors: r.get(4)?,
                    cache_hits: r.get(5)?,
                    truncated: r.get(6)?,
                    tokens_in: r.get(7)?,
                    tokens_out: r.get(8)?,
                    cost_usd: r.get(9)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("k.db"),
            &super::super::StoreConfig::default(),
        )
        .unwrap();
        (dir, store)
    }

    #[test]
    fn cache_returns_newest_ok_row_and_stats_sum() {
        let (_d, s) = store();
        let base = NewGeneration {
            provider: "openai".into(),
            model: "m".into(),
            messages_json: "[]".into(),
            params_json: "{}".into(),
            status: "ok".into(),
            cache_key: Some("k".into()),
            tokens_in: Some(10),
            tokens_out: Some(5),
            cost_usd: Some(0.5),
            ..NewGeneration::default()
        };
        let old = s
            .insert_generation(&NewGeneration {
                response: Some("old".into()),
                finish_reason: Some("length".into()),
                ..base.clone()
            })
            .unwrap();
        assert_eq!(
            s.generation(old).unwrap().finish_reason.as_deref(),
            Some("length")
        );
        let newest = s
            .insert_generation(&NewGeneration {
                response: Some("new".into()),
                finish_reason: Some("stop".into()),
                ..base.clone()
            })
            .unwrap();
        s.insert_generation(&NewGeneration {
            response: Some("partial".into()),
            status: "error".into(),
            ..base
        })
        .unwrap();
        let hit = s.cached_response("k").unwrap().unwrap();
        assert_eq!((hit.id, hit.response.as_str()), (newest, "new"));
        assert_eq!(hit.finish_reason.as_deref(), Some("stop"));
        assert!(s.cached_response("other").unwrap().is_none());
        let stats = s.stats_by_model_and_day(0).unwrap();
        assert_eq!(stats.len(), 1);
        assert_eq!(
            (
                stats[0].calls,
                stats[0].errors,
                stats[0].truncated,
                stats[0].tokens_in
            ),
            (3, 1, 1, 30)
        );
        assert!((stats[0].cost_usd - 1.5).abs() < 1e-9);
    }
}
