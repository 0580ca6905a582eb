//! Helpers for the serve tests: the Flask venv made by `tests/setup/serve.sh`, a Flask app in
//! a temp directory, a running `kiln serve` child whose `up` event is awaited, and a tiny raw
//! HTTP client (std sockets only, so the client is not what is being tested).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::kiln::Kiln;

/// The venv with Flask, if `tests/setup/serve.sh` made it.
pub fn venv() -> Option<PathBuf> {
    let v = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/serve-venv");
    std::process::Command::new(v.join("bin/python3"))
        .args(["-c", "import flask"])
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(v)
}

/// Whether the serve tests can run here (the skip policy is [`super::require`]).
pub fn have_venv(what: &str) -> Option<PathBuf> {
    let v = venv();
    super::require(v.is_some(), what, "no Flask venv; run tests/setup/serve.sh").then_some(())?;
    v
}

/// A Flask app: `app.py` with `body` appended after `app = Flask(__name__)`. The directory is
/// world-readable (as root the sandbox runs as uid 65534).
pub fn flask_app(body: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kiln-serve-app-")
        .tempdir()
        .unwrap();
    let code = format!(
        "import os, socket\nfrom flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'hello from the sandbox\\n'\n\n{body}\n"
    );
    std::fs::write(dir.path().join("app.py"), code).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.path().join("app.py"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    dir
}

/// A running `kiln serve`.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub port: u16,
    pub id: i64,
    pub stderr: Arc<Mutex<String>>,
    pub events: mpsc::Receiver<serde_json::Value>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kiln serve` command for `app` with the venv on PATH and bound read-only.
pub fn serve_cmd(k: &Kiln, venv: &Path, app: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = k.cmd();
    let path = format!("{}/bin:/usr/local/bin:/usr/bin:/bin", venv.display());
    cmd.env("PATH", path)
        .args(["--format", "json", "serve"])
        .arg(app)
        .arg("--ro")
        .arg(venv)
        .args(args);
    cmd
}

/// Starts `kiln serve` and waits (60 s at most) for its `up` event; panics with its stderr.
pub fn start(k: &Kiln, venv: &Path, app: &Path, args: &[&str]) -> Served {
    let mut child = serve_cmd(k, venv, app, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let (tx, events) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let up = events.recv_timeout(Duration::from_secs(60));
    let Ok(up) = up else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "kiln serve never came up; stderr:\n{}",
            stderr.lock().unwrap()
        );
    };
    assert_eq!(up["event"], "up", "{up}");
    Served {
        child,
        url: up["url"].as_str().unwrap().to_owned(),
        port: u16::try_from(up["port"].as_u64().unwrap()).unwrap(),
        id: up["service_id"].as_i64().unwrap(),
        stderr,
        events,
    }
}

/// A GET over a fresh connection: (status, body). Generous timeouts: the machine is shared.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}
