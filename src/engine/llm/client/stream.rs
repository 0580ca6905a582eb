//! Reading one successful response of a [`Call`] to its end marker: server-sent events decoded
//! as they arrive (text goes to the caller at once), or one JSON document from a server that
//! ignored `stream: true`. A stall longer than `timeout_ms`, a reply over [`MAX_REPLY_BYTES`], a
//! bad chunk, a provider error event or a connection that closes early ends the stream with an
//! error that keeps the text so far.

use futures::StreamExt;

use super::super::error_text::{error_chain, redact};
use super::super::provider::{DecodeError, StreamState};
use super::super::sse::{self, InvalidUtf8};
use super::super::{Error, StreamFailure};
use super::call::Call;

/// Replies larger than this on the wire are cut off with an error.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

impl Call<'_> {
    /// Reads `response` to its end marker.
    pub(super) async fn read(&mut self, response: reqwest::Response) -> Result<(), Error> {
        // A server that ignores `stream: true` answers with one JSON document; read it whole.
        let whole_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut whole = Vec::new();
        let mut body = response.bytes_stream();
        let mut parser = sse::Parser::new();
        let mut state = StreamState::default();
        let mut received = 0usize;
        let timeout = self.timeout;
        let provider = self.provider;
        let started = self.started;
        // One timer for the whole stream, pushed forward lazily: re-arming a timer per chunk
        // costs more than parsing the chunk.
        let mut last_data = tokio::time::Instant::now();
        let idle = tokio::time::sleep(timeout);
        tokio::pin!(idle);
        let cancel = self.cancel;
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            let next = tokio::select! {
                biased;
                // Returning drops the body, which closes the connection at once.
                () = &mut cancelled => return Err(self.cancelled()),
                n = body.next() => Ok(n),
                () = &mut idle => {
                    let deadline = last_data + timeout;
                    if deadline > tokio::time::Instant::now() {
                        idle.as_mut().reset(deadline);
                        continue;
                    }
                    Err(())
                }
            };
            last_data = tokio::time::Instant::now();
            let bytes = match next {
                Err(()) => return Err(self.failed(StreamFailure::ReadTimeout(timeout))),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(self.failed(StreamFailure::Cut(error_chain(&e))));
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            received += bytes.len();
            if received > MAX_REPLY_BYTES {
                return Err(self.failed(StreamFailure::TooLarge(MAX_REPLY_BYTES)));
            }
            if whole_json {
                whole.extend_from_slice(&bytes);
                continue;
            }
            let (out, on_text) = (&mut self.out, &mut *self.on_text);
            let decoded = parser.feed(&bytes, &mut |event| {
                provider.decode(&event, &mut state, &mut |t| out.push(t, started, on_text))
            });
            if let Err(e) = decoded {
                return Err(self.failed(decode_failure(e)));
            }
            if state.done {
                break;
            }
        }
        let (out, on_text) = (&mut self.out, &mut *self.on_text);
        let decoded = if whole_json {
            let decoded = serde_json::from_slice(&whole)
                .map_err(|e| DecodeError::BadChunk(format!("{e} in a JSON reply")))
                .and_then(|value| {
                    provider.decode_whole(&value, &mut state, &mut |t| {
                        out.push(t, started, on_text);
                    })
                });
            state.done = decoded.is_ok();
            decoded
        } else if state.done {
            Ok(())
        } else {
            parser.finish(&mut |event| {
                provider.decode(&event, &mut state, &mut |t| out.push(t, started, on_text))
            })
        };
        if let Err(e) = decoded {
            return Err(self.failed(decode_failure(e)));
        }
        self.out.usage = state.usage;
        self.out.finish = state.finish;
        if !state.done {
            return Err(self.failed(StreamFailure::Cut(
                "the stream ended without its end marker".into(),
            )));
        }
        Ok(())
    }

    /// A stream failure keeping the text so far, with a key the provider echoed scrubbed from
    /// the provider-sent text (an error event or a bad chunk quoted back).
    fn failed(&self, reason: StreamFailure) -> Error {
        let reason = match reason {
            StreamFailure::Cut(m) => StreamFailure::Cut(redact(&m, self.key)),
            StreamFailure::BadChunk(m) => StreamFailure::BadChunk(redact(&m, self.key)),
            StreamFailure::Provider(m) => StreamFailure::Provider(redact(&m, self.key)),
            other => other,
        };
        Error::Stream {
            name: self.model.name.clone(),
            reason,
            partial: self.out.text.clone(),
        }
    }
}

impl From<InvalidUtf8> for DecodeError {
    fn from(e: InvalidUtf8) -> Self {
        Self::BadChunk(e.to_string())
    }
}

fn decode_failure(e: DecodeError) -> StreamFailure {
    match e {
        DecodeError::BadChunk(m) => StreamFailure::BadChunk(m),
        DecodeError::Provider(m) => StreamFailure::Provider(m),
    }
}
