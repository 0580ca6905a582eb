//! `textDocument/codeAction`: a quick fix per finding with a fix (preferred when safe), "kiln:
//! Not a problem here" per finding, `source.fixAll.kiln`, and the model actions on the function
//! at the cursor. Listing is cheap (no model call); the work starts when a command runs.

use std::collections::HashMap;

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CodeActionResponse, Command,
    Diagnostic, Position, Range, TextEdit, Uri, WorkspaceEdit,
};

use super::initialize::FIX_ALL_KIND;
use crate::commands;
use crate::convert::{self, Encoding};
use crate::documents::OpenDoc;
use crate::functions::{at_line, functions};
use crate::server::Backend;

pub(crate) async fn handle(
    b: &Backend,
    params: CodeActionParams,
) -> Result<Option<CodeActionResponse>> {
    let uri = params.text_document.uri.clone();
    let actions = b
        .docs
        .read(uri, move |v| match v.doc {
            Some(doc) => actions(doc, v.enc, &params),
            None => Vec::new(),
        })
        .await
        .ok_or_else(crate::errors::stopped)?;
    Ok(Some(actions))
}

fn wanted(only: Option<&[CodeActionKind]>, kind: &CodeActionKind) -> bool {
    only.is_none_or(|o| {
        o.iter().any(|w| {
            kind.as_str() == w.as_str() || kind.as_str().starts_with(&format!("{}.", w.as_str()))
        })
    })
}

fn overlaps(a: Range, b: Range) -> bool {
    let k = |p: Position| (p.line, p.character);
    k(a.start) <= k(b.end) && k(b.start) <= k(a.end)
}

fn edit(uri: &Uri, edits: Vec<TextEdit>) -> WorkspaceEdit {
    WorkspaceEdit {
        changes: Some(HashMap::from([(uri.clone(), edits)])),
        ..WorkspaceEdit::default()
    }
}

fn actions(doc: &OpenDoc, enc: Encoding, params: &CodeActionParams) -> CodeActionResponse {
    let uri = &params.text_document.uri;
    let only = params.context.only.as_deref();
    let text = doc.text();
    let mut out = Vec::new();
    let quickfix = CodeActionKind::QUICKFIX;
    for (f, d) in doc.findings.iter().zip(&doc.diagnostics) {
        if !overlaps(d.range, params.range) || !wanted(only, &quickfix) {
            continue;
        }
        if let Some(fix) = &f.fix {
            let edits = fix
                .edits
                .iter()
                .map(|e| TextEdit {
                    range: convert::span(text, e.start, e.end, e.range, enc),
                    new_text: e.text.clone(),
                })
                .collect();
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("kiln: {}", fix.title),
                kind: Some(quickfix.clone()),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(edit(uri, edits)),
                is_preferred: Some(fix.safe),
                ..CodeAction::default()
            }));
        }
        out.extend(not_a_problem(doc, enc, uri, f.rule.as_str(), d));
    }
    let fix_all = CodeActionKind::new(FIX_ALL_KIND);
    // "Fix all" only when asked for source actions (editors ask on save), not in the bulb.
    if only.is_some() && wanted(only, &fix_all) {
        let edits = fix_all_edits(doc, enc);
        if !edits.is_empty() {
            let n = edits.len();
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("kiln: Fix all safe problems ({n})"),
                kind: Some(fix_all),
                edit: Some(edit(uri, edits.into_iter().flatten().collect())),
                ..CodeAction::default()
            }));
        }
    }
    let rewrite = CodeActionKind::REFACTOR_REWRITE;
    if wanted(only, &rewrite) {
        let fns = functions(text, doc.language());
        if let Some(f) = at_line(&fns, params.range.start.line) {
            let arg = serde_json::json!({ "uri": uri.as_str(), "line": f.start_line, "function": f.name });
            let mut push = |title: String, command: &str, arg: serde_json::Value| {
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: title.clone(),
                    kind: Some(rewrite.clone()),
                    command: Some(Command {
                        title,
                        command: command.into(),
                        arguments: Some(vec![arg]),
                    }),
                    ..CodeAction::default()
                }));
            };
            if f.is_stub {
                push(
                    format!("kiln: Generate implementation of {}", f.name),
                    commands::GENERATE,
                    arg.clone(),
                );
            }
            if params.range.start == params.range.end {
                push(
                    format!("kiln: Improve {}", f.name),
                    commands::IMPROVE,
                    arg.clone(),
                );
            } else {
                let mut sel = arg.clone();
                sel["range"] = serde_json::to_value(params.range).unwrap_or_default();
                push(
                    "kiln: Improve this selection".into(),
                    commands::IMPROVE,
                    sel,
                );
            }
            if !f.is_test {
                push(
                    format!("kiln: Generate tests for {}", f.name),
                    commands::GENERATE_TESTS,
                    arg,
                );
            }
        }
    }
    out
}

/// The edits of every safe fix that overlaps no earlier one, grouped per fix (the same choice
/// as `kiln check --fix` makes in one pass).
fn fix_all_edits(doc: &OpenDoc, enc: Encoding) -> Vec<Vec<TextEdit>> {
    let text = doc.text();
    let mut fixes: Vec<&kiln::engine::analysis::Fix> = doc
        .findings
        .iter()
        .filter_map(|f| f.fix.as_ref())
        .filter(|f| f.safe && !f.edits.is_empty())
        .collect();
    fixes.sort_by_key(|f| f.edits.iter().map(|e| e.start).min().unwrap_or(0));
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut out = Vec::new();
    for fix in fixes {
        let clash = fix.edits.iter().any(|e| {
            e.end > text.len()
                || taken
                    .iter()
                    .any(|&(s, t)| e.start < t && s < e.end || (e.start == s && e.end == t))
        });
        if clash {
            continue;
        }
        taken.extend(fix.edits.iter().map(|e| (e.start, e.end)));
        out.push(
            fix.edits
                .iter()
                .map(|e| TextEdit {
                    range: convert::span(text, e.start, e.end, e.range, enc),
                    new_text: e.text.clone(),
                })
                .collect(),
        );
    }
    out
}

/// "Not a problem here": records the user's verdict; the second variant also adds the
/// suppression comment at the end of the finding's line.
fn not_a_problem(
    doc: &OpenDoc,
    enc: Encoding,
    uri: &Uri,
    rule: &str,
    d: &Diagnostic,
) -> Vec<CodeActionOrCommand> {
    let text = doc.text();
    let line = d.range.start.line as usize;
    let Some((start, line_text)) = text
        .split_inclusive('\n')
        .scan(0usize, |at, l| {
            let s = *at;
            *at += l.len();
            Some((s, l))
        })
        .nth(line)
    else {
        return Vec::new();
    };
    let end = start + line_text.trim_end_matches(['\n', '\r']).len();
    let marker = doc.language().comment_marker();
    let comment = if line_text.contains(marker) && line_text.contains("kiln: ignore[") {
        None // already suppressed for another rule: leave the comment alone
    } else {
        Some(format!("  {marker} kiln: ignore[{rule}]"))
    };
    let feedback = |suppressed: bool| Command {
        title: "kiln: Not a problem here".into(),
        command: commands::NOT_A_PROBLEM.into(),
        arguments: Some(vec![serde_json::json!({
            "uri": uri.as_str(),
            "rule": rule,
            "line": d.range.start.line,
            "range": d.range,
            "severity": d.severity,
            "message": d.message,
            "suppressed": suppressed,
        })]),
    };
    let mut out = vec![CodeActionOrCommand::CodeAction(CodeAction {
        title: format!("kiln: Not a problem here ({rule})"),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        command: Some(feedback(false)),
        ..CodeAction::default()
    })];
    if let Some(comment) = comment {
        let at = convert::position(text, end, enc);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("kiln: Not a problem here ({rule}), add a suppression comment"),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(edit(
                uri,
                vec![TextEdit {
                    range: Range::new(at, at),
                    new_text: comment,
                }],
            )),
            command: Some(feedback(true)),
            ..CodeAction::default()
        }));
    }
    out
}
