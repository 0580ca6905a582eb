//! Starting the engine and its owner loop.
//!
//! [`Engine::start`] opens the store writer and the change-feed forwarder and spawns the owner
//! task on the caller's tokio runtime. The owner applies operations in the order they were
//! submitted: quick ones (cancel, shutdown) it applies itself; each long one becomes a task with
//! its own cancellation token, reporting through the bus. The owner alone knows which operation
//! owns which run, so `CancelRun` from any front-end reaches the right task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::ask::ask;
use super::check::{check_project, record_check};
use super::export::export_run;
use super::feed::FeedForwarder;
use super::feedback::add_feedback;
use super::op::Op;
use super::resume_run::resume_run;
use super::retry_stage::retry_stage;
use super::sandbox_run::run_sandbox;
use super::start_run::start_run;
use crate::engine::config::Config;
use crate::engine::context::{Bus, Event, Events, Internal, OpContext, Shared};
use crate::engine::env::Env;
use crate::engine::ids::{OpId, RunId};
use crate::engine::paths::Paths;
use crate::engine::sandbox::Sandbox;
use crate::engine::store::{self, Store, StoreWriter};
use crate::engine::{Error, Result};

/// How long `Shutdown` waits for cancelled tasks to record their end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the engine needs from its front-end, resolved once.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub paths: Paths,
    pub config: Config,
    pub env: Env,
    /// A binary whose `main` calls `sandbox::init_main` when started with `sandbox::INIT_ARG`
    /// (the `kiln` and `kiln-lsp` binaries do): the sandbox's init.
    pub init_program: PathBuf,
}

/// The engine, started.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Opens the store and starts the engine on the current tokio runtime.
    pub fn start(options: EngineOptions) -> Result<EngineHandle> {
        Self::start_with(options, true)
    }

    /// Like [`Engine::start`], without the change feed: for one command that needs no other
    /// process's commits (`kiln sandbox run`), so it saves the feed's connection and its
    /// polling. No `StoreChanged` events; cross-process cancel still works (it is polled).
    pub fn start_without_feed(options: EngineOptions) -> Result<EngineHandle> {
        Self::start_with(options, false)
    }

    fn start_with(options: EngineOptions, watch_store: bool) -> Result<EngineHandle> {
        let EngineOptions {
            paths,
            config,
            env,
            init_program,
        } = options;
        let store = Store::open(&paths.db, &config.store)?;
        // Opening for writing marked the runs whose owning process died: resumable now.
        let interrupted: Vec<RunId> = store
            .interrupted_at_open()
            .iter()
            .map(|&id| RunId(id))
            .collect();
        let writer = StoreWriter::start(store).map_err(|e| store::Error::Io {
            path: paths.db.clone(),
            source: e,
        })?;
        let bus = Bus::new();
        let feed = if watch_store {
            Some(FeedForwarder::start(
                &paths.db,
                &config.store,
                writer.own_changes().clone(),
                bus.clone(),
            )?)
        } else {
            None
        };
        let sandbox = Sandbox::new(init_program, env.get("TMPDIR").unwrap_or("/tmp"));
        let shared = Arc::new(Shared::new(
            bus.clone(),
            writer,
            config,
            env,
            paths,
            sandbox,
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let owner = Owner::new(shared, feed);
        let join = tokio::spawn(owner.run(rx));
        Ok(EngineHandle {
            tx,
            bus,
            next_op: Arc::new(AtomicU64::new(1)),
            join: Arc::new(Mutex::new(Some(join))),
            interrupted: interrupted.into(),
        })
    }
}

/// A front-end's handle: submit operations, subscribe to events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<(OpId, Op)>,
    bus: Bus,
    next_op: Arc<AtomicU64>,
    join: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    interrupted: Arc<[RunId]>,
}

impl EngineHandle {
    /// Runs this engine found `interrupted` when it started (their process died): a front-end
    /// says so and offers `Op::ResumeRun`.
    pub fn interrupted_at_start(&self) -> &[RunId] {
        &self.interrupted
    }

    /// Queues `op` and returns its id at once (never blocks, so LSP handlers can enqueue before
    /// their first `.await`). Subscribe before submitting to see every event of the operation.
    pub fn submit(&self, op: Op) -> OpId {
        let id = OpId(self.next_op.fetch_add(1, Ordering::Relaxed));
        if self.tx.send((id, op)).is_err() {
            // The owner has stopped: say so on the bus, as for any failed operation.
            self.bus.emit(
                Some(id),
                None,
                Event::OpFailed {
                    op: "submit",
                    error: Error::Stopped.to_string(),
                },
            );
        }
        id
    }

    /// Every event sent from now on.
    pub fn subscribe(&self) -> Events {
        self.bus.subscribe()
    }

    /// Cancels everything, waits for the tasks to record their end and closes the store.
    pub async fn shutdown(&self) {
        self.submit(Op::Shutdown);
        if let Some(join) = self.join.lock().await.take() {
            let _ = join.await;
        }
    }
}

/// The single task that applies operations.
struct Owner {
    shared: Arc<Shared>,
    feed: Option<FeedForwarder>,
    ops: HashMap<OpId, CancellationToken>,
    runs: HashMap<RunId, OpId>,
    tasks: JoinSet<OpId>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    internal_rx: mpsc::UnboundedReceiver<Internal>,
}

impl Owner {
    fn new(shared: Arc<Shared>, feed: Option<FeedForwarder>) -> Self {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        Self {
            shared,
            feed,
            ops: HashMap::new(),
            runs: HashMap::new(),
            tasks: JoinSet::new(),
            internal_tx,
            internal_rx,
        }
    }

    async fn run(mut self, mut ops: mpsc::UnboundedReceiver<(OpId, Op)>) {
        loop {
            // Claims first: a `CancelRun` sent on seeing `RunCreated` must find its run,
            // and the claim was sent before that event.
            tokio::select! {
                biased;
                Some(message) = self.internal_rx.recv() => match message {
                    Internal::ClaimRun { op, run } => {
                        self.runs.insert(run, op);
                    }
                },
                received = ops.recv() => {
                    let Some((id, op)) = received else { break };
                    if matches!(op, Op::Shutdown) {
                        break;
                    }
                    self.apply(id, op);
                }
                Some(done) = self.tasks.join_next() => {
                    if let Ok(op) = done {
                        self.ops.remove(&op);
                        self.runs.retain(|_, owner| *owner != op);
                    }
                }
            }
        }
        self.shutdown().await;
    }

    fn apply(&mut self, id: OpId, op: Op) {
        let span = tracing::info_span!("op", op = %id, kind = op.name());
        let bus = &self.shared.bus;
        match op {
            Op::CancelRun { run } => {
                let _enter = span.enter();
                match self.runs.get(&run).and_then(|op| self.ops.get(op)) {
                    Some(token) => {
                        tracing::info!(%run, "cancelling");
                        token.cancel();
                        bus.emit(Some(id), Some(run), Event::OpDone);
                    }
                    // Not ours: ask its owner, in whichever process, through the store.
                    None => self.spawn(id, span.clone(), move |ctx| cancel_elsewhere(ctx, run)),
                }
            }
            Op::Ask(params) => self.spawn(id, span, |ctx| ask(ctx, params)),
            Op::CheckProject(params) => self.spawn(id, span, |ctx| check_project(ctx, params)),
            Op::RunSandbox(params) => self.spawn(id, span, |ctx| run_sandbox(ctx, params)),
            Op::RecordCheck(params) => self.spawn(id, span, |ctx| record_check(ctx, params)),
            Op::ExportRun(params) => self.spawn(id, span, |ctx| export_run(ctx, params)),
            Op::AddFeedback(params) => self.spawn(id, span, |ctx| add_feedback(ctx, params)),
            Op::StartRun(params) => self.spawn(id, span, |ctx| start_run(ctx, params)),
            Op::RetryStage { run, stage } => {
                self.spawn(id, span, move |ctx| retry_stage(ctx, run, stage));
            }
            Op::ResumeRun { run } => self.spawn(id, span, move |ctx| resume_run(ctx, run)),
            Op::Shutdown => {}
        }
    }

    /// Runs a long operation as its own task; it ends with `OpDone` or `OpFailed`.
    fn spawn<F, Fut>(&mut self, id: OpId, span: tracing::Span, handler: F)
    where
        F: FnOnce(OpContext) -> Fut,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        self.ops.insert(id, cancel.clone());
        let ctx = OpContext {
            op: id,
            cancel,
            shared: self.shared.clone(),
            internal: self.internal_tx.clone(),
        };
        let bus = self.shared.bus.clone();
        let name = span.metadata().map_or("op", |m| m.name());
        let future = handler(ctx);
        self.tasks.spawn(
            async move {
                match future.await {
                    Ok(()) => bus.emit(Some(id), None, Event::OpDone),
                    Err(e) => {
                        tracing::warn!("{e}");
                        bus.emit(
                            Some(id),
                            None,
                            Event::OpFailed {
                                op: name,
                                error: crate::engine::llm::error_chain(&e),
                            },
                        );
                    }
                }
                id
            }
            .instrument(span),
        );
    }

    async fn shutdown(mut self) {
        for token in self.ops.values() {
            token.cancel();
        }
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!("tasks still running after {SHUTDOWN_GRACE:?}; stopping anyway");
            self.tasks.abort_all();
        }
        self.shared.bus.emit(None, None, Event::ShuttingDown);
        let writer = self.shared.writer.clone();
        let feed = self.feed.take();
        // The one write connection (the model client records through it too), so a
        // short-lived process leaves its database checkpointed.
        let _ = tokio::task::spawn_blocking(move || {
            drop(feed);
            writer.close();
        })
        .await;
    }
}

/// `CancelRun` for a run this process does not own: stores the request its owner polls for.
async fn cancel_elsewhere(ctx: OpContext, run: RunId) -> Result<()> {
    let id = run.get();
    let asked = ctx.write(move |s| s.request_cancel(id)).await?;
    if asked {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "run {run} is not running; nothing to cancel"
        )))
    }
}
