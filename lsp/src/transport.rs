//! The stdio transport around tower-lsp-server's `Server`.
//!
//! tower-lsp-server reads stdin through a `FramedRead`, which ends the stream after the first
//! frame it cannot decode (bad JSON, a body that is no JSON-RPC message, a bad header): one
//! malformed message would stop the server. So frames are read here first: a well-formed
//! JSON-RPC message is passed on to the server through an in-memory pipe; anything else is
//! logged and answered with a JSON-RPC parse error, and reading goes on. The server's output is
//! read back frame by frame and written to the real stdout together with those error replies,
//! so stdout carries only whole protocol frames.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// Frames larger than this are refused (and skipped) rather than buffered.
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// One frame's body, or why there is none.
enum Frame {
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`.
    BadHeader(String),
    Eof,
}

async fn read_frame<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> std::io::Result<Frame> {
    let mut length: Option<usize> = None;
    let mut bad: Option<String> = None;
    let mut line = Vec::new();
    let mut seen_any = false;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            return Ok(Frame::Eof);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !seen_any {
                continue; // stray blank lines between frames
            }
            break;
        }
        seen_any = true;
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) if n <= MAX_FRAME => length = Some(n),
                    _ => bad = Some(format!("bad Content-Length '{}'", value.trim())),
                }
            }
            Some(_) => {}
            None => bad = Some(format!("not a header line: '{}'", text.escape_debug())),
        }
    }
    match (length, bad) {
        (Some(n), None) => {
            let mut body = vec![0; n];
            input.read_exact(&mut body).await?;
            Ok(Frame::Body(body))
        }
        (_, Some(why)) => Ok(Frame::BadHeader(why)),
        (None, None) => Ok(Frame::BadHeader("missing Content-Length".into())),
    }
}

fn is_message(body: &[u8]) -> bool {
    serde_json::from_slice::<Request>(body).is_ok()
        || serde_json::from_slice::<Response>(body).is_ok()
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

fn parse_error(message: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": message },
    });
    frame(body.to_string().as_bytes())
}

/// Copies well-formed frames from `input` to `server`; replies to malformed ones through
/// `errors`. Returns when `input` ends (the client went away).
pub(crate) async fn filter_input<R, W>(
    input: R,
    mut server: W,
    errors: mpsc::UnboundedSender<Vec<u8>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::with_capacity(1 << 16, input);
    loop {
        match read_frame(&mut input).await {
            Ok(Frame::Body(body)) if is_message(&body) => {
                if server.write_all(&frame(&body)).await.is_err() || server.flush().await.is_err() {
                    return;
                }
            }
            Ok(Frame::Body(body)) => {
                let shown: String = String::from_utf8_lossy(&body).chars().take(200).collect();
                tracing::warn!(body = %shown.escape_debug(), "dropping a frame that is not a JSON-RPC message");
                let _ = errors.send(parse_error("kiln-lsp: the message is not valid JSON-RPC"));
            }
            Ok(Frame::BadHeader(why)) => {
                tracing::warn!("dropping a malformed frame: {why}");
                let _ = errors.send(parse_error(&format!("kiln-lsp: {why}")));
            }
            Ok(Frame::Eof) => {
                tracing::info!("the client closed stdin");
                return;
            }
            Err(e) => {
                tracing::warn!("reading stdin failed: {e}");
                return;
            }
        }
    }
}

/// Reads the server's frames and queues them, whole, for [`write_output`] (the one writer, which
/// also gets the transport's error replies). Returns when the server's output ends.
pub(crate) async fn pump_output<R: AsyncRead + Unpin>(
    server: R,
    out: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut server = BufReader::with_capacity(1 << 16, server);
    loop {
        match read_frame(&mut server).await {
            Ok(Frame::Body(body)) => {
                if out.send(frame(&body)).is_err() {
                    return;
                }
            }
            Ok(Frame::BadHeader(why)) => {
                tracing::error!("the server wrote a malformed frame: {why}");
            }
            Ok(Frame::Eof) | Err(_) => return,
        }
    }
}

/// Writes queued frames to `output` until every sender is gone or the output fails.
pub(crate) async fn write_output<W: AsyncWrite + Unpin>(
    mut output: W,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(bytes) = frames.recv().await {
        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}
