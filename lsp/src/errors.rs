//! The one place engine and server errors become JSON-RPC errors.

use tower_lsp_server::jsonrpc::{Error, ErrorCode};

/// The documents owner stopped (the server is exiting).
pub(crate) fn stopped() -> Error {
    Error {
        code: ErrorCode::InternalError,
        message: "kiln-lsp is shutting down".into(),
        data: None,
    }
}

/// A request's arguments are not what the command expects.
pub(crate) fn invalid_params(message: impl Into<String>) -> Error {
    Error::invalid_params(message.into())
}

/// A command failed in a way the user can act on.
pub(crate) fn failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(1),
        message: message.into().into(),
        data: None,
    }
}
