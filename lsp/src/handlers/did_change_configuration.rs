//! `workspace/didChangeConfiguration`: settings pushed with the notification are applied;
//! an empty push (the pull model) makes the server ask with `workspace/configuration`.

use tower_lsp_server::ls_types::{DidChangeConfigurationParams, MessageType};

use crate::documents::{Msg, Out};
use crate::runs::RunMsg;
use crate::server::Backend;
use crate::settings::Settings;

pub(crate) async fn handle(b: &Backend, params: DidChangeConfigurationParams) {
    let pushed = params.settings.get("kiln").is_some()
        || params.settings.is_object()
            && !params
                .settings
                .as_object()
                .is_some_and(serde_json::Map::is_empty);
    if pushed {
        match Settings::from_json(&params.settings) {
            Ok(s) => {
                b.runs.send(RunMsg::Settings(s.clone()));
                b.docs.send(Msg::Settings(s));
            }
            Err(e) => {
                let _ = b
                    .out
                    .send(Out::Message(MessageType::WARNING, format!("kiln: {e}")));
            }
        }
    } else if b.caps().configuration {
        super::initialized::pull_settings(b).await;
    }
}
