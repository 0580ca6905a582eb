//! The forwarder inside the sandbox: `kiln __serve-forward --socket S --app-port N --chdir D --
//! CMD...`, run as the sandboxed program (the kiln binary is bound read-only into the run).
//!
//! It starts the app as its child (same namespaces, same limits, the environment it was given),
//! listens on the unix socket `S` (in a directory bound read-write into the run, so the host can
//! connect to it) and relays each accepted stream to `127.0.0.1:N` inside the sandbox's own
//! network namespace. A host message is one byte: with an accepted client socket attached
//! (SCM_RIGHTS) the forwarder relays that socket straight to the app, so the host is not in the
//! data path (one host stream carries any number of these, one after the other); without one
//! it is a health probe, answered [`UP`] when the app accepted the TCP
//! connection and [`DOWN`] when it did not, so "the forwarder is alive" is never taken for "the
//! app is up". A client socket is already connected to a host client: it can only talk to that
//! peer and opens no way out of the namespace. The forwarder exits with the app's status when the app exits; pid 1
//! then kills whatever is left. Invariant: it only ever connects to the app's loopback port
//! inside the namespace; nothing here dials out.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixListener, UnixStream};

/// Sent by the forwarder when the app accepted the connection.
pub const UP: u8 = b'+';
/// Sent by the forwarder when the app refused it (not listening yet, or gone).
pub const DOWN: u8 = b'-';

/// First byte of a host message carrying an accepted client socket (SCM_RIGHTS).
pub const CLIENT: u8 = b'F';
/// First byte of a health probe: answer [`UP`]/[`DOWN`], then relay on this stream.
pub const PROBE: u8 = b'P';

/// The hidden first argument that makes the `kiln` binary act as the forwarder.
pub const FORWARD_ARG: &str = "__serve-forward";

/// How long the forwarder waits for the app to accept one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The forwarder's parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardArgs {
    pub socket: PathBuf,
    pub app_port: u16,
    pub chdir: Option<PathBuf>,
    pub command: Vec<String>,
}

impl ForwardArgs {
    /// The argv (after the program name) that [`forward_main`] parses back.
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = vec![
            FORWARD_ARG.to_owned(),
            "--socket".into(),
            self.socket.to_string_lossy().into_owned(),
            "--app-port".into(),
            self.app_port.to_string(),
        ];
        if let Some(d) = &self.chdir {
            v.push("--chdir".into());
            v.push(d.to_string_lossy().into_owned());
        }
        v.push("--".into());
        v.extend(self.command.iter().cloned());
        v
    }

    /// Parses the arguments after [`FORWARD_ARG`].
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut socket = None;
        let mut app_port = None;
        let mut chdir = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().cloned().ok_or(format!("'{a}' needs a value"));
            match a.as_str() {
                "--socket" => socket = Some(PathBuf::from(value()?)),
                "--app-port" => {
                    let v = value()?;
                    app_port = Some(v.parse().map_err(|_| format!("bad port '{v}'"))?);
                }
                "--chdir" => chdir = Some(PathBuf::from(value()?)),
                "--" => break,
                other => return Err(format!("unknown argument '{other}'")),
            }
        }
        let command: Vec<String> = it.cloned().collect();
        if command.is_empty() {
            return Err("no command given after '--'".into());
        }
        Ok(Self {
            socket: socket.ok_or("--socket is required")?,
            app_port: app_port.ok_or("--app-port is required")?,
            chdir,
            command,
        })
    }
}

/// Runs the forwarder and exits with the app's status (127 when it cannot start, 125 on a
/// set-up error). `args` are the arguments after [`FORWARD_ARG`].
#[allow(clippy::print_stderr)] // the forwarder's stderr is the run's output, read by kiln
pub fn forward_main(args: &[String]) -> ! {
    let code = match ForwardArgs::parse(args) {
        Ok(a) => run(&a).unwrap_or_else(|e| {
            eprintln!("kiln forwarder: {e}");
            125
        }),
        Err(e) => {
            eprintln!("kiln forwarder: {e}");
            125
        }
    };
    std::process::exit(code)
}

#[allow(clippy::print_stderr)] // the forwarder's stderr is the run's output, read by kiln
fn run(args: &ForwardArgs) -> Result<i32, String> {
    use std::os::unix::process::ExitStatusExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("async runtime: {e}"))?;
    rt.block_on(async {
        let _ = std::fs::remove_file(&args.socket);
        let listener = UnixListener::bind(&args.socket)
            .map_err(|e| format!("listen on '{}': {e}", args.socket.display()))?;
        let mut cmd = tokio::process::Command::new(&args.command[0]);
        cmd.args(&args.command[1..]).kill_on_drop(true);
        if let Some(d) = &args.chdir {
            cmd.current_dir(d);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kiln forwarder: cannot start '{}': {e}", args.command[0]);
                return Ok(127);
            }
        };
        let port = args.app_port;
        loop {
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_err(|e| format!("wait for the app: {e}"))?;
                    return Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(9)));
                }
                accepted = listener.accept() => {
                    // Out of fds or similar: keep serving the connections already open.
                    let Ok((stream, _)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    tokio::spawn(relay(stream, port));
                }
            }
        }
    })
}

async fn connect(port: u16) -> Option<TcpStream> {
    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
        .await
        .ok()?
        .ok()
}

/// Serves one host connection: a stream of accepted client sockets handed over with
/// SCM_RIGHTS (each relayed straight to the app in its own task, so the host is out of the data
/// path and pays no connect per client), or a single health probe.
async fn relay(mut host: UnixStream, port: u16) {
    loop {
        let Ok((kind, client)) = receive(&host).await else {
            return;
        };
        match (kind, client) {
            (CLIENT, Some(client)) => {
                tokio::spawn(serve_client(client, port));
            }
            (PROBE, None) => {
                let Some(mut app) = connect_app(port).await else {
                    let _ = host.write_all(&[DOWN]).await;
                    return;
                };
                if host.write_all(&[UP]).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut host, &mut app).await;
                }
                return;
            }
            _ => return,
        }
    }
}

/// Relays one client socket to the app until either side closes.
async fn serve_client(client: std::os::fd::OwnedFd, port: u16) {
    let Ok(mut client) = client_stream(client) else {
        return;
    };
    if let Some(mut app) = connect_app(port).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut app).await;
    }
}

fn client_stream(fd: std::os::fd::OwnedFd) -> std::io::Result<TcpStream> {
    let std = std::net::TcpStream::from(fd);
    std.set_nonblocking(true)?;
    let _ = std.set_nodelay(true);
    TcpStream::from_std(std)
}

/// The first byte of a host message and the socket it carries, if any.
async fn receive(host: &UnixStream) -> std::io::Result<(u8, Option<std::os::fd::OwnedFd>)> {
    use std::os::fd::AsFd;
    loop {
        host.readable().await?;
        let got = host.try_io(tokio::io::Interest::READABLE, || {
            crate::engine::sandbox::fdpass::recv_fd(host.as_fd())
        });
        match got {
            Ok((0, _, _)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            // A message with a socket is a client; one without is a probe.
            Ok((_, _, Some(fd))) => return Ok((CLIENT, Some(fd))),
            Ok((_, _, None)) => return Ok((PROBE, None)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Connects to the app on `port`, or, for an app that ignores PORT, on the first port it
/// listens on.
async fn connect_app(port: u16) -> Option<TcpStream> {
    if let Some(app) = connect(port).await {
        let _ = app.set_nodelay(true);
        return Some(app);
    }
    let other = listening_ports().into_iter().find(|&p| p != port)?;
    let app = connect(other).await?;
    let _ = app.set_nodelay(true);
    Some(app)
}

/// TCP ports listening on loopback or any address in this network namespace, lowest first
/// (from `/proc/net/tcp` and `tcp6`; state `0A` is LISTEN).
fn listening_ports() -> Vec<u16> {
    let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| parse_listening(&text))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn parse_listening(text: &str) -> Vec<u16> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != "0A" {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_listening_sockets() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000\n   1: 0100007F:1F41 0100007F:9C40 01 00000000:00000000\n";
        assert_eq!(super::parse_listening(text), [8000]);
    }

    use super::*;

    #[test]
    fn argv_round_trips() {
        let a = ForwardArgs {
            socket: "/x/fwd.sock".into(),
            app_port: 8000,
            chdir: Some("/app".into()),
            command: vec!["python3".into(), "-m".into(), "http.server".into()],
        };
        let argv = a.to_argv();
        assert_eq!(argv[0], FORWARD_ARG);
        assert_eq!(ForwardArgs::parse(&argv[1..]).unwrap(), a);
    }

    #[test]
    fn parse_rejects_missing_command() {
        let args: Vec<String> = ["--socket", "/s", "--app-port", "1", "--"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert!(
            ForwardArgs::parse(&args)
                .unwrap_err()
                .contains("no command")
        );
    }
}
