//! One error type for the whole engine, wrapping each module's own error enum.

/// Any error the engine reports to a front-end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Store(#[from] super::store::Error),
    #[error(transparent)]
    Config(#[from] super::config::Error),
    #[error(transparent)]
    Sandbox(#[from] super::sandbox::Error),
    #[error(transparent)]
    Analysis(#[from] super::analysis::Error),
    #[error(transparent)]
    Llm(#[from] super::llm::Error),
    #[error(transparent)]
    Toolchain(#[from] super::toolchain::Error),
    #[error(transparent)]
    Export(#[from] super::export::Error),
    #[error(transparent)]
    Pipeline(#[from] super::pipeline::Error),
    #[error("the engine has stopped")]
    Stopped,
    #[error("{0}")]
    Unsupported(String),
}

impl From<super::store::WriteError> for Error {
    fn from(e: super::store::WriteError) -> Self {
        match e {
            super::store::WriteError::Store(e) => Self::Store(e),
            super::store::WriteError::Stopped => Self::Stopped,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
