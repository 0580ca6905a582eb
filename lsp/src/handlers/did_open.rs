//! `textDocument/didOpen`: the owner analyses the text and publishes its diagnostics.

use tower_lsp_server::ls_types::DidOpenTextDocumentParams;

use crate::documents::Msg;
use crate::server::Backend;

pub(crate) fn handle(b: &Backend, params: DidOpenTextDocumentParams) {
    let d = params.text_document;
    b.docs.send(Msg::Open {
        uri: d.uri,
        language_id: d.language_id,
        version: d.version,
        text: d.text,
    });
}
