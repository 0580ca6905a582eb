//! What `kiln ask` and `kiln models` print, as a user sees it: the reply byte for byte when piped
//! and made safe on a terminal, a cut reply flagged, retries said while kiln waits, and errors
//! that name the model once and the key's variable when a key is refused.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::process::Stdio;

use crate::llm_cli::{kiln_with_model, store};
use crate::support::llm_server::{LlmServer, Reply};

/// Model text with a colour (kept on a terminal), a clipboard write (OSC 52) and a title change
/// (made inert), and no final newline.
const HOSTILE: &str = "\x1b[31mred\x1b[0m \x1b]52;c;cm0gLXJmIH4=\x07 \x1b]0;pwned\x07end";

/// Asserts that `text` (a command's output) contains `needle`, showing it when not.
fn says(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

#[test]
fn piped_replies_are_printed_byte_for_byte() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply {
        chunks: vec!["no newline ".into(), "at the end".into()],
        ..Reply::default()
    }]);
    let run = k.run(&["ask", "q"]).ok();
    assert_eq!(run.stdout, "no newline at the end");
    // Piped output is data: control sequences pass through untouched for the next program.
    server.push([Reply {
        chunks: vec![HOSTILE.into()],
        ..Reply::default()
    }]);
    let run = k.run(&["ask", "--no-cache", "q2"]).ok();
    assert_eq!(run.stdout, HOSTILE);
}

#[test]
fn on_a_terminal_model_text_cannot_drive_the_terminal() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    // The sequences split across deltas, as a stream may split them.
    server.push([Reply {
        chunks: vec![
            HOSTILE[..3].into(),
            HOSTILE[3..13].into(),
            HOSTILE[13..].into(),
        ],
        ..Reply::default()
    }]);
    let pty = nix::pty::openpty(None, None);
    let why = pty
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    if !crate::support::require(pty.is_ok(), "a pseudo-terminal (openpty)", &why) {
        return;
    }
    let pty = pty.unwrap();
    let mut child = k
        .command(&["ask", "q"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(pty.slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = std::fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Reading ends with EIO once kiln closes its side of the terminal.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    let shown = String::from_utf8_lossy(&seen);
    assert!(
        shown.contains("\x1b[31mred\x1b[0m"),
        "colours kept: {shown:?}"
    );
    assert!(
        !shown.contains("\x1b]"),
        "an OSC reached the terminal: {shown:?}"
    );
    assert!(shown.contains("␛]52;c;"), "{shown:?}");
    assert!(shown.contains("␛]0;pwned␇end"), "{shown:?}");
    assert!(
        shown.ends_with("end\r\n"),
        "a newline closes the reply: {shown:?}"
    );
}

#[test]
fn a_reply_cut_at_max_tokens_is_flagged() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply::text("the first half of").truncated()]);
    let run = k.run(&["ask", "q"]).ok();
    assert_eq!(run.stdout, "the first half of");
    says(
        &run.stderr,
        "the reply was cut at the max_tokens limit (4096)",
    );
    says(&run.stderr, "models.named.local.max_tokens");
    assert_eq!(
        store(&k).generation(1).unwrap().finish_reason.as_deref(),
        Some("length")
    );

    server.push([Reply::text("short").truncated(), Reply::text("whole")]);
    for (prompt, reason, truncated) in [("q2", "length", true), ("q3", "stop", false)] {
        let run = k
            .run(&["--format", "json", "ask", "--max-tokens", "5", prompt])
            .ok();
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(json["finish_reason"], reason, "{json}");
        assert_eq!(json["truncated"], truncated, "{json}");
        assert_eq!(
            run.stderr.contains("max_tokens limit (5)"),
            truncated,
            "{}",
            run.stderr
        );
    }
    // `kiln stats` counts the cut replies.
    let run = k.run(&["--format", "json", "stats", "--days", "0"]).ok();
    let stats: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(stats["total"]["truncated"], 2, "{stats}");
    assert_eq!(stats["total"]["calls"], 3, "{stats}");
}

#[test]
fn retries_are_said_on_stderr_while_kiln_waits() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply::status(429).retry_after("0.2"), Reply::text("done")]);
    let run = k.run(&["ask", "q"]).ok();
    assert_eq!(run.stdout, "done");
    says(&run.stderr, "kiln: 429 from local, retrying in 0.2 s (1/4)");
    // -q keeps stderr for errors.
    server.push([Reply::status(429).retry_after("0.1"), Reply::text("quiet")]);
    let run = k.run(&["-q", "ask", "--no-cache", "q"]).ok();
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
}

#[test]
fn errors_name_the_model_once_and_the_key_variable_when_refused() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply::status(404)]);
    let run = k.run(&["ask", "q"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.matches("model 'local'").count(),
        1,
        "{}",
        run.stderr
    );

    // `kiln models`: one attempt is "1 attempt"; a refused key names its variable.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("models.named.dead.base_url=\"http://127.0.0.1:{port}/v1\"");
    let run = k.run(&[
        "--set",
        &dead,
        "--set",
        "models.named.dead.model=\"x\"",
        "models",
    ]);
    assert_eq!(run.code, 1);
    says(&run.stdout, "gave up after 1 attempt:");
    let row = run.stdout.lines().find(|l| l.starts_with("dead")).unwrap();
    assert_eq!(
        row.matches("dead").count(),
        1,
        "the row names the model once: {row}"
    );
    server.require_key("sk-another-key");
    let run = k.run(&["--format", "json", "models"]);
    assert_eq!(run.code, 1);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let detail = rows[0]["detail"].as_str().unwrap();
    assert!(detail.contains("401"), "{detail}");
    assert!(detail.contains("'KILN_TEST_KEY'"), "{detail}");
}
