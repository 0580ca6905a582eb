//! The engine API every front-end uses: operations in, events out.
//!
//! ```text
//! let engine = Engine::start(EngineOptions { paths, config, env, init_program })?;
//! let mut events = engine.subscribe();        // every event from now on
//! let op = engine.submit(Op::Ask(params));    // returns at once
//! while let Some(e) = events.next().await { if e.op == Some(op) { ... } }
//! ```
//!
//! Invariants: every state change is committed to the store before its event is sent; events
//! of one run or one operation arrive in order; each operation ends with exactly one
//! [`Event::OpDone`] or [`Event::OpFailed`]; a slow subscriber gets [`Event::Resync`] instead
//! of slowing the engine; what other processes commit arrives as [`Event::StoreChanged`].
//! Front-ends read the store directly through their own read-only connections
//! ([`Store::open_read_only`](crate::engine::store::Store::open_read_only)); only the engine
//! writes.

mod ask;
mod check;
mod engine;
mod export;
mod feed;
mod feedback;
mod lifecycle;
mod op;
mod project;
mod resume_run;
mod retry_stage;
mod sandbox_run;
mod start_run;

pub use crate::engine::context::{
    CAPACITY, Envelope, Event, Events, ExportFile, FileChange, LogEntry,
};
pub use engine::{Engine, EngineHandle, EngineOptions};
pub use op::{
    AskParams, AutoExport, CheckParams, ExportMode, ExportParams, FeedbackParams, Op, Origin,
    ProjectRef, RecordCheckParams, SandboxParams, StartRunParams,
};
