//! What the client said it supports, reduced to the choices the server makes.

use tower_lsp_server::ls_types::ClientCapabilities;

use crate::convert::Encoding;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one flag per client capability
pub(crate) struct ClientCaps {
    pub enc: Encoding,
    /// `textDocument/diagnostic`: the client pulls; otherwise the server pushes.
    pub pull: bool,
    pub diagnostic_refresh: bool,
    /// `window/workDoneProgress`.
    pub progress: bool,
    pub apply_edit: bool,
    pub document_changes: bool,
    pub show_document: bool,
    pub configuration: bool,
    pub watch_files: bool,
    pub code_lens_refresh: bool,
}

impl ClientCaps {
    pub(crate) fn of(c: &ClientCapabilities) -> Self {
        let ws = c.workspace.as_ref();
        Self {
            enc: Encoding::negotiate(
                c.general
                    .as_ref()
                    .and_then(|g| g.position_encodings.as_deref()),
            ),
            pull: c
                .text_document
                .as_ref()
                .is_some_and(|t| t.diagnostic.is_some()),
            diagnostic_refresh: ws
                .and_then(|w| w.diagnostics.as_ref())
                .and_then(|d| d.refresh_support)
                .unwrap_or(false),
            progress: c
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false),
            apply_edit: ws.and_then(|w| w.apply_edit).unwrap_or(false),
            document_changes: ws
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|e| e.document_changes)
                .unwrap_or(false),
            show_document: c
                .window
                .as_ref()
                .and_then(|w| w.show_document.as_ref())
                .is_some_and(|s| s.support),
            configuration: ws.and_then(|w| w.configuration).unwrap_or(false),
            watch_files: ws
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|d| d.dynamic_registration)
                .unwrap_or(false),
            code_lens_refresh: ws
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|l| l.refresh_support)
                .unwrap_or(false),
        }
    }
}
