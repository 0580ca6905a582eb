//! `kiln/stats` (a kiln extension): counters for tests and benchmarks, e.g. how many analyses
//! ran (a burst of edits must cost far fewer than one per edit).

use serde::{Deserialize, Serialize};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::TextDocumentIdentifier;

use crate::server::Backend;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatsParams {
    text_document: TextDocumentIdentifier,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stats {
    analysis_runs: u64,
    version: Option<i32>,
}

impl Backend {
    pub(crate) async fn stats(&self, params: StatsParams) -> Result<Stats> {
        let answer = self
            .docs
            .read(params.text_document.uri, |v| Stats {
                analysis_runs: v.analysis_runs,
                version: v.doc.map(|d| d.version),
            })
            .await;
        answer.ok_or_else(crate::errors::stopped)
    }
}
