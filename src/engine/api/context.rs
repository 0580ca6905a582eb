//! What an operation's task gets: its id and cancellation token, the engine's shared,
//! read-only state (config, environment, paths, the store writer, the sandbox, the model
//! client) and a way to emit events and to tell the engine which run it owns.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::bus::Bus;
use super::event::Event;
use super::op::ProjectRef;
use crate::engine::config::Config;
use crate::engine::env::Env;
use crate::engine::ids::{OpId, ProjectId, RunId, StageId};
use crate::engine::llm::{self, Llm, Recorder};
use crate::engine::paths::Paths;
use crate::engine::sandbox::Sandbox;
use crate::engine::store::{self, Store, StoreWriter, WriteError};

/// The engine's state every task may read; nothing in it changes after start.
pub(crate) struct Shared {
    pub(crate) bus: Bus,
    pub(crate) writer: StoreWriter,
    pub(crate) config: Config,
    pub(crate) env: Env,
    pub(crate) paths: Paths,
    pub(crate) sandbox: Sandbox,
    /// Limits on concurrent pipeline runs and model calls.
    pub(crate) pipeline: crate::engine::pipeline::Limits,
    /// The model client and its recording thread, made on first use.
    llm: OnceLock<(Arc<Llm>, Recorder)>,
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
        let pipeline = crate::engine::pipeline::Limits::new(&config.pipeline);
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

    /// The model client's recording thread, if a model was used (closed at shutdown).
    pub(crate) fn recorder(&self) -> Option<Recorder> {
        self.llm.get().map(|(_, recorder)| recorder.clone())
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
        if let Some((llm, _)) = self.shared.llm.get() {
            return Ok(llm.clone());
        }
        let shared = &self.shared;
        let recorder = Recorder::open(&shared.paths.db, &shared.config.store)?;
        let llm = Arc::new(Llm::new(
            shared.config.models.clone(),
            shared.env.clone(),
            Some(recorder.clone()),
        )?);
        Ok(shared.llm.get_or_init(|| (llm, recorder)).0.clone())
    }

    /// The project `reference` names, if any.
    pub(crate) async fn project(
        &self,
        reference: Option<&ProjectRef>,
    ) -> Result<Option<ProjectId>, WriteError> {
        let Some(reference) = reference.cloned() else {
            return Ok(None);
        };
        self.write(move |s| {
            Ok(match reference {
                ProjectRef::Id(id) => Some(s.project_by_id(id.get())?.id.into()),
                ProjectRef::Name(name) => Some(s.project_by_name(&name)?.id.into()),
                ProjectRef::Containing(dir) => {
                    s.project_containing(Path::new(&dir))?.map(|p| p.id.into())
                }
            })
        })
        .await
    }
}
