//! Scripted replies of the test model server: what to send ([`Reply`]), what to break
//! ([`Fault`]), and which reply answers a request (the script queue, a `#kiln-test` directive
//! in the prompt, else an echo).

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the server does with one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reply {
    /// HTTP status; 0 means 200.
    pub status: u16,
    /// A `Retry-After` header value.
    pub retry_after: Option<String>,
    /// The body of a non-200 reply (a JSON error body when absent).
    pub error_body: Option<String>,
    /// Text deltas, one event each.
    pub chunks: Vec<String>,
    /// Instead of `chunks`: this many generated deltas (`w0 `, `w1 `, ...).
    pub chunks_n: Option<u64>,
    /// Instead of `chunks`: a reply of this many bytes, in 1 KiB deltas.
    pub huge_bytes: Option<u64>,
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
    /// Wait before sending anything (the status line included).
    pub first_byte_delay_ms: u64,
    /// Wait between deltas.
    pub chunk_delay_ms: u64,
    /// Go wrong after the deltas.
    pub fault: Option<Fault>,
    /// Answer with one JSON document even when the request asked for a stream, as some
    /// OpenAI-compatible servers and proxies do.
    pub non_streaming: bool,
    /// End as a reply cut at `max_tokens` does (`finish_reason: "length"`, `stop_reason:
    /// "max_tokens"`) instead of a normal stop.
    pub truncated: bool,
}

/// Ways a streamed reply goes wrong after its deltas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Close the connection mid-stream (no end marker, unterminated chunked body).
    Cut,
    /// Send an event whose JSON does not parse.
    InvalidJson,
    /// Send the provider's error event.
    ErrorEvent(String),
    /// Stop sending but keep the connection open.
    Stall,
}

impl Reply {
    /// A reply streamed one word per delta.
    pub fn text(text: &str) -> Self {
        Self {
            chunks: text.split_inclusive(' ').map(str::to_owned).collect(),
            ..Self::default()
        }
    }

    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    pub fn usage(mut self, tokens_in: u64, tokens_out: u64) -> Self {
        self.tokens_in = Some(tokens_in);
        self.tokens_out = Some(tokens_out);
        self
    }

    pub fn first_byte_delay(mut self, ms: u64) -> Self {
        self.first_byte_delay_ms = ms;
        self
    }

    pub fn chunk_delay(mut self, ms: u64) -> Self {
        self.chunk_delay_ms = ms;
        self
    }

    pub fn truncated(mut self) -> Self {
        self.truncated = true;
        self
    }

    pub(super) fn deltas(&self) -> Box<dyn Iterator<Item = String> + Send> {
        if let Some(n) = self.chunks_n {
            return Box::new((0..n).map(|i| format!("w{i} ")));
        }
        if let Some(bytes) = self.huge_bytes {
            let line = "x".repeat(1023) + "\n";
            let full = bytes / 1024;
            let rest = (bytes % 1024) as usize;
            return Box::new(
                (0..full)
                    .map(move |_| line.clone())
                    .chain((rest > 0).then(|| "y".repeat(rest))),
            );
        }
        Box::new(self.chunks.clone().into_iter())
    }
}

/// The reply for a request `body`: the next scripted one, else a `#kiln-test {...}` line of the
/// last user message, else an echo of that message.
pub(super) fn next_reply(script: &Mutex<VecDeque<Reply>>, body: &Value) -> Reply {
    if let Some(r) = script.lock().unwrap().pop_front() {
        return r;
    }
    let last_user = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    for line in last_user.lines() {
        if let Some(directive) = line.trim().strip_prefix("#kiln-test ")
            && let Ok(reply) = serde_json::from_str::<Reply>(directive)
        {
            return reply;
        }
    }
    Reply::text(&format!("echo: {last_user}"))
}
