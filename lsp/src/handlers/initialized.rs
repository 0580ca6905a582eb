//! `initialized`: lets held notifications flow, watches `kiln.toml` and asks for the `kiln`
//! settings section when the client supports `workspace/configuration`.

use tower_lsp_server::ls_types::{
    ConfigurationItem, DidChangeWatchedFilesRegistrationOptions, FileSystemWatcher, GlobPattern,
    InitializedParams, MessageType, Registration,
};

use crate::documents::{Msg, Out};
use crate::runs::RunMsg;
use crate::server::Backend;
use crate::settings::Settings;

pub(crate) async fn handle(b: &Backend, _: InitializedParams) {
    let _ = b.out.send(Out::Ready);
    let caps = b.caps();
    if caps.watch_files {
        let options = DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![FileSystemWatcher {
                glob_pattern: GlobPattern::String("**/kiln.toml".into()),
                kind: None,
            }],
        };
        let registration = Registration {
            id: "kiln-toml".into(),
            method: "workspace/didChangeWatchedFiles".into(),
            register_options: serde_json::to_value(options).ok(),
        };
        if let Err(e) = b.client.register_capability(vec![registration]).await {
            tracing::warn!("the client refused the kiln.toml watcher: {e}");
        }
    }
    if caps.configuration {
        pull_settings(b).await;
    }
}

/// Asks the client for the `kiln` section and applies it.
pub(crate) async fn pull_settings(b: &Backend) {
    let item = ConfigurationItem {
        scope_uri: None,
        section: Some("kiln".into()),
    };
    match b.client.configuration(vec![item]).await {
        Ok(values) => {
            let Some(value) = values.first() else { return };
            match Settings::from_json(value) {
                Ok(s) => {
                    // Both owners: the runs take the models and sandbox limits from it.
                    b.runs.send(RunMsg::Settings(s.clone()));
                    b.docs.send(Msg::Settings(s));
                }
                Err(e) => {
                    let _ = b
                        .out
                        .send(Out::Message(MessageType::WARNING, format!("kiln: {e}")));
                }
            }
        }
        Err(e) => tracing::debug!("workspace/configuration failed: {e}"),
    }
}
