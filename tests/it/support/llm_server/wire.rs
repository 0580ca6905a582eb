//! The two wire formats the test model server speaks, OpenAI chat completions and Anthropic
//! messages: an error reply, a whole JSON reply, or a stream of server-sent events with usage,
//! a finish reason and the end marker, and the faults a [`Reply`] asks for.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

use super::http::{event, simple};
use super::reply::{Fault, Reply};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    OpenAi,
    Anthropic,
}

impl Wire {
    /// The wire's word for why the reply ended.
    fn finish_reason(self, reply: &Reply) -> &'static str {
        match (self, reply.truncated) {
            (Self::OpenAi, false) => "stop",
            (Self::OpenAi, true) => "length",
            (Self::Anthropic, false) => "end_turn",
            (Self::Anthropic, true) => "max_tokens",
        }
    }
}

/// Answers one chat request as `reply` scripts it, in `wire`'s format.
pub(super) async fn respond(
    stream: &mut TcpStream,
    reply: &Reply,
    wire: Wire,
    streaming: bool,
) -> std::io::Result<()> {
    if reply.first_byte_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(reply.first_byte_delay_ms)).await;
    }
    let status = if reply.status == 0 { 200 } else { reply.status };
    if status != 200 {
        return error_reply(stream, reply, status).await;
    }
    if !streaming || reply.non_streaming {
        return whole_reply(stream, reply, wire).await;
    }
    stream_reply(stream, reply, wire).await
}

/// A non-200 status with a JSON error body and, if scripted, `Retry-After`.
async fn error_reply(stream: &mut TcpStream, reply: &Reply, status: u16) -> std::io::Result<()> {
    let body = reply.error_body.clone().unwrap_or_else(|| {
        json!({"error": {"message": format!("scripted status {status}"), "type": "server_error"}})
            .to_string()
    });
    let retry_after = reply
        .retry_after
        .as_ref()
        .map(|r| format!("retry-after: {r}\r\n"))
        .unwrap_or_default();
    simple(stream, status, "application/json", &retry_after, &body).await
}

/// The whole reply as one JSON document, as a server that ignores `stream: true` sends it.
async fn whole_reply(stream: &mut TcpStream, reply: &Reply, wire: Wire) -> std::io::Result<()> {
    let text: String = reply.deltas().collect();
    let (tokens_in, tokens_out) = (reply.tokens_in.unwrap_or(1), reply.tokens_out.unwrap_or(1));
    let finish = wire.finish_reason(reply);
    let body = match wire {
        Wire::OpenAi => json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out}
        }),
        Wire::Anthropic => json!({
            "id": "msg_test", "type": "message", "role": "assistant", "model": "test-model",
            "content": [{"type": "text", "text": text}], "stop_reason": finish,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}
        }),
    };
    simple(stream, 200, "application/json", "", &body.to_string()).await
}

/// Server-sent events: the wire's opening events, one per delta, the scripted fault if any,
/// then usage, the finish reason and the end marker.
async fn stream_reply(stream: &mut TcpStream, reply: &Reply, wire: Wire) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    let mut out = BufWriter::with_capacity(32 * 1024, &mut *stream);
    let mut count: u64 = 0;
    if wire == Wire::Anthropic {
        let start = json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant", "model": "test-model", "content": [], "usage": {"input_tokens": reply.tokens_in.unwrap_or(1), "output_tokens": 1}}});
        event(&mut out, Some("message_start"), &start.to_string()).await?;
        let block = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
        event(&mut out, Some("content_block_start"), &block.to_string()).await?;
        event(&mut out, Some("ping"), "{\"type\": \"ping\"}").await?;
    }
    for (i, delta) in reply.deltas().enumerate() {
        if i > 0 && reply.chunk_delay_ms > 0 {
            out.flush().await?;
            tokio::time::sleep(Duration::from_millis(reply.chunk_delay_ms)).await;
        }
        let data = match wire {
            Wire::OpenAi => {
                json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "test-model", "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": null}]})
            }
            Wire::Anthropic => {
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": delta}})
            }
        };
        let name = (wire == Wire::Anthropic).then_some("content_block_delta");
        event(&mut out, name, &data.to_string()).await?;
        if i == 0 {
            // The first token leaves at once: time to first token is what the benchmark measures.
            out.flush().await?;
        }
        count += 1;
    }
    match &reply.fault {
        Some(Fault::Cut) => {
            out.flush().await?;
            drop(out);
            let _ = stream.shutdown().await;
            return Ok(());
        }
        Some(Fault::InvalidJson) => {
            event(
                &mut out,
                None,
                "{\"choices\": [{\"delta\": {\"content\": \"unterminated",
            )
            .await?;
        }
        Some(Fault::ErrorEvent(message)) => match wire {
            Wire::OpenAi => {
                let data = json!({"error": {"message": message, "type": "server_error"}});
                event(&mut out, None, &data.to_string()).await?;
            }
            Wire::Anthropic => {
                let data = json!({"type": "error", "error": {"type": "overloaded_error", "message": message}});
                event(&mut out, Some("error"), &data.to_string()).await?;
            }
        },
        Some(Fault::Stall) => {
            out.flush().await?;
            std::future::pending::<()>().await;
        }
        None => {}
    }
    let tokens_out = reply.tokens_out.unwrap_or(count);
    match wire {
        Wire::OpenAi => {
            let last = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": "test-model", "choices": [{"index": 0, "delta": {}, "finish_reason": wire.finish_reason(reply)}]});
            event(&mut out, None, &last.to_string()).await?;
            let usage = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": reply.tokens_in.unwrap_or(1), "completion_tokens": tokens_out, "total_tokens": reply.tokens_in.unwrap_or(1) + tokens_out}});
            event(&mut out, None, &usage.to_string()).await?;
            event(&mut out, None, "[DONE]").await?;
        }
        Wire::Anthropic => {
            event(
                &mut out,
                Some("content_block_stop"),
                "{\"type\": \"content_block_stop\", \"index\": 0}",
            )
            .await?;
            let delta = json!({"type": "message_delta", "delta": {"stop_reason": wire.finish_reason(reply), "stop_sequence": null}, "usage": {"output_tokens": tokens_out}});
            event(&mut out, Some("message_delta"), &delta.to_string()).await?;
            event(
                &mut out,
                Some("message_stop"),
                "{\"type\": \"message_stop\"}",
            )
            .await?;
        }
    }
    out.write_all(b"0\r\n\r\n").await?;
    out.flush().await?;
    drop(out);
    let _ = stream.shutdown().await;
    Ok(())
}
