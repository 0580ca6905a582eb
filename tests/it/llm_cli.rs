//! `kiln ask`, `kiln models` and `kiln stats` as a user runs them: the real binary, HOME and XDG
//! in a temp dir, a clean environment, and the local test server.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::support::kiln::{Kiln, files_under};
use crate::support::llm_server::{LlmServer, Reply};
use kiln::engine::store::{Store, StoreConfig};

pub(crate) const KEY: &str = "sk-PLANTED-zx81-spectrum-c64-amiga-0042";

pub(crate) fn kiln_with_model(server: &LlmServer) -> Kiln {
    let mut k = Kiln::new();
    k.env("KILN_TEST_KEY", KEY);
    k.config(&format!(
        r#"
[models]
detect_ollama = false
[models.retry]
initial_backoff_ms = 10
max_backoff_ms = 50
[models.named.local]
base_url = "{}"
model = "test-model"
api_key_env = "KILN_TEST_KEY"
price_in_per_mtok = 3.0
price_out_per_mtok = 15.0
timeout_ms = 3000
"#,
        server.base_url()
    ));
    k
}

pub(crate) fn store(k: &Kiln) -> Store {
    Store::open_read_only(&k.db(), &StoreConfig::default()).unwrap()
}

#[test]
fn ask_streams_records_and_uses_the_cache() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply::text("four score and seven").usage(100, 20)]);
    let run = k.run(&["ask", "what is the answer?"]).ok();
    // Piped, the reply is printed byte for byte: no newline added.
    assert_eq!(run.stdout, "four score and seven");
    assert!(run.stderr.contains("100 in / 20 out"), "{}", run.stderr);
    let g = store(&k).generation(1).unwrap();
    assert_eq!(g.status, "ok");
    assert_eq!(g.response.as_deref(), Some("four score and seven"));
    assert!(g.messages_json.contains("what is the answer?"));
    // 100 * $3/M + 20 * $15/M
    assert!((g.cost_usd.unwrap() - 0.0006).abs() < 1e-12);
    // The ask is a run of kind `ask`.
    let run = store(&k).run(1).unwrap();
    assert_eq!(
        (run.kind.as_str(), run.status.as_str()),
        ("ask", "succeeded")
    );

    // Temperature 0 (the default): the second identical ask is served from the cache.
    let run = k
        .run(&["--format", "json", "ask", "what is the answer?"])
        .ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["cache_hit"], true);
    assert_eq!(json["text"], "four score and seven");
    assert_eq!(server.requests().len(), 1);

    // --no-cache goes to the server.
    server.push([Reply::text("fresh")]);
    let run = k.run(&["ask", "--no-cache", "what is the answer?"]).ok();
    assert_eq!(run.stdout, "fresh");
    assert_eq!(server.requests().len(), 2);

    let run = k.run(&["--format", "json", "stats", "--days", "0"]).ok();
    let stats: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(stats["total"]["calls"], 3);
    assert_eq!(stats["total"]["cache_hits"], 1);
    assert_eq!(stats["total"]["tokens_in"], 201);
    assert_eq!(stats["by_model"][0]["model"], "openai/test-model");
    assert_eq!(stats["by_model"][0]["calls"], 3);
    assert_eq!(stats["days"][0]["calls"], 3);
    let human = k.run(&["stats"]).ok();
    assert!(
        human.stdout.contains("openai/test-model"),
        "{}",
        human.stdout
    );
}

#[test]
fn ask_reports_failures_with_the_partial_text_kept() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply::text("half an ans").fault(crate::support::llm_server::Fault::Cut)]);
    let run = k.run(&["ask", "q"]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.starts_with("half an ans"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("the connection closed before the reply finished"),
        "{}",
        run.stderr
    );
    let g = store(&k).generation(1).unwrap();
    assert_eq!(
        (g.status.as_str(), g.response.as_deref()),
        ("error", Some("half an ans"))
    );

    server.push([Reply::status(404)]);
    let run = k.run(&["ask", "q"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("models.named.local.base_url"),
        "{}",
        run.stderr
    );
}

#[test]
fn ctrl_c_cancels_a_streaming_ask_and_records_it() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    server.push([Reply {
        chunks_n: Some(10_000),
        chunk_delay_ms: 20,
        ..Reply::default()
    }]);
    let mut child = k
        .command(&["ask", "long"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the reply is streaming (so the handler is surely installed).
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("w1 ") {
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "kiln ended before streaming");
        seen.extend_from_slice(&buf[..n]);
    }
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cancelled"));
    let g = store(&k).generation(1).unwrap();
    assert_eq!(g.status, "cancelled");
    assert_eq!(store(&k).run(1).unwrap().status.as_str(), "cancelled");
    assert!(g.response.unwrap().starts_with("w0 w1 "));
}

#[test]
fn models_lists_and_checks_each_model() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server);
    let run = k.run(&["models"]).ok();
    assert!(run.stdout.contains("local *"), "{}", run.stdout);
    assert!(
        run.stdout.contains("reachable, 2 models served"),
        "{}",
        run.stdout
    );
    let req = &server.requests()[0];
    assert_eq!(req.path, "/v1/models");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );

    // An unreachable model fails the listing with exit code 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = k.run(&[
        "--set",
        &format!("models.named.dead.base_url=\"http://127.0.0.1:{port}/v1\""),
        "--set",
        "models.named.dead.model=\"x\"",
        "--format",
        "json",
        "models",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let dead = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dead")
        .unwrap();
    assert_eq!(dead["status"], "error");
}

#[test]
fn without_config_kiln_detects_or_says_how_to_fix_it() {
    let server = LlmServer::start_background();
    let mut k = Kiln::new();
    k.env("KILN_MODELS__OLLAMA_URL", "http://127.0.0.1:9"); // nothing listens on the discard port
    let run = k.run(&["ask", "hi"]);
    assert_eq!(run.code, 2);
    for fix in ["OPENAI_API_KEY", "Ollama", "[models.named"] {
        assert!(run.stderr.contains(fix), "{}", run.stderr);
    }
    // ANTHROPIC_API_KEY (with the SDK's base URL variable) is picked, and kiln says so.
    k.env("ANTHROPIC_API_KEY", KEY)
        .env("ANTHROPIC_BASE_URL", &server.root_url());
    let run = k.run(&["ask", "hi"]).ok();
    assert_eq!(run.stdout, "echo: hi");
    assert!(
        run.stderr.contains("detected from ANTHROPIC_API_KEY"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests()[0].path, "/v1/messages");

    // A local Ollama is found when no key is set.
    let mut k = Kiln::new();
    k.env("KILN_MODELS__OLLAMA_URL", &server.root_url());
    let run = k.run(&["models"]).ok();
    assert!(run.stdout.contains("detected Ollama"), "{}", run.stdout);
}

#[test]
fn a_literal_key_in_config_is_rejected() {
    let k = Kiln::new();
    k.config("[models.named.x]\nmodel = \"m\"\napi_key = \"sk-literal-secret-1234\"\n");
    let run = k.run(&["ask", "hi"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("api_key_env"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("sk-literal-secret-1234"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_api_key_never_reaches_the_database_logs_or_messages() {
    let server = LlmServer::start_background();
    let mut k = kiln_with_model(&server);
    k.env("KILN_LOG", "trace");
    let mut outputs = String::new();
    // Success, a rate limit followed by success, and a failure.
    server.push([
        Reply::text("fine"),
        Reply::status(429).retry_after("0"),
        Reply::text("fine again"),
    ]);
    for args in [
        &["-vv", "ask", "one"][..],
        &["-vv", "ask", "two"],
        &["-vv", "models"],
    ] {
        let run = k.run(args).ok();
        outputs.push_str(&run.stdout);
        outputs.push_str(&run.stderr);
    }
    // The server rejects the key and echoes it back in its error body, as real providers do.
    server.require_key("sk-some-other-key");
    for args in [&["-vv", "ask", "three"][..], &["-vv", "models"]] {
        let run = k.run(args);
        assert_ne!(run.code, 0);
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(text.contains("[redacted]"), "{text}");
        outputs.push_str(&run.stdout);
        outputs.push_str(&run.stderr);
    }
    assert!(
        !outputs.contains(KEY),
        "the key leaked into output:\n{outputs}"
    );
    assert!(server.requests().len() >= 5, "the key was really sent");

    let mut checked = 0;
    for file in files_under(k.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let found = bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes());
        assert!(!found, "the key leaked into {}", file.display());
        checked += 1;
    }
    let logs = files_under(&k.state_dir());
    assert!(!logs.is_empty(), "a log was written");
    assert!(k.db().exists());
    assert!(checked >= 3);
    let rows = store(&k).stats_by_model_and_day(0).unwrap();
    assert_eq!(rows.iter().map(|r| r.calls).sum::<i64>(), 3);
}

/// The test server also runs as its own process (`examples/test_llm_server.rs`), scripted over
/// HTTP: what pipeline and editor tests in other processes use.
#[test]
fn the_standalone_test_server_serves_kiln() {
    use std::io::{BufRead, BufReader, Write};
    // `cargo test` builds examples next to the test binaries' parent directory.
    let exe = std::env::current_exe().unwrap();
    let server_exe = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|d| d.join("examples/test_llm_server"))
        .unwrap();
    assert!(
        server_exe.exists(),
        "{} missing: build it with `cargo build --examples`",
        server_exe.display()
    );
    let mut child = std::process::Command::new(&server_exe)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base_url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let addr = base_url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();

    // Script one reply over HTTP.
    let body = r#"[{"chunks": ["scripted ", "over ", "http"]}]"#;
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /_script HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut conn, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let k = Kiln::new();
    k.config(&format!(
        "[models]\ndetect_ollama = false\n[models.named.m]\nprovider = \"anthropic\"\nbase_url = \"{base_url}\"\nmodel = \"test-model\"\n"
    ));
    let run = k.run(&["ask", "hi"]).ok();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(run.stdout, "scripted over http");
}
