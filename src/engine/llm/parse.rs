//! Placeholder until prompts land.

/// Errors of prompt loading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {}
