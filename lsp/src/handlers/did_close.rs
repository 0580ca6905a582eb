//! `textDocument/didClose`: forgets the document and clears its diagnostics.

use tower_lsp_server::ls_types::DidCloseTextDocumentParams;

use crate::documents::Msg;
use crate::server::Backend;

pub(crate) fn handle(b: &Backend, params: DidCloseTextDocumentParams) {
    b.docs.send(Msg::Close {
        uri: params.text_document.uri,
    });
}
