//! kiln-lsp: kiln's language server. Diagnostics from the analysis engine's incremental
//! documents, quick fixes, hover explanations, and model actions run by the engine as recorded
//! pipeline runs, over stdio.
//!
//! Shape: [`serve`] wires the robust stdio `transport` to tower-lsp-server's `Server`, whose
//! handlers (`server`, `handlers/`) only enqueue messages to two owners: the documents thread
//! (`documents`) and the runs task (`runs`). Everything the server sends unprompted goes
//! through the one `outbox` queue, in order.

mod caps;
mod commands;
mod convert;
mod documents;
mod errors;
mod feedback;
mod functions;
mod handlers;
mod outbox;
mod runs;
mod server;
mod settings;
mod status;
mod transport;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kiln::engine::env::Env;
use kiln::engine::paths::Paths;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tower_lsp_server::{LspService, Server};

use crate::documents::{Documents, Msg};
use crate::runs::{Process, Runs};
use crate::server::Backend;

/// What the process gives the server, resolved once in `main`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub env: Env,
    /// `None` when no home directory is known: analysis works, runs report the problem.
    pub paths: Option<Paths>,
    /// This binary (the sandbox init of its engine).
    pub init_program: PathBuf,
}

/// How long the server waits for in-flight requests after the client closed its input.
const DRAIN_AFTER_EOF: Duration = Duration::from_millis(300);
/// How long runs get to record their cancellation on the way out.
const STOP_RUNS: Duration = Duration::from_millis(800);

/// Serves one client on `input`/`output` until it sends `exit` or closes `input`; then
/// cancels the runs and returns.
pub async fn serve<I, O>(input: I, output: O, options: ServeOptions)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let caps = Arc::new(OnceLock::new());
    let user_config = options.paths.as_ref().map(Paths::user_config);
    let docs = Documents::start(options.env.clone(), user_config, out_tx.clone());
    let process = Process {
        env: options.env,
        paths: options.paths,
        init_program: options.init_program,
    };
    let mut runs_handle = None;
    let (service, socket) = LspService::build(|client| {
        let runs = Runs::start(client.clone(), docs.clone(), out_tx.clone(), process);
        let for_refresh = caps.clone();
        tokio::spawn(outbox::run(client.clone(), out_rx, move || {
            for_refresh
                .get()
                .is_some_and(|c: &caps::ClientCaps| c.diagnostic_refresh)
        }));
        runs_handle = Some(runs.clone());
        Backend {
            client,
            docs: docs.clone(),
            runs,
            caps: caps.clone(),
            out: out_tx.clone(),
        }
    })
    .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
    .custom_method("kiln/stats", Backend::stats)
    .finish();

    let (server_in, server_reads) = tokio::io::duplex(1 << 20);
    let (server_writes, server_out) = tokio::io::duplex(1 << 20);
    let (frames_tx, frames_rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(transport::filter_input(input, server_in, frames_tx.clone()));
    tokio::spawn(transport::pump_output(server_out, frames_tx));
    let writer = tokio::spawn(transport::write_output(output, frames_rx));
    let server = Server::new(server_reads, server_writes, socket).serve(service);
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => tracing::info!("the client sent exit"),
        _ = reader => {
            let _ = tokio::time::timeout(DRAIN_AFTER_EOF, &mut server).await;
        }
    }
    if let Some(runs) = runs_handle {
        let _ = tokio::time::timeout(STOP_RUNS, runs.shutdown()).await;
    }
    docs.send(Msg::Stop);
    let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
}
