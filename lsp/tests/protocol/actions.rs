//! Code actions, hover and code lens.

use serde_json::{Value, json};

use crate::client::Client;

const BAD: &str = "import os\n\n\ndef f(x=[]):\n    \"\"\"Doc.\"\"\"\n    if x == None:\n        return eval('1')\n    return x\n";
const STUB: &str = "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    pass\n\n\ndef test_add():\n    assert add(1, 2) == 3\n";

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}})
}

/// A started, initialized client with `name` open as Python and its first diagnostics
/// published (returned too).
async fn opened(name: &str, text: &str) -> (Client, String, Value) {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let uri = c.open(name, "python", text).await;
    let published = c.publish(&uri).await;
    (c, uri, published)
}

/// `textDocument/codeAction` on `range` of `uri` with these context diagnostics and, when
/// given, only these kinds.
async fn code_actions(
    c: &mut Client,
    uri: &str,
    range: Value,
    diagnostics: &Value,
    only: Option<&str>,
) -> Value {
    let mut context = json!({"diagnostics": diagnostics});
    if let Some(only) = only {
        context["only"] = json!([only]);
    }
    c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": range, "context": context}),
    )
    .await
}

/// `textDocument/<method>` with `params` besides the document.
async fn on_document(c: &mut Client, method: &str, uri: &str, mut params: Value) -> Value {
    params["textDocument"] = json!({"uri": uri});
    c.request(&format!("textDocument/{method}"), params).await
}

fn titles(actions: &Value) -> Vec<String> {
    actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn quick_fixes_not_a_problem_and_fix_all() {
    let (mut c, uri, p) = opened("bad.py", BAD).await;
    let actions = code_actions(&mut c, &uri, range(0, 7, 0, 9), &p["diagnostics"], None).await;
    insta::assert_json_snapshot!("import_actions", c.redact(&actions));
    let fix_all = code_actions(
        &mut c,
        &uri,
        range(0, 0, 0, 0),
        &json!([]),
        Some("source.fixAll"),
    )
    .await;
    let fix_all = fix_all.as_array().unwrap();
    assert_eq!(fix_all.len(), 1, "{fix_all:?}");
    assert_eq!(fix_all[0]["kind"], "source.fixAll.kiln");
    insta::assert_json_snapshot!("fix_all", c.redact(&fix_all[0]["edit"]));
    c.finish().await;
}

#[tokio::test]
async fn model_actions_are_listed_on_functions() {
    let (mut c, uri, _) = opened("m.py", STUB).await;
    let on_stub = code_actions(
        &mut c,
        &uri,
        range(2, 4, 2, 4),
        &json!([]),
        Some("refactor"),
    )
    .await;
    assert_eq!(
        titles(&on_stub),
        [
            "kiln: Generate implementation of add",
            "kiln: Improve add",
            "kiln: Generate tests for add"
        ]
    );
    insta::assert_json_snapshot!("generate_action", c.redact(&on_stub[0]));
    let on_test = code_actions(
        &mut c,
        &uri,
        range(5, 0, 6, 10),
        &json!([]),
        Some("refactor"),
    )
    .await;
    assert_eq!(titles(&on_test), ["kiln: Improve this selection"]);
    c.finish().await;
}

#[tokio::test]
async fn hover_explains_the_rule() {
    let (mut c, uri, _) = opened("bad.py", BAD).await;
    let at =
        |line: u32, character: u32| json!({"position": {"line": line, "character": character}});
    let h = on_document(&mut c, "hover", &uri, at(0, 8)).await;
    let text = h["contents"]["value"].as_str().unwrap();
    assert!(
        text.contains("PY109") && text.contains("## Bad") && text.contains("## Good"),
        "{text}"
    );
    let none = on_document(&mut c, "hover", &uri, at(1, 0)).await;
    assert_eq!(none, Value::Null);
    c.finish().await;
}

#[tokio::test]
async fn code_lens_on_tests_and_off_by_setting() {
    let (mut c, uri, _) = opened("test_m.py", STUB).await;
    let lenses = on_document(&mut c, "codeLens", &uri, json!({})).await;
    insta::assert_json_snapshot!("lenses", c.redact(&lenses));
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"kiln": {"codeLens": false}}}),
    )
    .await;
    let _status = c.notification("kiln/status").await;
    let _ = c.publish(&uri).await;
    let lenses = on_document(&mut c, "codeLens", &uri, json!({})).await;
    assert_eq!(lenses, json!([]));
    c.finish().await;
}
