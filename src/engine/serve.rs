//! Serves a generated app as a long-running sandboxed service reachable on a host port.
//!
//! The sandbox keeps its own network namespace; kiln forwards connections itself:
//!
//! 1. the engine binds `127.0.0.1:HOST_PORT` on the host ([`bind`]) and starts a sandbox run
//!    whose program is the kiln binary's hidden forwarder ([`forward_main`]), with the app's
//!    command after it, `PORT`/`HOST` in its environment, the project bound read-only and a
//!    socket directory bound read-write;
//! 2. inside, the forwarder starts the app and listens on a unix socket in that directory;
//! 3. each host connection is relayed to that socket, and the forwarder relays it to
//!    `127.0.0.1:APP_PORT` inside the namespace ([`service`]).
//!
//! Invariants: only inbound connections to the served port cross the boundary; nothing inside
//! can connect out (no interface but the namespace's own loopback); the service dies with the
//! run (when kiln exits or is killed, the sandbox's lifeline closes and its pid 1 kills all).

pub mod files;
pub mod forward;
pub mod infer;
pub mod service;

pub use files::{materialise, run_files};
pub use forward::{FORWARD_ARG, ForwardArgs, forward_main};
pub use infer::{Inferred, infer};
pub use service::{Health, Prepared, ServeSpec, Service, bind, process_start};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "port {port} on 127.0.0.1 is already in use; pick another with --port, or leave --port out for a free one"
    )]
    PortTaken { port: u16 },
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Listen { port: u16, source: std::io::Error },
    #[error("serve: {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot serve the run's files: {message}")]
    RunFiles { message: String },
    #[error(transparent)]
    Sandbox(#[from] crate::engine::sandbox::Error),
}
