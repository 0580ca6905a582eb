//! `textDocument/didSave`: runs the project's tests when `runTestsOnSave` is set (the runs
//! owner decides; it knows the settings).

use tower_lsp_server::ls_types::DidSaveTextDocumentParams;

use crate::runs::RunMsg;
use crate::server::Backend;

pub(crate) fn handle(b: &Backend, params: DidSaveTextDocumentParams) {
    b.runs.send(RunMsg::Saved {
        uri: params.text_document.uri,
    });
}
