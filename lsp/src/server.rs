//! The `LanguageServer` implementation: each method delegates to its handler in `handlers/`.
//!
//! Handlers mutate nothing: they enqueue a message to the documents owner or the runs owner
//! before their first `.await` and then await the reply (tower-lsp-server interleaves handlers
//! at every `.await`). The one exception is the client's capabilities, written once by
//! `initialize`, which the protocol runs before any other request.

use std::sync::{Arc, OnceLock};

use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::{
    CodeActionParams, CodeActionResponse, CodeLens, CodeLensParams, DidChangeConfigurationParams,
    DidChangeTextDocumentParams, DidChangeWatchedFilesParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentDiagnosticParams,
    DocumentDiagnosticReportResult, ExecuteCommandParams, Hover, HoverParams, InitializeParams,
    InitializeResult, InitializedParams, LSPAny,
};
use tower_lsp_server::{Client, LanguageServer};

use crate::caps::ClientCaps;
use crate::documents::Documents;
use crate::handlers;
use crate::runs::Runs;

/// The server state every handler sees; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    pub client: Client,
    pub docs: Documents,
    pub runs: Runs,
    pub caps: Arc<OnceLock<ClientCaps>>,
    /// The queue to the client (see `outbox`).
    pub out: tokio::sync::mpsc::UnboundedSender<crate::documents::Out>,
}

impl Backend {
    pub(crate) fn caps(&self) -> ClientCaps {
        self.caps.get().copied().unwrap_or_default()
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        Ok(handlers::initialize::handle(self, &params))
    }

    async fn initialized(&self, params: InitializedParams) {
        handlers::initialized::handle(self, params).await;
    }

    async fn shutdown(&self) -> Result<()> {
        handlers::shutdown::handle(self);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        handlers::did_open::handle(self, params);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        handlers::did_change::handle(self, params);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        handlers::did_save::handle(self, params);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        handlers::did_close::handle(self, params);
    }

    async fn diagnostic(
        &self,
        params: DocumentDiagnosticParams,
    ) -> Result<DocumentDiagnosticReportResult> {
        handlers::diagnostic::handle(self, params).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        handlers::code_action::handle(self, params).await
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        handlers::hover::handle(self, params).await
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        handlers::code_lens::handle(self, params).await
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        handlers::execute_command::handle(self, params).await
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        handlers::did_change_configuration::handle(self, params).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        handlers::did_change_watched_files::handle(self, &params);
    }
}
