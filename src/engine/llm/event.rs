//! Progress of a model call that a front-end shows while it waits: [`CallEvent`].
//!
//! A caller that wants them puts a sender in [`ChatRequest::events`](super::ChatRequest); the
//! client sends without waiting and ignores a closed channel, so a slow or absent listener never
//! holds up a call. The engine API forwards them as engine events; `kiln ask` prints them.

use std::fmt;
use std::time::Duration;

/// Where a call's events go.
pub type CallEvents = tokio::sync::mpsc::UnboundedSender<CallEvent>;

/// Something that happened during a call, before its outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// An attempt failed in a way worth retrying; the next starts after `delay`.
    Retrying {
        /// The model's name (config name, or `openai`, `anthropic`, `ollama` when detected).
        model: String,
        /// The retry about to be made, from 1.
        attempt: u32,
        /// `models.retry.max_retries`.
        max: u32,
        delay: Duration,
        reason: RetryReason,
    },
}

/// Why an attempt is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryReason {
    /// The provider answered with this status (429, 5xx, 408, 409).
    Status(u16),
    /// No response headers within the model's `timeout_ms`.
    NoResponse(Duration),
    /// The connection failed (the HTTP library's words, keys scrubbed).
    Connection(String),
}

impl fmt::Display for CallEvent {
    /// `429 from openai, retrying in 1.0 s (1/4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retrying {
                model,
                attempt,
                max,
                delay,
                reason,
            } => {
                match reason {
                    RetryReason::Status(status) => write!(f, "{status} from {model}")?,
                    RetryReason::NoResponse(wait) => write!(
                        f,
                        "no response from {model} within {:.1} s",
                        wait.as_secs_f64()
                    )?,
                    RetryReason::Connection(why) => write!(f, "cannot reach {model} ({why})")?,
                }
                write!(
                    f,
                    ", retrying in {:.1} s ({attempt}/{max})",
                    delay.as_secs_f64()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrying_reads_as_one_line() {
        let event = CallEvent::Retrying {
            model: "openai".into(),
            attempt: 1,
            max: 4,
            delay: Duration::from_secs(1),
            reason: RetryReason::Status(429),
        };
        assert_eq!(
            event.to_string(),
            "429 from openai, retrying in 1.0 s (1/4)"
        );
    }
}
