//! The host side of a service: the listener on 127.0.0.1, the sandbox run of the forwarder,
//! the relay of each accepted connection to the forwarder's unix socket, and health probes.
//!
//! Each accepted client socket is handed to the forwarder inside the sandbox (SCM_RIGHTS over
//! one long-lived unix stream) and relayed there, one task per connection: a client that sends garbage or
//! never sends anything holds only its own sockets, and the accept loop never waits on one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;

use super::Error;
use super::forward::{CLIENT, ForwardArgs, PROBE, UP};
use crate::engine::sandbox::{RunHandle, RunSpec, Sandbox};

/// A service has no wall-clock limit; this stands in for "never" (pid 1 needs a deadline).
const NO_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The forwarder holds two fds per connection: services get at least this many open files.
const MIN_OPEN_FILES: u64 = 4096;
/// Name of the forwarder's socket in the socket directory.
const SOCKET: &str = "fwd.sock";

/// How kiln decides the service is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// An HTTP GET on this path answers 2xx or 3xx.
    Http(String),
    /// The app accepts a TCP connection.
    Tcp,
}

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct ServeSpec {
    /// The project directory: the app's working directory, bound read-only unless
    /// `writable` (kiln's own scratch copy of a run's files may be written by the app).
    pub dir: PathBuf,
    pub writable: bool,
    /// The app's command (run by the forwarder, inside the sandbox).
    pub command: Vec<String>,
    /// Where the app listens inside the sandbox.
    pub app_port: u16,
    /// Limits, read-only paths and environment (from [`RunSpec::new`]); argv, workdir and the
    /// timeout are replaced.
    pub run: RunSpec,
    /// The kiln binary (the forwarder), bound read-only into the run.
    pub kiln_exe: PathBuf,
    /// Where the socket directory is created (kiln's runtime or temp dir).
    pub scratch_parent: PathBuf,
}

/// Binds the host side on 127.0.0.1 (a free port when `port` is `None`).
pub fn bind(port: Option<u16>) -> Result<std::net::TcpListener, Error> {
    let p = port.unwrap_or(0);
    std::net::TcpListener::bind(("127.0.0.1", p)).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            Error::PortTaken { port: p }
        } else {
            Error::Listen { port: p, source }
        }
    })
}

/// A started service. Dropping it stops relaying; the run stops when its handle is cancelled.
#[derive(Debug)]
pub struct Service {
    port: u16,
    socket: PathBuf,
    relay: JoinHandle<()>,
    _scratch: tempfile::TempDir,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

/// A service ready to start: its final run spec (to record) and its host listener.
#[derive(Debug)]
pub struct Prepared {
    /// What the sandbox will run: the forwarder, then the app's command.
    pub run: RunSpec,
    port: u16,
    socket: PathBuf,
    listener: std::net::TcpListener,
    scratch: tempfile::TempDir,
}

impl Prepared {
    /// Builds the run spec and the socket directory.
    pub fn new(spec: ServeSpec, listener: std::net::TcpListener) -> Result<Self, Error> {
        let port = listener.local_addr().map_err(io("read the port"))?.port();
        let scratch = tempfile::Builder::new()
            .prefix("kiln-serve-")
            .tempdir_in(&spec.scratch_parent)
            .map_err(io("create the socket directory"))?;
        // The outer directory stays private (0700); the inner one is bound into the run and
        // must be writable by the sandbox's unprivileged uid, which creates the socket.
        let sockdir = scratch.path().join("s");
        std::fs::create_dir(&sockdir).map_err(io("create the socket directory"))?;
        std::fs::set_permissions(&sockdir, std::fs::Permissions::from_mode(0o777))
            .map_err(io("chmod the socket directory"))?;
        let socket = sockdir.join(SOCKET);
        let forward = ForwardArgs {
            socket: socket.clone(),
            app_port: spec.app_port,
            chdir: Some(spec.dir.clone()),
            command: spec.command.clone(),
        };
        let mut run = spec.run;
        run.argv = std::iter::once(spec.kiln_exe.to_string_lossy().into_owned())
            .chain(forward.to_argv())
            .collect();
        run.workdir = None;
        run.timeout = NO_TIMEOUT;
        run.open_files = run.open_files.max(MIN_OPEN_FILES);
        run.ro.push(spec.kiln_exe.clone());
        if spec.writable {
            run.rw.push(spec.dir.clone());
        } else {
            run.ro.push(spec.dir.clone());
        }
        run.rw.push(sockdir);
        run.env.retain(|(k, _)| k != "PORT" && k != "HOST");
        run.env.push(("PORT".into(), spec.app_port.to_string()));
        run.env.push(("HOST".into(), "127.0.0.1".into()));
        Ok(Self {
            run,
            port,
            socket,
            listener,
            scratch,
        })
    }

    /// The host port the service will be reachable on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the sandbox run and the relay. Must be called inside a tokio runtime.
    pub fn start(self, sandbox: &Sandbox) -> Result<(Service, RunHandle), Error> {
        self.listener
            .set_nonblocking(true)
            .map_err(io("configure the listener"))?;
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(io("register the listener"))?;
        let handle = sandbox.start(&self.run)?;
        let relay = tokio::spawn(accept_loop(listener, self.socket.clone()));
        Ok((
            Service {
                port: self.port,
                socket: self.socket,
                relay,
                _scratch: self.scratch,
            },
            handle,
        ))
    }
}

impl Service {
    /// The host port the service is reachable on.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One health probe through the forwarder (not through the host port, so a probe never
    /// competes with clients for it).
    pub async fn probe(&self, health: &Health) -> bool {
        tokio::time::timeout(Duration::from_secs(5), probe(&self.socket, health))
            .await
            .unwrap_or(false)
    }

    /// Probes every 100 ms until the service is healthy (`true`) or `within` has passed.
    pub async fn wait_healthy(&self, health: &Health, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.probe(health).await {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// Connects to the forwarder and waits for its verdict on the app's port (health probes).
async fn connect(socket: &Path) -> Option<UnixStream> {
    let mut s = UnixStream::connect(socket).await.ok()?;
    s.write_all(&[PROBE]).await.ok()?;
    let mut b = [0u8];
    s.read_exact(&mut b).await.ok()?;
    (b[0] == UP).then_some(s)
}

async fn probe(socket: &Path, health: &Health) -> bool {
    let Some(mut s) = connect(socket).await else {
        return false;
    };
    let Health::Http(path) = health else {
        return true;
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    http_ok(&head)
}

/// Whether a response starts with a 2xx or 3xx status line.
fn http_ok(head: &[u8]) -> bool {
    let line = String::from_utf8_lossy(head);
    let mut parts = line.split_whitespace();
    parts.next().is_some_and(|v| v.starts_with("HTTP/"))
        && parts
            .next()
            .and_then(|c| c.parse::<u16>().ok())
            .is_some_and(|c| (200..400).contains(&c))
}

/// Accepts host clients and hands each to the forwarder over one long-lived unix stream (a
/// connect per client would cost a round trip inside the sandbox on every request; HTTP/1.0
/// servers such as Flask's open a connection per request).
async fn accept_loop(listener: tokio::net::TcpListener, socket: PathBuf) {
    let mut handoff: Option<UnixStream> = None;
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                // A broken stream (the forwarder restarted its accept, or was not up yet) is
                // replaced once; a client that still cannot be handed over is closed.
                for _ in 0..2 {
                    if handoff.is_none() {
                        handoff = UnixStream::connect(&socket).await.ok();
                    }
                    let Some(unix) = &handoff else {
                        tracing::debug!("serve: the forwarder is not listening");
                        break;
                    };
                    match hand_over(unix, &tcp).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::debug!("serve: cannot hand a client to the forwarder: {e}");
                            handoff = None;
                        }
                    }
                }
            }
            // Out of fds: back off instead of spinning; open connections keep flowing.
            Err(e) => {
                tracing::warn!("serve: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Sends one accepted client's socket to the forwarder (SCM_RIGHTS), which relays it to the
/// app itself: kiln's host process does no per-byte work. The forwarder holds its own copy of
/// the socket afterwards; the caller's copy is closed when it drops.
async fn hand_over(unix: &UnixStream, tcp: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    loop {
        unix.writable().await?;
        match unix.try_io(tokio::io::Interest::WRITABLE, || {
            crate::engine::sandbox::fdpass::send_fd(unix.as_fd(), CLIENT, tcp.as_fd())
        }) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
    }
}

/// The start time of process `pid` in clock ticks after boot (field 22 of `/proc/PID/stat`), so
/// a recorded owner is never confused with a later process that reused its pid.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_lines() {
        assert!(http_ok(b"HTTP/1.1 200 OK\r\n"));
        assert!(http_ok(b"HTTP/1.0 302 Found\r\n"));
        assert!(!http_ok(b"HTTP/1.1 500 Oops\r\n"));
        assert!(!http_ok(b"garbage"));
        assert!(!http_ok(b""));
    }

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id();
        assert!(process_start(me).is_some());
        assert_eq!(process_start(me), process_start(me));
    }

    #[test]
    fn a_taken_port_says_so() {
        let l = bind(None).unwrap();
        let port = l.local_addr().unwrap().port();
        let e = bind(Some(port)).unwrap_err();
        assert!(
            matches!(e, Error::PortTaken { port: p } if p == port),
            "{e}"
        );
        assert!(e.to_string().contains("--port"));
    }
}
