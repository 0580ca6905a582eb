//! Robustness: malformed frames, binary and huge documents, the client vanishing.

use serde_json::json;

use crate::client::Client;

#[tokio::test]
async fn malformed_messages_are_answered_and_the_server_goes_on() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    c.send_raw(b"Content-Length: 7\r\n\r\n{broken").await;
    let e = c
        .wait_for("parse error", |v| v["error"]["code"] == -32700)
        .await;
    assert!(e["id"].is_null());
    c.send_raw(b"Content-Length: 13\r\n\r\n{\"hello\": 1}\n")
        .await;
    let _ = c
        .wait_for("parse error", |v| v["error"]["code"] == -32700)
        .await;
    c.send_raw(b"no header here\r\n\r\n").await;
    let _ = c
        .wait_for("parse error", |v| v["error"]["code"] == -32700)
        .await;
    // Still serving.
    let uri = c.open("a.py", "python", "import os\n").await;
    assert_eq!(c.publish(&uri).await["version"], 1);
    c.finish().await;
}

#[tokio::test]
async fn binary_and_five_megabyte_documents() {
    let mut c = Client::start();
    c.wait = std::time::Duration::from_secs(600);
    c.initialize(json!({}), json!(null)).await;
    let binary: String = (0u8..=255).map(char::from).cycle().take(10_000).collect();
    let t = std::time::Instant::now();
    let uri = c.open("bin.py", "python", &binary).await;
    let p = c.publish(&uri).await;
    eprintln!("binary document: diagnostics in {:?}", t.elapsed());
    assert_eq!(p["version"], 1);
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 5 * 1024 * 1024 {
        big += "def f";
        big += &i.to_string();
        big += "(a, b):
    \"\"\"Doc.\"\"\"
    return a + b


";
        i += 1;
    }
    let t = std::time::Instant::now();
    let uri = c.open("big.py", "python", &big).await;
    let p = c.publish(&uri).await;
    eprintln!("5 MB document: first diagnostics in {:?}", t.elapsed());
    assert_eq!(p["version"], 1);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 4}}, "text": "import os\n    "}]}),
    )
    .await;
    let t = std::time::Instant::now();
    let p = c.publish(&uri).await;
    eprintln!("5 MB document: edit to diagnostics in {:?}", t.elapsed());
    assert_eq!(p["version"], 2);
    c.finish().await;
}

#[tokio::test]
async fn the_server_ends_soon_after_the_client_closes_its_input() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let uri = c.open("a.py", "python", "import os\n").await;
    let _ = c.publish(&uri).await;
    let took = c.close_input().await;
    eprintln!("ended {took:?} after stdin closed");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}
