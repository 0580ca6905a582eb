//! The long actions against the real pipeline: `kiln.generate`, `kiln.improve`,
//! `kiln.generateTests` and `kiln.runTests` through the real engine, the real sandbox and the
//! local model test server. Each answers at once, reports progress on one token, and its
//! result lands as one `workspace/applyEdit` (runTests: a diagnostic on the failing test).
//! Also "Not a problem here" stored in the database, and the client's sandbox limits reaching
//! the processes the server's runs start.

use serde_json::{Value, json};

use crate::client::Client;
use crate::llm_server::{LlmServer, Reply};

const CAPS: &str = r#"{"window": {"workDoneProgress": true, "showDocument": {"support": true}},
    "workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true}}}"#;

const STUB: &str = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    pass\n";
const CODE: &str = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b\n";
const TESTS: &str = "from m import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n";

fn model_client(server: &LlmServer) -> Client {
    let config = format!(
        r#"
[models]
detect_ollama = false
default = "local"
[models.retry]
initial_backoff_ms = 10
max_backoff_ms = 50
[models.named.local]
base_url = "{}"
model = "test-model"
api_key_env = "KILN_TEST_KEY"
price_in_per_mtok = 3.0
price_out_per_mtok = 15.0
timeout_ms = 5000
"#,
        server.base_url()
    );
    let mut c = Client::start_with(&config, &[("KILN_TEST_KEY", "sk-lsp-test")]);
    // A debug engine, the sandbox and a loaded machine: a run takes seconds.
    c.wait = std::time::Duration::from_secs(120);
    c
}

/// One pass of the pipeline where every gate passes: spec, generate, tests, review, docs.
fn replies(code: &str, tests: &str) -> Vec<Reply> {
    [
        "# Spec\nadd(a, b) returns the sum of two integers.\n1. add(2, 3) == 5\n".to_owned(),
        format!("```python m.py\n{code}```\n"),
        format!("```python test_m.py\n{tests}```\n"),
        "Looks good.\n```json\n{\"issues\": [], \"suggestions\": [], \"score\": 9}\n```\n"
            .to_owned(),
        "```markdown docs/m.md\n# m\n\n`add(a, b)` returns the sum.\n```\n".to_owned(),
    ]
    .iter()
    .map(|t| Reply::text(t).usage(100, 50))
    .collect()
}

/// What a long action sent until it ended.
#[derive(Debug, Default)]
struct Drive {
    progress: Vec<Value>,
    edits: Vec<Value>,
    messages: Vec<String>,
}

/// Answers the server's requests as an editor would (progress tokens accepted, edits applied)
/// until the action's progress ended and the server reported itself idle again.
async fn drive(c: &mut Client) -> Drive {
    let mut d = Drive::default();
    let mut ended = false;
    loop {
        let m = c.next().await;
        match m["method"].as_str().unwrap_or("") {
            "window/workDoneProgress/create" => c.respond(&m, Value::Null).await,
            "workspace/applyEdit" => {
                d.edits.push(m["params"]["edit"].clone());
                c.respond(&m, json!({"applied": true})).await;
            }
            "window/showDocument" => c.respond(&m, json!({"success": true})).await,
            "$/progress" => {
                ended |= m["params"]["value"]["kind"] == "end";
                d.progress.push(m["params"]["value"].clone());
            }
            "window/showMessage" => d.messages.push(m["params"]["message"].to_string()),
            "kiln/status" if ended && m["params"]["busy"] == false => return d,
            _ => {}
        }
    }
}

/// The new text of `name` in an edit: the one edit's text for a whole-file replacement, else
/// the edits applied to `old`.
fn edited(edit: &Value, c: &Client, name: &str, old: &str) -> Option<String> {
    let uri = c.uri(name);
    let edits = edit["changes"][&uri].as_array().cloned().or_else(|| {
        edit["documentChanges"].as_array().and_then(|dc| {
            dc.iter()
                .find(|d| d["textDocument"]["uri"] == uri.as_str())
                .and_then(|d| d["edits"].as_array().cloned())
        })
    })?;
    let mut lines: Vec<String> = old.split_inclusive('\n').map(str::to_owned).collect();
    let mut text = old.to_owned();
    // Apply from the last edit backwards (LSP edits do not overlap).
    let mut sorted = edits;
    sorted.sort_by_key(|e| {
        std::cmp::Reverse((
            e["range"]["start"]["line"].as_u64(),
            e["range"]["start"]["character"].as_u64(),
        ))
    });
    for e in sorted {
        let offset = |p: &Value| -> usize {
            let line = p["line"].as_u64().unwrap() as usize;
            let ch = p["character"].as_u64().unwrap() as usize;
            lines.iter().take(line).map(String::len).sum::<usize>() + ch
        };
        let (s, t) = (offset(&e["range"]["start"]), offset(&e["range"]["end"]));
        let (s, t) = (s.min(text.len()), t.min(text.len()));
        text.replace_range(s..t, e["newText"].as_str().unwrap());
        lines = text.split_inclusive('\n').map(str::to_owned).collect();
    }
    Some(text)
}

fn assert_progress(d: &Drive, title: &str) {
    assert_eq!(
        d.progress.first().map(|p| p["kind"].clone()),
        Some(json!("begin")),
        "{d:#?}"
    );
    assert_eq!(d.progress[0]["title"], title, "{d:#?}");
    assert_eq!(d.progress[0]["cancellable"], true);
    let end = d.progress.last().unwrap();
    assert_eq!(end["kind"], "end", "{d:#?}");
    assert_eq!(end["message"], "succeeded", "{d:#?}");
    // Stages were reported on the way.
    let stages: Vec<&str> = d
        .progress
        .iter()
        .filter(|p| p["kind"] == "report")
        .filter_map(|p| p["message"].as_str())
        .collect();
    for stage in ["spec", "generate", "test_run", "review"] {
        assert!(
            stages.iter().any(|s| s.starts_with(stage)),
            "{stage} not reported: {stages:?}"
        );
    }
}

/// Runs one model action on `m.py` and returns what it sent.
async fn model_action(
    command: &str,
    text: &str,
    extra: Value,
    code: &str,
) -> (Client, Drive, LlmServer) {
    let server = LlmServer::start_background();
    let mut c = model_client(&server);
    c.initialize(serde_json::from_str(CAPS).unwrap(), json!(null))
        .await;
    let uri = c.open("m.py", "python", text).await;
    std::fs::write(c.root.join("m.py"), text).unwrap();
    let _ = c.publish(&uri).await;
    server.push(replies(code, TESTS));
    let mut args = json!({"uri": uri, "line": 1});
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    let answer = c
        .request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [args]}),
        )
        .await;
    assert!(
        answer["op"].is_u64(),
        "answered at once with the operation: {answer}"
    );
    let d = drive(&mut c).await;
    (c, d, server)
}

async fn finish(mut c: Client) {
    // Whatever analysis publishes after the edit, and the last statuses.
    while tokio::time::timeout(std::time::Duration::from_millis(500), c.next())
        .await
        .is_ok()
    {}
    c.finish().await;
}

#[tokio::test]
async fn generate_runs_the_pipeline_and_applies_the_implementation() {
    let (c, d, server) = model_action("kiln.generate", STUB, json!({}), CODE).await;
    assert_progress(&d, "kiln: generating");
    assert_eq!(d.edits.len(), 1, "one workspace/applyEdit: {d:#?}");
    assert_eq!(
        edited(&d.edits[0], &c, "m.py", STUB).as_deref(),
        Some(CODE),
        "{:#}",
        d.edits[0]
    );
    // Only the document: the run's tests, spec and docs stay in the run (`kiln export`).
    assert_eq!(
        d.edits[0]["changes"].as_object().unwrap().len(),
        1,
        "{:#}",
        d.edits[0]
    );
    assert_eq!(
        server.requests().len(),
        5,
        "one pass: spec, generate, tests, review, docs"
    );
    let first = server.requests()[0].body.to_string();
    assert!(first.contains("Implement the function `add`"), "{first}");
    finish(c).await;
}

#[tokio::test]
async fn improve_sends_the_instruction_and_applies_the_result() {
    let old =
        "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return sum([a, b])\n";
    let (c, d, server) = model_action(
        "kiln.improve",
        old,
        json!({"instruction": "no list, plain addition"}),
        CODE,
    )
    .await;
    assert_progress(&d, "kiln: improving");
    assert_eq!(d.edits.len(), 1, "{d:#?}");
    assert_eq!(edited(&d.edits[0], &c, "m.py", old).as_deref(), Some(CODE));
    let first = server.requests()[0].body.to_string();
    assert!(
        first.contains("Improve `add`") && first.contains("no list, plain addition"),
        "{first}"
    );
    finish(c).await;
}

#[tokio::test]
async fn generate_tests_writes_the_test_file() {
    let (c, d, server) = model_action("kiln.generateTests", CODE, json!({}), CODE).await;
    assert_progress(&d, "kiln: generating tests");
    assert_eq!(d.edits.len(), 1, "{d:#?}");
    assert_eq!(
        edited(&d.edits[0], &c, "test_m.py", "").as_deref(),
        Some(TESTS)
    );
    // Only the tests: no edit of the function, the spec or the docs.
    assert_eq!(
        d.edits[0]["changes"].as_object().unwrap().len(),
        1,
        "{:#}",
        d.edits[0]
    );
    assert_eq!(
        edited(&d.edits[0], &c, "m.py", CODE),
        None,
        "{:#}",
        d.edits[0]
    );
    assert!(
        server.requests()[0]
            .body
            .to_string()
            .contains("Write tests for the function `add`")
    );
    finish(c).await;
}

#[tokio::test]
async fn wait_answers_after_the_edit_was_applied() {
    let server = LlmServer::start_background();
    let mut c = model_client(&server);
    c.initialize(serde_json::from_str(CAPS).unwrap(), json!(null))
        .await;
    let uri = c.open("m.py", "python", STUB).await;
    let _ = c.publish(&uri).await;
    server.push(replies(CODE, TESTS));
    let id = 999;
    c.send(&json!({"jsonrpc": "2.0", "id": id, "method": "workspace/executeCommand",
        "params": {"command": "kiln.generate", "arguments": [{"uri": uri, "line": 0, "wait": true}]}}))
        .await;
    let mut applied = false;
    let answer = loop {
        let m = c.next().await;
        if m["id"] == id && m.get("method").is_none() {
            break m;
        }
        match m["method"].as_str().unwrap_or("") {
            "window/workDoneProgress/create" => c.respond(&m, Value::Null).await,
            "workspace/applyEdit" => {
                applied = true;
                c.respond(&m, json!({"applied": true})).await;
            }
            _ => {}
        }
    };
    assert!(applied, "the edit came before the answer: {answer}");
    assert_eq!(answer["result"]["status"], "succeeded", "{answer}");
    assert!(answer["result"]["run"].is_i64(), "{answer}");
    finish(c).await;
}

/// A failing test becomes a diagnostic, and the sandbox limits of the client's settings are
/// the limits of the test process.
#[tokio::test]
async fn run_tests_turns_a_failure_into_a_diagnostic_under_the_clients_limits() {
    let server = LlmServer::start_background();
    let mut c = model_client(&server);
    std::fs::write(c.root.join("m.py"), "def add(a, b):\n    return a - b\n").unwrap();
    let tests = "from m import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n\n\ndef test_add():\n    assert add(2, 3) == 5\n";
    std::fs::write(c.root.join("test_m.py"), tests).unwrap();
    c.initialize(
        serde_json::from_str(CAPS).unwrap(),
        // Above the Python test runner's floor (120 s, 1 GiB), which lower settings get.
        json!({"sandbox": {"memoryMb": 1536, "timeoutSecs": 150}}),
    )
    .await;
    let uri = c.open("test_m.py", "python", tests).await;
    let _ = c.publish(&uri).await;
    let answer = c
        .request(
            "workspace/executeCommand",
            json!({"command": "kiln.runTests", "arguments": [uri]}),
        )
        .await;
    assert!(answer["op"].is_u64(), "{answer}");
    let u = uri.clone();
    let failed = c
        .wait_for("the test failure diagnostic", move |v| {
            v["method"] == "textDocument/publishDiagnostics"
                && v["params"]["uri"] == u.as_str()
                && v["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d["source"] == "kiln tests"))
        })
        .await;
    let d: Vec<&Value> = failed["params"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "kiln tests")
        .collect();
    assert_eq!(d.len(), 1, "{failed:#}");
    assert_eq!(
        d[0]["range"]["start"]["line"], 7,
        "on `def test_add`: {failed:#}"
    );
    assert!(
        d[0]["message"].as_str().unwrap().contains("test_add"),
        "{failed:#}"
    );
    // The limits the test process ran under, as recorded.
    let db = c.home().join(".local/share/kiln/kiln.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let limits: String = conn
        .query_row(
            "SELECT limits FROM processes ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let limits: Value = serde_json::from_str(&limits).unwrap();
    eprintln!("limits: {limits}");
    assert_eq!(limits["timeout_ms"], 150_000, "{limits}");
    assert_eq!(limits["memory"], 1536 * 1024 * 1024, "{limits}");
    assert!(server.requests().is_empty(), "no model call");
    finish(c).await;
}

#[tokio::test]
async fn not_a_problem_is_stored_as_feedback_on_the_finding() {
    let mut c = Client::start();
    c.initialize(json!({}), json!(null)).await;
    let text = "import os\n\n\ndef f():\n    \"\"\"Doc.\"\"\"\n    return 1\n";
    let uri = c.open("m.py", "python", text).await;
    let publish = c.publish(&uri).await;
    let diag = publish["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "PY109")
        .cloned()
        .expect("the unused import finding");
    let actions = c
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": diag["range"],
                   "context": {"diagnostics": [diag]}}),
        )
        .await;
    let pick = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["title"]
                .as_str()
                .unwrap()
                .ends_with("add a suppression comment")
        })
        .cloned()
        .expect("the suppressing variant");
    assert!(pick["edit"].is_object(), "{pick:#}");
    let answer = c
        .request("workspace/executeCommand", pick["command"].clone())
        .await;
    assert_eq!(answer["recorded"], true, "{answer}");
    let db = c.home().join(".local/share/kiln/kiln.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (kind, verdict, comment, rule, file, line, run): (
        String,
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
    ) = conn
        .query_row(
            "SELECT fb.target_kind, fb.verdict, fb.comment, f.rule, f.file, f.start_line, f.run_id
             FROM feedback fb JOIN findings f ON f.id = fb.target_id WHERE fb.id = ?1",
            [answer["feedback"].as_i64().unwrap()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!((kind.as_str(), verdict.as_str()), ("finding", "reject"));
    assert!(comment.contains("suppression comment added"), "{comment}");
    assert_eq!(
        (rule.as_str(), file.as_str(), line, run),
        ("PY109", "m.py", 0, None)
    );
    c.finish().await;
}
