//! The `kiln/status` notification: the server's health for a status-bar item.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    Ok,
    Warning,
    Error,
}

/// The params of `kiln/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Status {
    pub health: Health,
    /// A run is in progress.
    pub busy: bool,
    pub message: String,
    /// A command that fixes the problem (e.g. opening the config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Status {
    pub(crate) fn ok() -> Self {
        Self {
            health: Health::Ok,
            busy: false,
            message: "kiln: ready".into(),
            command: None,
        }
    }

    pub(crate) fn warning(message: &str, command: Option<&str>) -> Self {
        Self {
            health: Health::Warning,
            busy: false,
            message: message.into(),
            command: command.map(Into::into),
        }
    }

    pub(crate) fn error(message: &str, command: Option<&str>) -> Self {
        Self {
            health: Health::Error,
            ..Self::warning(message, command)
        }
    }
}

/// The notification type.
pub(crate) enum KilnStatus {}

impl Notification for KilnStatus {
    type Params = Status;
    const METHOD: &'static str = "kiln/status";
}
