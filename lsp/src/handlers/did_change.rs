//! `textDocument/didChange`: queued; the owner applies a burst of changes at once and analyses
//! only the newest version.

use tower_lsp_server::ls_types::DidChangeTextDocumentParams;

use crate::documents::Msg;
use crate::server::Backend;

pub(crate) fn handle(b: &Backend, params: DidChangeTextDocumentParams) {
    b.docs.send(Msg::Change {
        uri: params.text_document.uri,
        version: params.text_document.version,
        changes: params.content_changes,
    });
}
