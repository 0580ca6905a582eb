//! What an operation's task gets: its id and cancellation token, the engine's shared,
//! read-only state (config, environment, paths, the store writer, the sandbox, the model
//! client) and a way to emit events and to tell the engine which run it owns.
//!
//! A leaf below both the engine API and the pipeline: `api` builds contexts and runs the
//! operations, the pipeline's runner works through one, and neither is imported from here,
//! so imports point down (`api` → `pipeline` → `context`). The events and their bus live here
//! for the same reason; `api` re-exports them as its public surface.

mod bus;
mod event;

use std::sync::{Arc, OnceLock};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

pub(crate) use bus::Bus;
pub use bus::{CAPACITY, Events};
pub use event::{Envelope, Event, ExportFile, FileChange, LogEntry};

use crate::engine::config::Config;
use crate::engine::config::pipeline::PipelineConfig;
use crate::engine::env::Env;
use crate::engine::ids::{OpId, RunId, StageId};
use crate::engine::llm::{self, Llm, Recorder};
use crate::engine::paths::Paths;
use crate::engine::sandbox::Sandbox;
use crate::engine::store::{self, Store, StoreWriter, WriteError};

/// Per-process limits on pipeline runs and model calls.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) runs: Arc<Semaphore>,
    pub(crate) calls: Arc<Semaphore>,
}

impl Limits {
    pub(crate) fn new(config: &PipelineConfig) -> Self {
        Self {
            runs: Arc::new(Semaphore::new(config.max_concurrent_runs.max(1))),
            calls: Arc::new(Semaphore::new(config.max_concurrent_model_calls.max(1))),
        }
    }
}

/// The engine's state every task may read; nothing in it changes after start.
pub(crate) struct Shared {
    pub(crate) bus: Bus,
    pub(crate) writer: StoreWriter,
    pub(crate) config: Config,
    pub(crate) env: Env,
    pub(crate) paths: Paths,
    pub(crate) sandbox: Sandbox,
    /// Limits on concurrent pipeline runs and model calls.
    pub(crate) pipeline: Limits,
    /// The model client, made on first use; it records through `writer`.
    llm: OnceLock<Arc<Llm>>,
}

impl Shared {
    pub(crate) fn new(
        bus: Bus,
        writer: StoreWriter,
        config: Config,
        env: Env,
        paths: Paths,
        sandbox: Sandbox,
    ) -> Self {
        let pipeline = Limits::new(&config.pipeline);
        Self {
            bus,
            writer,
            pipeline,
            config,
            env,
            paths,
            sandbox,
            llm: OnceLock::new(),
        }
    }
}

/// Messages from tasks to the engine's owner loop.
#[derive(Debug)]
pub(crate) enum Internal {
    /// The operation created (or took over) this run: cancelling the run cancels it.
    ClaimRun { op: OpId, run: RunId },
}

/// One operation's view of the engine.
#[derive(Clone)]
pub(crate) struct OpContext {
    pub(crate) op: OpId,
    pub(crate) cancel: CancellationToken,
    pub(crate) shared: Arc<Shared>,
    pub(crate) internal: mpsc::UnboundedSender<Internal>,
}

impl OpContext {
    /// Sends an event tagged with this operation. Call it after the change it reports is
    /// committed.
    pub(crate) fn emit(&self, run: Option<RunId>, event: Event) {
        self.shared.bus.emit(Some(self.op), run, event);
    }

    /// Cancelling `run` (from any front-end) will now cancel this operation.
    pub(crate) fn claim_run(&self, run: RunId) {
        let _ = self.internal.send(Internal::ClaimRun { op: self.op, run });
    }

    /// Runs `f` on the store writer thread.
    pub(crate) async fn write<R, F>(&self, f: F) -> Result<R, WriteError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> store::Result<R> + Send + 'static,
    {
        self.shared.writer.call(f).await
    }

    /// A sink for a model call's progress that forwards it as engine events of `run`.
    pub(crate) fn call_events(&self, run: RunId, stage: Option<StageId>) -> llm::CallEvents {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ctx = self.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let llm::CallEvent::Retrying {
                    model,
                    attempt,
                    max,
                    delay,
                    ..
                } = &event;
                ctx.emit(
                    Some(run),
                    Event::ModelRetrying {
                        stage,
                        model: model.clone(),
                        attempt: *attempt,
                        max_attempts: *max,
                        delay_ms: delay.as_millis() as u64,
                        reason: event.to_string(),
                    },
                );
            }
        });
        tx
    }

    /// The model client, made on first use (recording into the store).
    pub(crate) fn llm(&self) -> Result<Arc<Llm>, llm::Error> {
        if let Some(llm) = self.shared.llm.get() {
            return Ok(llm.clone());
        }
        let shared = &self.shared;
        let llm = Arc::new(Llm::new(
            shared.config.models.clone(),
            shared.env.clone(),
            Some(Recorder::from_writer(shared.writer.clone())),
        )?);
        Ok(shared.llm.get_or_init(|| llm).clone())
    }
}
