//! An in-process LSP client: the real server (`kiln_lsp::serve`) over in-memory pipes. It
//! answers nothing on its own: a test reads every message it expects, and `finish` fails when
//! any message was left unread.

use std::collections::VecDeque;
use std::time::Duration;

use kiln::engine::env::Env;
use kiln::engine::paths::Paths;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

const WAIT: Duration = Duration::from_secs(30);

pub struct Client {
    write: Option<DuplexStream>,
    read: BufReader<DuplexStream>,
    queue: VecDeque<Value>,
    next_id: i64,
    /// How long to wait for a message (a debug build analyses a 5 MB file slowly).
    pub wait: Duration,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Kept for the test's lifetime: the temp HOME.
    _home: tempfile::TempDir,
    pub root: std::path::PathBuf,
}

impl Client {
    /// Starts a server in a temp HOME with a workspace folder `root/ws`.
    pub fn start() -> Self {
        Self::start_with("", &[])
    }

    /// Like [`start`](Self::start), with a user config (`~/.config/kiln/config.toml`) and
    /// more environment (PATH is the test's, so the sandbox finds the toolchains).
    pub fn start_with(config: &str, extra_env: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().unwrap();
        if !config.is_empty() {
            let dir = home.path().join(".config/kiln");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.toml"), config).unwrap();
        }
        #[allow(clippy::disallowed_methods)] // the test process's PATH: where the toolchains are
        let path = std::env::var("PATH").unwrap_or_default();
        let mut pairs = vec![
            ("HOME", home.path().to_str().unwrap()),
            ("PATH", path.as_str()),
        ];
        pairs.extend_from_slice(extra_env);
        let env = Env::from_pairs(pairs);
        let paths = Paths::resolve(&env, None).ok();
        // Two pipes, so closing the client's input is an end of stream for the server.
        let (write, server_read) = tokio::io::duplex(1 << 22);
        let (server_write, read) = tokio::io::duplex(1 << 22);
        let server = tokio::spawn(kiln_lsp::serve(
            server_read,
            server_write,
            kiln_lsp::ServeOptions {
                env,
                paths,
                init_program: env!("CARGO_BIN_EXE_kiln-lsp").into(),
            },
        ));
        let root = home.path().join("ws");
        std::fs::create_dir_all(&root).unwrap();
        Self {
            write: Some(write),
            read: BufReader::new(read),
            queue: VecDeque::new(),
            next_id: 1,
            wait: WAIT,
            server: Some(server),
            _home: home,
            root,
        }
    }

    /// `v` with the temp workspace path replaced by `[ws]`, for snapshots.
    pub fn redact(&self, v: &Value) -> Value {
        let text = v
            .to_string()
            .replace(&self.root.display().to_string(), "[ws]");
        serde_json::from_str(&text).unwrap()
    }

    pub fn uri(&self, name: &str) -> String {
        format!("file://{}/{name}", self.root.display())
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let w = self.write.as_mut().expect("the client's input is open");
        w.write_all(bytes).await.unwrap();
        w.flush().await.unwrap();
    }

    pub async fn send(&mut self, msg: &Value) {
        let body = msg.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.send_raw(frame.as_bytes()).await;
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// The next message, queued or arriving.
    pub async fn next(&mut self) -> Value {
        match self.queue.pop_front() {
            Some(m) => m,
            None => self.read_frame().await,
        }
    }

    /// The temp HOME.
    pub fn home(&self) -> &std::path::Path {
        self.root.parent().unwrap()
    }

    async fn read_frame(&mut self) -> Value {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(self.wait, self.read.read_line(&mut line))
                .await
                .expect("the server answers within the wait")
                .unwrap();
            assert!(n > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        self.read.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The first queued or arriving message matching `pred`; others stay queued.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.queue.iter().position(&pred) {
            return self.queue.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} arrived; queued: {:?}",
                self.queue
            );
            let m = self.read_frame().await;
            if pred(&m) {
                return m;
            }
            self.queue.push_back(m);
        }
    }

    /// Reads queued `kiln/status` notifications (busy/idle updates); false when none is queued.
    pub async fn wait_for_opt_status(&mut self) -> bool {
        if let Some(i) = self.queue.iter().position(|v| v["method"] == "kiln/status") {
            self.queue.remove(i);
            return true;
        }
        match tokio::time::timeout(Duration::from_millis(300), self.read_frame()).await {
            Ok(m) if m["method"] == "kiln/status" => true,
            Ok(m) => {
                self.queue.push_back(m);
                false
            }
            Err(_) => false,
        }
    }

    pub async fn notification(&mut self, method: &str) -> Value {
        let m = method.to_owned();
        self.wait_for(method, move |v| {
            v["method"] == m.as_str() && v.get("id").is_none()
        })
        .await["params"]
            .clone()
    }

    /// A request the server sent to the client.
    pub async fn server_request(&mut self, method: &str) -> Value {
        let m = method.to_owned();
        self.wait_for(method, move |v| {
            v["method"] == m.as_str() && v.get("id").is_some()
        })
        .await
    }

    pub async fn respond(&mut self, request: &Value, result: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": request["id"], "result": result}))
            .await;
    }

    /// Sends a request and returns its whole response.
    pub async fn request_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        self.wait_for(method, move |v| v["id"] == id && v.get("method").is_none())
            .await
    }

    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let r = self.request_raw(method, params).await;
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// `initialize` + `initialized`; returns the initialize result. The status the server
    /// sends at start is read too.
    pub async fn initialize(&mut self, capabilities: Value, options: Value) -> Value {
        let root = self.uri("");
        let result = self
            .request(
                "initialize",
                json!({
                    "capabilities": capabilities,
                    "rootUri": root.trim_end_matches('/'),
                    "initializationOptions": options,
                }),
            )
            .await;
        self.notify("initialized", json!({})).await;
        let status = self.notification("kiln/status").await;
        assert!(status["health"].is_string(), "{status}");
        result
    }

    pub async fn open(&mut self, name: &str, language: &str, text: &str) -> String {
        let uri = self.uri(name);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
        )
        .await;
        uri
    }

    /// The next publish for `uri` (any version).
    pub async fn publish(&mut self, uri: &str) -> Value {
        let u = uri.to_owned();
        self.wait_for("publishDiagnostics", move |v| {
            v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == u.as_str()
        })
        .await["params"]
            .clone()
    }

    /// Closes the client's input and waits for the server to end; returns how long it took.
    pub async fn close_input(&mut self) -> Duration {
        self.write.take();
        let t = std::time::Instant::now();
        if let Some(s) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), s)
                .await
                .expect("the server ends")
                .unwrap();
        }
        t.elapsed()
    }

    /// `shutdown` + `exit`, then checks nothing was left unread.
    pub async fn finish(mut self) {
        let _ = self.request("shutdown", Value::Null).await;
        self.notify("exit", Value::Null).await;
        self.close_input().await;
        // Whatever arrived before the server ended must have been read by the test.
        let mut rest = Vec::new();
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(50), self.read.fill_buf())
            .await
            .map(|r| r.map(<[u8]>::len))
        {
            if n == 0 {
                break;
            }
            rest.push(self.read_frame().await);
        }
        let unread: Vec<Value> = self.queue.drain(..).chain(rest).collect();
        assert!(unread.is_empty(), "messages left unread: {unread:#?}");
    }
}

/// Diagnostics as `(line, code)` pairs, for compact assertions.
pub fn codes(publish: &Value) -> Vec<(u64, String)> {
    let key = if publish.get("diagnostics").is_some() {
        "diagnostics"
    } else {
        "items"
    };
    publish[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["range"]["start"]["line"].as_u64().unwrap(),
                d["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}
