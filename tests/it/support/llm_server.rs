//! A real local model server for tests: HTTP/1.1 on 127.0.0.1 with an ephemeral port, speaking
//! the OpenAI chat-completions and Anthropic messages wire formats (streaming included) and the
//! OpenAI model list, with scripted replies and injected faults.
//!
//! Replies come from, in order: the script queue ([`LlmServer::push`] or `POST /_script` with a
//! JSON array of [`Reply`]), a directive in the last user message (a line
//! `#kiln-test {"chunks_n": 20000}` holding a JSON [`Reply`]), else an echo of the last user
//! message. Every request is kept for assertions ([`LlmServer::requests`]).
//!
//! The same file backs `examples/test_llm_server.rs`, so other processes (pipeline and editor
//! tests, the benchmark) can start it as a standalone server.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};

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

    fn deltas(&self) -> Box<dyn Iterator<Item = String> + Send> {
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

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// When set, requests must carry this key (Bearer or x-api-key) or get a 401 that echoes
    /// the key they sent, as some real providers do.
    required_key: Mutex<Option<String>>,
}

/// A running server; stops when dropped.
pub struct LlmServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    /// `None` for a background server, which lives as long as the process.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl LlmServer {
    /// Starts on an ephemeral port of 127.0.0.1 (within a tokio runtime).
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let task = Some(tokio::spawn(serve(listener, shared.clone())));
        Self { addr, shared, task }
    }

    /// Starts on its own thread and runtime, for synchronous tests that run the kiln binary.
    pub fn start_background() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let server = LlmServer::start().await;
                let addr = server.addr;
                let shared = server.shared.clone();
                tx.send((addr, shared)).expect("send addr");
                // Keep serving until the process exits; the server value is leaked on purpose.
                std::mem::forget(server);
                std::future::pending::<()>().await;
            });
        });
        let (addr, shared) = rx.recv().expect("server thread started");
        Self {
            addr,
            shared,
            task: None,
        }
    }

    /// `http://127.0.0.1:PORT/v1`: the base URL for either provider.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT`: for Ollama detection.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues replies for the next requests, in order.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    pub fn require_key(&self, key: &str) {
        *self.shared.required_key.lock().unwrap() = Some(key.to_owned());
    }

    /// Every chat or model-list request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The most requests that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = handle(stream, &shared).await;
        });
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let path = request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();

    if request.method == "POST" && path == "/_script" {
        let replies: Vec<Reply> = serde_json::from_value(body).unwrap_or_default();
        shared.script.lock().unwrap().extend(replies);
        return simple(&mut stream, 200, "application/json", "{\"ok\":true}").await;
    }
    shared.requests.lock().unwrap().push(Recorded {
        method: request.method.clone(),
        path: path.clone(),
        headers: request.headers.clone(),
        body: body.clone(),
    });
    let _in_flight = InFlight::enter(shared);

    let required = shared.required_key.lock().unwrap().clone();
    if let Some(required) = required {
        let sent = request
            .headers
            .iter()
            .find_map(|(k, v)| match k.as_str() {
                "authorization" => Some(v.trim_start_matches("Bearer ").to_owned()),
                "x-api-key" => Some(v.clone()),
                _ => None,
            })
            .unwrap_or_default();
        if sent != required {
            let body = json!({"error": {"message": format!("Incorrect API key provided: {sent}"), "type": "invalid_request_error"}});
            return simple(&mut stream, 401, "application/json", &body.to_string()).await;
        }
    }

    match (request.method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => {
            let body = json!({"object": "list", "data": [
                {"id": "test-model", "object": "model"},
                {"id": "test-model-large", "object": "model"}
            ]});
            simple(&mut stream, 200, "application/json", &body.to_string()).await
        }
        ("POST", "/v1/chat/completions") => {
            let reply = next_reply(shared, &body);
            let streaming = body.get("stream").and_then(Value::as_bool) == Some(true);
            respond(&mut stream, &reply, Wire::OpenAi, streaming).await
        }
        ("POST", "/v1/messages") => {
            let reply = next_reply(shared, &body);
            respond(&mut stream, &reply, Wire::Anthropic, true).await
        }
        _ => {
            let body =
                json!({"error": {"message": format!("no route for {} {path}", request.method)}});
            simple(&mut stream, 404, "application/json", &body.to_string()).await
        }
    }
}

fn next_reply(shared: &Shared, body: &Value) -> Reply {
    if let Some(r) = shared.script.lock().unwrap().pop_front() {
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
}

async fn simple(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn respond(
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
        let body = reply.error_body.clone().unwrap_or_else(|| {
            json!({"error": {"message": format!("scripted status {status}"), "type": "server_error"}})
                .to_string()
        });
        let head = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}connection: close\r\n\r\n",
            reason(status),
            body.len(),
            reply
                .retry_after
                .as_ref()
                .map(|r| format!("retry-after: {r}\r\n"))
                .unwrap_or_default()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.flush().await?;
        let _ = stream.shutdown().await;
        return Ok(());
    }
    if !streaming || reply.non_streaming {
        let text: String = reply.deltas().collect();
        let (tokens_in, tokens_out) = (reply.tokens_in.unwrap_or(1), reply.tokens_out.unwrap_or(1));
        let body = match wire {
            Wire::OpenAi => json!({
                "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out}
            }),
            Wire::Anthropic => json!({
                "id": "msg_test", "type": "message", "role": "assistant", "model": "test-model",
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}
            }),
        };
        return simple(stream, 200, "application/json", &body.to_string()).await;
    }

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
            let delta = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": tokens_out}});
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

/// Writes one SSE event as one HTTP chunk.
async fn event<W: tokio::io::AsyncWrite + Unpin>(
    out: &mut W,
    name: Option<&str>,
    data: &str,
) -> std::io::Result<()> {
    let mut text = String::with_capacity(data.len() + 32);
    if let Some(name) = name {
        text.push_str("event: ");
        text.push_str(name);
        text.push('\n');
    }
    text.push_str("data: ");
    text.push_str(data);
    text.push_str("\n\n");
    out.write_all(format!("{:x}\r\n", text.len()).as_bytes())
        .await?;
    out.write_all(text.as_bytes()).await?;
    out.write_all(b"\r\n").await
}
