//! An engine session for one CLI command: starts the engine on a runtime of its own, submits
//! operations and waits for their end, forwarding Ctrl-C as `CancelRun` for the run the
//! operation created. Commands stay thin adapters: policy lives in the engine.

use anyhow::Context as _;
use kiln::engine::api::{Envelope, Event, Events, Op};
use kiln::engine::ids::RunId;
use kiln::engine::{Engine, EngineHandle, EngineOptions};

use super::Context;

/// How an operation ended.
pub(crate) struct Finished {
    pub(crate) events: Vec<Envelope>,
    /// The run the operation created or worked on.
    pub(crate) run: Option<RunId>,
    /// The engine's message when the operation failed.
    pub(crate) failed: Option<String>,
}

pub(crate) struct Session {
    rt: tokio::runtime::Runtime,
    handle: EngineHandle,
    events: Events,
}

impl Session {
    pub(crate) fn start(ctx: &Context) -> anyhow::Result<Self> {
        // Creates the default data directory and migrates before the engine opens the store.
        drop(ctx.open_store()?);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let init_program = std::env::current_exe().context("cannot find the kiln executable")?;
        let options = EngineOptions {
            paths: ctx.paths.clone(),
            config: ctx.config.config.clone(),
            env: ctx.env.clone(),
            init_program,
        };
        let handle = rt.block_on(async { Engine::start(options) })?;
        let events = handle.subscribe();
        Ok(Self { rt, handle, events })
    }

    /// Submits `op` and calls `on_event` for each of its events until it ends. Ctrl-C cancels
    /// its run.
    pub(crate) fn run(
        &mut self,
        op: Op,
        mut on_event: impl FnMut(&Envelope),
    ) -> anyhow::Result<Finished> {
        let handle = self.handle.clone();
        let events = &mut self.events;
        self.rt.block_on(async move {
            let id = handle.submit(op);
            let mut seen = Vec::new();
            let mut run: Option<RunId> = None;
            let mut cancelled = false;
            loop {
                let next = tokio::select! {
                    e = events.next() => e,
                    _ = tokio::signal::ctrl_c(), if !cancelled => {
                        cancelled = true;
                        if let Some(run) = run {
                            eprintln!("kiln: cancelling run {run}");
                            handle.submit(Op::CancelRun { run });
                        }
                        continue;
                    }
                };
                let Some(e) = next else {
                    anyhow::bail!("the engine stopped before the operation ended");
                };
                if e.op != Some(id) {
                    continue;
                }
                if run.is_none() {
                    run = e.run;
                }
                on_event(&e);
                let failed = match &e.event {
                    Event::OpDone => None,
                    Event::OpFailed { error, .. } => Some(error.clone()),
                    _ => {
                        seen.push(e);
                        continue;
                    }
                };
                return Ok(Finished {
                    events: seen,
                    run,
                    failed,
                });
            }
        })
    }

    /// Stops the engine (finishing its writes).
    pub(crate) fn finish(self) {
        let handle = self.handle;
        self.rt.block_on(async move { handle.shutdown().await });
    }
}
