//! Helpers shared by integration tests (`mod support;`). Cargo would build a `tests/support.rs`
//! as a test crate of its own, hence the one `mod.rs` in the tree.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod kiln;
pub mod llm_server;
