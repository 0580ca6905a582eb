//! In-process protocol tests: the real server over in-memory pipes, every capability, JSON
//! replies snapshotted; each test reads every message the server sent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    unreachable_pub
)]

mod actions;
mod client;
mod commands;
mod diagnostics;
mod handshake;
#[path = "../../../tests/it/support/llm_server.rs"]
mod llm_server;
mod pipeline;
mod robustness;
