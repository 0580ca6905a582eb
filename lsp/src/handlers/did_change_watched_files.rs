//! `workspace/didChangeWatchedFiles`: a `kiln.toml` changed; reload the config and refresh.

use tower_lsp_server::ls_types::DidChangeWatchedFilesParams;

use crate::documents::Msg;
use crate::server::Backend;

pub(crate) fn handle(b: &Backend, params: &DidChangeWatchedFilesParams) {
    if params
        .changes
        .iter()
        .any(|c| c.uri.as_str().ends_with("kiln.toml"))
    {
        b.docs.send(Msg::ReloadConfig);
    }
}
