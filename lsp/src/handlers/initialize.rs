//! `initialize`: negotiates the position encoding, reads the client's capabilities and the
//! initial settings, and announces what kiln-lsp offers.

use std::path::PathBuf;

use tower_lsp_server::ls_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CodeLensOptions,
    DiagnosticOptions, DiagnosticServerCapabilities, ExecuteCommandOptions,
    HoverProviderCapability, InitializeParams, InitializeResult, MessageType, SaveOptions,
    ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
};

use crate::caps::ClientCaps;
use crate::commands;
use crate::documents::{Msg, Out};
use crate::runs::RunMsg;
use crate::server::Backend;
use crate::settings::Settings;

/// The code action kind of "fix all".
pub(crate) const FIX_ALL_KIND: &str = "source.fixAll.kiln";

pub(crate) fn handle(b: &Backend, params: &InitializeParams) -> InitializeResult {
    let caps = ClientCaps::of(&params.capabilities);
    let _ = b.caps.set(caps);
    let settings = match params
        .initialization_options
        .as_ref()
        .map(Settings::from_json)
    {
        None => Settings::default(),
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            let _ = b.out.send(Out::Message(
                MessageType::WARNING,
                format!("kiln: {e}; using the defaults"),
            ));
            Settings::default()
        }
    };
    let root = root_of(params);
    b.docs.send(Msg::Init {
        enc: caps.enc,
        pull: caps.pull,
        root: root.clone(),
        settings: settings.clone(),
    });
    b.runs.send(RunMsg::Init {
        caps,
        root,
        settings,
    });
    InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(caps.enc.kind()),
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                        include_text: Some(false),
                    })),
                    ..TextDocumentSyncOptions::default()
                },
            )),
            diagnostic_provider: caps.pull.then(|| {
                DiagnosticServerCapabilities::Options(DiagnosticOptions {
                    identifier: Some("kiln".into()),
                    inter_file_dependencies: false,
                    workspace_diagnostics: false,
                    ..DiagnosticOptions::default()
                })
            }),
            code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                code_action_kinds: Some(vec![
                    CodeActionKind::QUICKFIX,
                    CodeActionKind::new(FIX_ALL_KIND),
                    CodeActionKind::REFACTOR_REWRITE,
                ]),
                resolve_provider: Some(false),
                ..CodeActionOptions::default()
            })),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            code_lens_provider: Some(CodeLensOptions {
                resolve_provider: Some(false),
            }),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: commands::ALL.iter().map(|c| (*c).to_owned()).collect(),
                ..ExecuteCommandOptions::default()
            }),
            ..ServerCapabilities::default()
        },
        server_info: Some(ServerInfo {
            name: "kiln-lsp".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        offset_encoding: None,
    }
}

#[allow(deprecated)] // root_uri is the fallback for clients without workspace folders
fn root_of(params: &InitializeParams) -> Option<PathBuf> {
    params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| &f.uri)
        .or(params.root_uri.as_ref())
        .and_then(Uri::to_file_path)
        .map(std::borrow::Cow::into_owned)
}
