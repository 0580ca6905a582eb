//! The one task that sends the owners' output to the client, in the order it was queued.
//!
//! tower-lsp-server drops notifications sent before `initialized`, so everything queued before
//! [`Out::Ready`] is held and sent after it.

use tokio::sync::mpsc::UnboundedReceiver;
use tower_lsp_server::Client;

use crate::documents::Out;
use crate::status::KilnStatus;

pub(crate) async fn run(
    client: Client,
    mut rx: UnboundedReceiver<Out>,
    refresh_supported: impl Fn() -> bool,
) {
    let mut held = Vec::new();
    while let Some(out) = rx.recv().await {
        if matches!(out, Out::Ready) {
            break;
        }
        held.push(out);
    }
    for out in held {
        send(&client, out, &refresh_supported).await;
    }
    while let Some(out) = rx.recv().await {
        send(&client, out, &refresh_supported).await;
    }
}

async fn send(client: &Client, out: Out, refresh_supported: &impl Fn() -> bool) {
    match out {
        Out::Publish {
            uri,
            version,
            diagnostics,
        } => client.publish_diagnostics(uri, diagnostics, version).await,
        Out::Refresh => {
            if refresh_supported() {
                // The reply is only an acknowledgement; waiting for it would hold the queue.
                let c = client.clone();
                tokio::spawn(async move {
                    let _ = c.workspace_diagnostic_refresh().await;
                });
            }
        }
        Out::Message(kind, text) => client.show_message(kind, text).await,
        Out::Status(status) => client.send_notification::<KilnStatus>(status).await,
        Out::Ready => {}
    }
}
