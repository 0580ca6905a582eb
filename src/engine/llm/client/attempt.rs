//! The attempt loop of a [`Call`]: each attempt holds a permit of the endpoint's concurrency
//! limit, waits at most `timeout_ms` for headers, and either hands the response to the stream
//! reader, fails for good (4xx other than 408/409/429, with a hint), or fails in a way worth
//! retrying (429, 5xx, connection errors, no headers in time), in which case the permit is
//! released during the backoff and a [`CallEvent::Retrying`] says so. A server that sends no
//! headers within `timeout_ms` is retried once only: a second such timeout ends the call, so a
//! dead server costs two timeouts, not one per retry. Cancellation ends every wait at once.

use std::time::Duration;

use futures::StreamExt;

use super::super::Error;
use super::super::error_text::{error_chain, redact};
use super::super::event::{CallEvent, RetryReason};
use super::super::provider;
use super::super::retry::{self, Backoff, Next};
use super::call::Call;

impl Call<'_> {
    /// Runs attempts until one streams to its end, one fails for good, or retries run out.
    pub(super) async fn run(&mut self) -> Result<(), Error> {
        let name = self.model.name.clone();
        let mut backoff = Backoff::new(self.retry);
        let mut header_timeouts = 0;
        loop {
            self.out.attempts = backoff.attempts();
            let permit = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(self.cancelled()),
                p = self.limit.clone().acquire_owned() => p.map_err(|_| Error::Client("the concurrency limit was closed".into()))?,
            };
            let request = self
                .provider
                .authorize(self.http.post(&self.url).json(&self.body), self.key);
            let sent = tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(self.cancelled()),
                r = tokio::time::timeout(self.timeout, request.send()) => r,
            };
            let (failure, reason, retry_after) = match sent {
                Err(_) => {
                    header_timeouts += 1;
                    if header_timeouts > 1 {
                        return Err(Error::NoResponse {
                            name,
                            url: self.url.clone(),
                            wait: self.timeout,
                        });
                    }
                    (
                        format!(
                            "no response from {} within {}s",
                            self.url,
                            self.timeout.as_secs_f32()
                        ),
                        RetryReason::NoResponse(self.timeout),
                        None,
                    )
                }
                Ok(Err(e)) => {
                    let mut failure = redact(&error_chain(&e), self.key);
                    if e.is_connect() && (e.is_timeout() || failure.contains("deadline")) {
                        failure = format!(
                            "{failure} (no connection within {} ms: models.connect_timeout_ms)",
                            self.connect_timeout_ms
                        );
                    }
                    (failure.clone(), RetryReason::Connection(failure), None)
                }
                Ok(Ok(response)) if response.status().is_success() => {
                    let result = self.read(response).await;
                    drop(permit);
                    return result;
                }
                Ok(Ok(response)) => {
                    let status = response.status().as_u16();
                    let retry_after = retry::retry_after(response.headers());
                    let body = read_error_body(response, self.timeout).await;
                    let message = redact(&provider::error_message(&body), self.key);
                    if !retry::is_retryable_status(status) {
                        return Err(Error::Rejected {
                            name,
                            status,
                            message,
                            hint: self.model.status_hint(status),
                        });
                    }
                    (
                        format!("{status}: {message}"),
                        RetryReason::Status(status),
                        retry_after,
                    )
                }
            };
            drop(permit);
            match backoff.next(retry_after) {
                Next::Wait(wait) => {
                    tracing::info!(model = %name, attempt = self.out.attempts, wait_ms = wait.as_millis() as u64, %failure, "retrying model call");
                    self.emit(CallEvent::Retrying {
                        model: name.clone(),
                        attempt: self.out.attempts,
                        max: self.retry.max_retries,
                        delay: wait,
                        reason,
                    });
                    tokio::select! {
                        biased;
                        () = self.cancel.cancelled() => return Err(self.cancelled()),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Next::GiveUp => {
                    return Err(Error::GaveUp {
                        name,
                        attempts: self.out.attempts,
                        last: failure,
                    });
                }
                Next::TooLong(wait) => return Err(Error::RetryAfterTooLong { name, wait }),
            }
        }
    }
}

/// The body of an error response, bounded in size and time.
async fn read_error_body(response: reqwest::Response, timeout: Duration) -> String {
    let mut body = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(timeout, body.next()).await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > 64 * 1024 {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
