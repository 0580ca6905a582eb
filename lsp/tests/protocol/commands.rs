//! executeCommand: the request answers at once; the run's outcome arrives as progress and a
//! message (with a model: `pipeline.rs`).

use serde_json::json;

use crate::client::Client;

#[tokio::test]
async fn generate_answers_at_once_and_reports_through_progress() {
    let mut c = Client::start();
    c.initialize(json!({"window": {"workDoneProgress": true}}), json!(null))
        .await;
    let uri = c.open("m.py", "python", "def add(a, b):\n    pass\n").await;
    let _ = c.publish(&uri).await;
    let answer = c
        .request(
            "workspace/executeCommand",
            json!({"command": "kiln.generate", "arguments": [{"uri": uri, "line": 0}]}),
        )
        .await;
    assert!(answer["op"].is_u64(), "{answer}");
    let create = c.server_request("window/workDoneProgress/create").await;
    let token = create["params"]["token"].clone();
    c.respond(&create, serde_json::Value::Null).await;
    let begin = c.notification("$/progress").await;
    assert_eq!(begin["token"], token);
    assert_eq!(begin["value"]["kind"], "begin");
    assert_eq!(begin["value"]["cancellable"], true);
    // Without a model the run ends at once, skipped, with stage reports on the way, and a
    // message says why (the progress end alone is easy to miss).
    let mut reports = Vec::new();
    let end = loop {
        let m = c.next().await;
        if m["method"] == "$/progress" {
            if m["params"]["value"]["kind"] == "end" {
                break m["params"]["value"].clone();
            }
            reports.push(m["params"]["value"]["message"].clone());
        }
    };
    assert_eq!(end["message"], "skipped", "{end}");
    assert_eq!(reports.first(), Some(&json!("spec")), "{reports:?}");
    let m = c.notification("window/showMessage").await;
    assert!(
        m["message"]
            .as_str()
            .unwrap()
            .contains("no model configured"),
        "{m}"
    );
    while c.wait_for_opt_status().await {}
    c.finish().await;
}

#[tokio::test]
async fn unknown_commands_and_bad_arguments_are_errors() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let r = c
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "kiln.nope", "arguments": []}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "kiln.generate", "arguments": [{"line": "x"}]}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = c
        .request_raw(
            "workspace/executeCommand",
            json!({"command": "kiln.generate", "arguments": [{"uri": "file:///nowhere.py"}]}),
        )
        .await;
    assert!(
        r["error"]["message"].as_str().unwrap().contains("not open"),
        "{r}"
    );
    let r = c
        .request(
            "workspace/executeCommand",
            json!({"command": "kiln.cancel", "arguments": []}),
        )
        .await;
    assert_eq!(r["cancelled"], 0);
    c.finish().await;
}
