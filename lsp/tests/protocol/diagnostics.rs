//! Diagnostics: push and pull, versions, bursts, encodings, close, settings and kiln.toml.

use serde_json::json;

use crate::client::{Client, codes};

const BAD: &str = "import os\n\n\ndef f(x=[]):\n    \"\"\"Doc.\"\"\"\n    if x == None:\n        return eval('1')\n    return x\n";

#[tokio::test]
async fn push_on_open_with_version_and_cleared_on_close() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let uri = c.open("bad.py", "python", BAD).await;
    let p = c.publish(&uri).await;
    assert_eq!(p["version"], 1);
    insta::assert_json_snapshot!(p["diagnostics"]);
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    )
    .await;
    let p = c.publish(&uri).await;
    assert_eq!(p["diagnostics"], json!([]));
    assert!(
        p.get("version").is_none_or(serde_json::Value::is_null),
        "{p}"
    );
    c.finish().await;
}

#[tokio::test]
async fn pull_returns_the_newest_version_and_nothing_is_pushed() {
    let mut c = Client::start();
    c.initialize(json!({"textDocument": {"diagnostic": {}}}), json!(null))
        .await;
    let uri = c.open("bad.py", "python", BAD).await;
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}, "text": ""}]}),
    )
    .await;
    let r = c
        .request(
            "textDocument/diagnostic",
            json!({"textDocument": {"uri": uri}}),
        )
        .await;
    assert_eq!(r["kind"], "full");
    assert_eq!(r["resultId"], "2");
    let got = codes(&r);
    assert!(
        !got.iter().any(|(_, c)| c == "PY109"),
        "the import was deleted: {got:?}"
    );
    assert!(got.iter().any(|(_, c)| c == "PY107"), "{got:?}");
    c.finish().await;
}

#[tokio::test]
async fn a_burst_of_edits_ends_with_the_newest_version_and_few_analyses() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let uri = c.open("burst.py", "python", "x = 1\n").await;
    let first = c.publish(&uri).await;
    assert_eq!(first["version"], 1);
    let started = std::time::Instant::now();
    for v in 2..=1001 {
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": v}, "contentChanges": [{"range": {"start": {"line": 0, "character": 5}, "end": {"line": 0, "character": 5}}, "text": "1"}]}),
        )
        .await;
    }
    let mut versions = Vec::new();
    loop {
        let p = c.publish(&uri).await;
        let v = p["version"].as_i64().unwrap();
        versions.push(v);
        if v == 1001 {
            break;
        }
    }
    eprintln!(
        "1000 edits: {} publishes in {:?}",
        versions.len(),
        started.elapsed()
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "publishes out of order: {versions:?}"
    );
    let stats = c
        .request("kiln/stats", json!({"textDocument": {"uri": uri}}))
        .await;
    let runs = stats["analysisRuns"].as_u64().unwrap();
    eprintln!("analysis runs for 1000 edits: {runs}");
    assert_eq!(stats["version"], 1001);
    assert!(runs < 500, "{runs} analyses for 1000 edits");
    c.finish().await;
}

#[tokio::test]
async fn utf8_positions_in_and_out() {
    let mut c = Client::start();
    c.initialize(
        json!({"general": {"positionEncodings": ["utf-8"]}}),
        json!(null),
    )
    .await;
    // 'é' is 2 bytes in UTF-8, 1 unit in UTF-16: the diagnostic column shows which is used.
    let uri = c.open("u.py", "python", "s = 'é'; import os\n").await;
    let p = c.publish(&uri).await;
    let d = p["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "PY109")
        .unwrap()
        .clone();
    assert_eq!(d["range"]["start"]["character"], 17, "{d}");
    // Insert at UTF-8 column 8 (after "s = 'é'"): ";" then the import moves by one byte.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"range": {"start": {"line": 0, "character": 8}, "end": {"line": 0, "character": 8}}, "text": " "}]}),
    )
    .await;
    let p = c.publish(&uri).await;
    assert_eq!(p["version"], 2);
    let d = p["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "PY109")
        .unwrap()
        .clone();
    assert_eq!(d["range"]["start"]["character"], 18, "{d}");
    c.finish().await;
}

#[tokio::test]
async fn settings_from_init_options_and_did_change_configuration() {
    let mut c = Client::start();
    c.initialize(json!({}), json!({"kiln": {"ignore": ["PY109"]}}))
        .await;
    let uri = c.open("bad.py", "python", BAD).await;
    let got = codes(&c.publish(&uri).await);
    assert!(!got.iter().any(|(_, c)| c == "PY109"), "{got:?}");
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"kiln": {"ignore": []}}}),
    )
    .await;
    let _status = c.notification("kiln/status").await;
    let got = codes(&c.publish(&uri).await);
    assert!(got.iter().any(|(_, c)| c == "PY109"), "{got:?}");
    c.finish().await;
}

#[tokio::test]
async fn kiln_toml_changes_are_picked_up() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let uri = c.open("bad.py", "python", BAD).await;
    assert!(
        codes(&c.publish(&uri).await)
            .iter()
            .any(|(_, c)| c == "PY109")
    );
    std::fs::write(
        c.root.join("kiln.toml"),
        "[analysis]\nignore = [\"PY109\"]\n",
    )
    .unwrap();
    let toml = c.uri("kiln.toml");
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": toml, "type": 2}]}),
    )
    .await;
    let _status = c.notification("kiln/status").await;
    let got = codes(&c.publish(&uri).await);
    assert!(!got.iter().any(|(_, c)| c == "PY109"), "{got:?}");
    // A broken kiln.toml is a message and an error status, never a dead server.
    std::fs::write(c.root.join("kiln.toml"), "[analysis\n").unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": toml, "type": 2}]}),
    )
    .await;
    let m = c.notification("window/showMessage").await;
    assert!(
        m["message"].as_str().unwrap().contains("configuration"),
        "{m}"
    );
    let s = c.notification("kiln/status").await;
    assert_eq!(s["health"], "error");
    let _ = c.publish(&uri).await;
    c.finish().await;
}
