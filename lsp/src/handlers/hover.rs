//! `textDocument/hover`: on a finding, the rule's explanation with bad and good examples.

use kiln::engine::analysis::rule_by_id;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use crate::server::Backend;

pub(crate) async fn handle(b: &Backend, params: HoverParams) -> Result<Option<Hover>> {
    let pos = params.text_document_position_params.position;
    let uri = params.text_document_position_params.text_document.uri;
    let answer = b
        .docs
        .read(uri, move |v| {
            let doc = v.doc?;
            let d = doc.diagnostics.iter().find(|d| {
                (d.range.start.line, d.range.start.character) <= (pos.line, pos.character)
                    && (pos.line, pos.character) <= (d.range.end.line, d.range.end.character)
            })?;
            Some((d.code.clone(), d.message.clone(), d.range))
        })
        .await
        .ok_or_else(crate::errors::stopped)?;
    let Some((Some(tower_lsp_server::ls_types::NumberOrString::String(code)), message, range)) =
        answer
    else {
        return Ok(None);
    };
    let Some(rule) = rule_by_id(&code) else {
        return Ok(None);
    };
    Ok(Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: format!("**{message}**\n\n{}", rule.explain()),
        }),
        range: Some(range),
    }))
}
