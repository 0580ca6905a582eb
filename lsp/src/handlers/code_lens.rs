//! `textDocument/codeLens`: "▶ run" above test functions and the last run's result above
//! functions kiln generated; off with the `codeLens` setting.

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{CodeLens, CodeLensParams, Command, Position, Range};

use crate::commands;
use crate::functions::functions;
use crate::server::Backend;

pub(crate) async fn handle(b: &Backend, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
    let uri = params.text_document.uri;
    let for_uri = uri.clone();
    let run_lenses = b.runs.lenses(uri.clone());
    let lenses = b
        .docs
        .read(uri, move |v| {
            if !v.settings.code_lens {
                return Vec::new();
            }
            let Some(doc) = v.doc else { return Vec::new() };
            functions(doc.text(), doc.language())
                .into_iter()
                .filter(|f| f.is_test)
                .map(|f| {
                    let at = Position::new(f.start_line, 0);
                    CodeLens {
                        range: Range::new(at, at),
                        command: Some(Command {
                            title: "▶ run".into(),
                            command: commands::RUN_TESTS.into(),
                            arguments: Some(vec![serde_json::json!({
                                "uri": for_uri.as_str(),
                                "test": f.name,
                            })]),
                        }),
                        data: None,
                    }
                })
                .collect()
        })
        .await
        .ok_or_else(crate::errors::stopped)?;
    let mut lenses = lenses;
    lenses.extend(run_lenses.await.unwrap_or_default());
    Ok(Some(lenses))
}
