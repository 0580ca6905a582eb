//! A real local model server for tests: HTTP/1.1 on 127.0.0.1 with an ephemeral port, speaking
//! the OpenAI chat-completions and Anthropic messages wire formats (streaming included) and the
//! OpenAI model list, with scripted replies and injected faults.
//!
//! Replies come from, in order: the script queue ([`LlmServer::push`] or `POST /_script` with a
//! JSON array of [`Reply`]), a directive in the last user message (a line
//! `#kiln-test {"chunks_n": 20000}` holding a JSON [`Reply`]), else an echo of the last user
//! message. Every request is kept for assertions ([`LlmServer::requests`]).
//!
//! Parts: `reply.rs` (what to answer), `http.rs` (the bytes of HTTP/1.1), `wire.rs` (the two
//! wire formats); this file holds the server, its shared state and the routes.
//!
//! The same file backs `examples/test_llm_server.rs`, so other processes (pipeline and editor
//! tests, the benchmark) can start it as a standalone server.
#![allow(
    dead_code,
    unused_imports,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

// Paths spelled out: `examples/test_llm_server.rs` includes this file by `#[path]`, which would
// otherwise look for these beside it rather than in `llm_server/`.
#[path = "llm_server/http.rs"]
mod http;
#[path = "llm_server/reply.rs"]
mod reply;
#[path = "llm_server/wire.rs"]
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use http::{read_request, simple};
pub use reply::{Fault, Reply};
use wire::{Wire, respond};

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
        return simple(&mut stream, 200, "application/json", "", "{\"ok\":true}").await;
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
            return simple(&mut stream, 401, "application/json", "", &body.to_string()).await;
        }
    }

    match (request.method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => {
            let body = json!({"object": "list", "data": [
                {"id": "test-model", "object": "model"},
                {"id": "test-model-large", "object": "model"}
            ]});
            simple(&mut stream, 200, "application/json", "", &body.to_string()).await
        }
        ("POST", "/v1/chat/completions") => {
            let reply = reply::next_reply(&shared.script, &body);
            let streaming = body.get("stream").and_then(Value::as_bool) == Some(true);
            respond(&mut stream, &reply, Wire::OpenAi, streaming).await
        }
        ("POST", "/v1/messages") => {
            let reply = reply::next_reply(&shared.script, &body);
            respond(&mut stream, &reply, Wire::Anthropic, true).await
        }
        _ => {
            let body =
                json!({"error": {"message": format!("no route for {} {path}", request.method)}});
            simple(&mut stream, 404, "application/json", "", &body.to_string()).await
        }
    }
}
