//! `textDocument/diagnostic` (pull): the newest version's analysis and test diagnostics.

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    DocumentDiagnosticParams, DocumentDiagnosticReport, DocumentDiagnosticReportResult,
    FullDocumentDiagnosticReport, RelatedFullDocumentDiagnosticReport,
};

use crate::documents::all_diagnostics;
use crate::server::Backend;

pub(crate) async fn handle(
    b: &Backend,
    params: DocumentDiagnosticParams,
) -> Result<DocumentDiagnosticReportResult> {
    let answer = b
        .docs
        .read(params.text_document.uri, |v| {
            v.doc.map_or_else(
                || (None, v.tests.unwrap_or_default().to_vec()),
                |d| (Some(d.version), all_diagnostics(d, v.tests)),
            )
        })
        .await
        .ok_or_else(crate::errors::stopped)?;
    let (version, items) = answer;
    Ok(DocumentDiagnosticReportResult::Report(
        DocumentDiagnosticReport::Full(RelatedFullDocumentDiagnosticReport {
            related_documents: None,
            full_document_diagnostic_report: FullDocumentDiagnosticReport {
                result_id: version.map(|v| v.to_string()),
                items,
            },
        }),
    ))
}
