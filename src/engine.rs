//! The engine: storage, configuration, sandboxed processes, analysis and model calls.
//!
//! It never touches the terminal or the process environment; front-ends resolve both once and
//! pass what the engine needs (paths, an environment snapshot) down explicitly.

pub mod analysis;
pub mod api;
pub mod config;
pub(crate) mod context;
pub mod doctor;
pub mod env;
pub mod error;
pub mod export;
pub mod fs;
pub mod ids;
pub mod llm;
pub mod paths;
pub mod pipeline;
pub mod project;
pub mod sandbox;
pub mod serve;
pub mod store;
pub mod testing;
pub mod toolchain;
pub mod untrusted;

pub use api::{Engine, EngineHandle, EngineOptions, Envelope, Event, Events, Op};
pub use error::{Error, Result};
