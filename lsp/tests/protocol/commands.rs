//! executeCommand: the request answers at once; the run's outcome arrives as progress and a
//! message (until the pipeline operations land the engine answers "not available").

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
    // Whatever the engine says, the run ends: with the pipeline, after its stages; without,
    // with the engine's error as a message.
    let end = c
        .wait_for("progress end", |v| {
            v["method"] == "$/progress" && v["params"]["value"]["kind"] == "end"
        })
        .await;
    eprintln!("progress end: {end}");
    let m = c.notification("window/showMessage").await;
    eprintln!("message: {m}");
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
