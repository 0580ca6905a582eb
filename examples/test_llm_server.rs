//! The test model server as a standalone process, for tests in other languages and processes
//! (editor clients, the benchmark). Prints `listening on http://127.0.0.1:PORT/v1` and serves
//! until killed. Usage: `test_llm_server [--port N] [--require-key KEY]`.
//!
//! Script replies with `POST /_script` (a JSON array of replies) or a `#kiln-test {...}` line in
//! the prompt; see tests/it/support/llm_server.rs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/it/support/llm_server.rs"]
mod llm_server;

use std::io::Write;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut port = 0u16;
    let mut key = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            "--require-key" => key = args.next(),
            other => {
                eprintln!(
                    "unknown argument '{other}'; usage: test_llm_server [--port N] [--require-key KEY]"
                );
                std::process::exit(2);
            }
        }
    }
    let server = llm_server::LlmServer::start_on(port).await;
    if let Some(key) = key {
        server.require_key(&key);
    }
    println!("listening on {}", server.base_url());
    let _ = std::io::stdout().flush();
    std::future::pending::<()>().await;
}
