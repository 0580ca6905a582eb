//! kiln: the engine library behind the `kiln` dashboard, CLI and the `kiln-lsp` language server.
//!
//! Everything that is policy lives in [`engine`]; front-ends only translate input into engine
//! calls and engine results into pixels, text or protocol messages.

pub mod engine;
