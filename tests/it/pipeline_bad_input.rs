//! The pipeline's "Bad input": malformed model output at each stage, flaky providers, weakened
//! tests, an exhausted loop, no model, cancellation, kill -9 and resume, unsafe export. Each
//! stage failure is clear, keeps the raw reply, leaves the run retryable and writes nothing into
//! the project.

use std::time::{Duration, Instant};

use crate::support::kiln::{Kiln, Run};
use crate::support::llm_server::{Fault, LlmServer, Reply};
use crate::support::pipeline_script::{self, kiln_with_model};
use crate::support::sandbox::isolation_available;
use kiln::engine::store::{Store, StoreConfig};
use serde_json::Value;

fn new_json(k: &Kiln, extra: &[&str]) -> (Value, Run) {
    let mut args = vec![
        "--format",
        "json",
        "new",
        "add two numbers",
        "--lang",
        "python",
    ];
    args.extend_from_slice(extra);
    let run = k.run(&args);
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", run.stdout, run.stderr));
    (doc, run)
}

fn json(k: &Kiln, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let run = k.run(&all);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", run.stdout, run.stderr))
}

fn store(k: &Kiln) -> Store {
    Store::open_read_only(&k.db(), &StoreConfig::default()).unwrap()
}

/// Nothing but kiln's own directories in the temp world (the export root).
fn project_untouched(k: &Kiln) {
    let mut names: Vec<String> = std::fs::read_dir(k.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.retain(|n| !["config", "data", "state"].contains(&n.as_str()));
    assert!(names.is_empty(), "the project was written: {names:?}");
}

/// A kiln talking to a fresh test model server, and the happy python story's replies to bend.
fn world(config: &str) -> (LlmServer, Kiln, Vec<Reply>) {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server, config);
    (server, k, pipeline_script::python().happy())
}

/// A run allowed one improve round whose improve reply is `improve` (the happy story up to
/// it), started with `args`.
fn improve_once_with(improve: &str, args: &[&str]) -> (LlmServer, Kiln, Value) {
    let (server, k, mut replies) = world("[pipeline]\nmax_iterations = 1\n");
    replies[4] = Reply::text(improve);
    replies.truncate(6);
    server.push(replies);
    let (doc, _) = new_json(&k, args);
    (server, k, doc)
}

/// Asserts the run failed with an error containing `want`; returns the error.
fn failed_with<'a>(doc: &'a Value, want: &str) -> &'a str {
    assert_eq!(doc["status"], "failed", "{doc:#}");
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains(want), "{error}");
    error
}

/// A malformed reply at `stage` (0-based model call) fails that stage, keeps the raw reply and
/// leaves the run retryable; the retry with a good reply finishes the run.
fn malformed_at(call: usize, bad: Reply, expect: &str) {
    let (server, k, mut replies) = world("");
    let good = std::mem::replace(&mut replies[call], bad);
    server.push(replies.drain(..=call));
    let (doc, run) = new_json(&k, &[]);
    let error = failed_with(&doc, expect);
    assert_eq!(run.code, 1);
    assert!(error.contains("kiln retry"), "{error}");
    project_untouched(&k);
    let id = doc["run"].as_i64().unwrap();
    // The raw reply is kept with the model call.
    let s = store(&k);
    let stages = s.pipeline_stages(id).unwrap();
    let failed = stages
        .iter()
        .find(|st| st.status.as_str() == "failed")
        .unwrap();
    let raw = s.generation(failed_generation(&k, failed.id)).unwrap();
    assert!(raw.response.is_some(), "raw reply kept");
    // Retry: the failed stage runs again, earlier ones are replayed.
    let before = server.requests().len();
    server.push([good]);
    server.push(replies);
    let run = k.run(&["--format", "json", "retry", &id.to_string()]);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["status"], "succeeded", "{doc:#}\n{}", run.stderr);
    assert_eq!(
        server.requests().len() - before,
        7 - call,
        "earlier model calls were not redone"
    );
}

fn failed_generation(k: &Kiln, stage: i64) -> i64 {
    let conn = rusqlite::Connection::open(k.db()).unwrap();
    conn.query_row(
        "SELECT id FROM generations WHERE stage_id = ?1 ORDER BY id DESC LIMIT 1",
        [stage],
        |r| r.get(0),
    )
    .unwrap()
}

/// One test per malformed reply, where isolation works: `name: model call, reply, what the
/// error says;` (see [`malformed_at`]).
macro_rules! malformed {
    ($($(#[$meta:meta])* $name:ident: $call:expr, $reply:expr, $want:expr;)+) => {$(
        $(#[$meta])*
        #[test]
        fn $name() {
            if !isolation_available("pipeline bad input") {
                return;
            }
            malformed_at($call, $reply, $want);
        }
    )+};
}

malformed! {
    generate_without_a_fence_fails_clearly_and_is_retryable:
        1, Reply::text("def add(a, b): return a + b"), "contains no code block";
    a_path_outside_the_root_is_refused:
        1, Reply::text("```python ../evil.py\nprint('x')\n```\n"), "outside the project root";
    /// 10 MiB in 1 KiB deltas, as a model would stream it.
    a_ten_megabyte_file_is_refused: 2, {
        let mut chunks = vec!["```python big.py\n".to_owned()];
        chunks.extend((0..10 * 1024).map(|_| "x".repeat(1023) + "\n"));
        chunks.push("```\n".to_owned());
        Reply {
            chunks,
            ..Reply::default()
        }
        .usage(100, 100)
    }, "over the 1048576-byte limit";
    a_review_without_json_score_or_bullets_fails:
        3, Reply::text("I would rather not say."), "contains no";
    an_edit_whose_search_text_is_missing_fails: 4, Reply::text(
        "calc.py\n<<<<<<< SEARCH\n    return a * b\n=======\n    return a + b\n>>>>>>> REPLACE\n",
    ), "does not apply";
}

#[test]
fn provider_errors_and_cut_streams_are_retried() {
    if !isolation_available("pipeline bad input") {
        return;
    }
    let (server, k, mut replies) = world("");
    // A 500 and a 429 before the spec (the model layer retries), a cut stream for generate
    // (the stage is retried as a whole).
    replies.insert(0, Reply::status(500));
    replies.insert(1, Reply::status(429).retry_after("0"));
    replies.insert(
        3,
        Reply::text("```python calc.py\ndef add(").fault(Fault::Cut),
    );
    server.push(replies);
    let (doc, run) = new_json(&k, &[]);
    assert_eq!(doc["status"], "succeeded", "{doc:#}\n{}", run.stderr);
    let generate: Vec<&Value> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "generate")
        .collect();
    assert_eq!(generate.len(), 2, "{doc:#}");
    assert_eq!(generate[0]["status"], "failed");
    assert_eq!(generate[1]["attempt"], 2);
}

#[test]
fn a_truncated_reply_is_not_code() {
    if !isolation_available("pipeline bad input") {
        return;
    }
    let (server, k, mut replies) = world("max_tokens = 50\n");
    replies[1] = Reply::text("```python calc.py\ndef add(a, b):\n").usage(10, 50);
    server.push(replies.drain(..2));
    let (doc, _) = new_json(&k, &[]);
    failed_with(&doc, "cut at the token limit");
    project_untouched(&k);
}

/// Improve "fixes" the failure by deleting the failing test: the integrity gate names it, and
/// with one improve round allowed the run ends failed with every attempt kept.
#[test]
fn deleting_a_failing_test_fails_integrity_and_exhausts_the_loop() {
    if !isolation_available("pipeline integrity") {
        return;
    }
    let (_server, k, doc) = improve_once_with(
        "```python test_calc.py\nfrom calc import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n```\n",
        &["--yes"],
    );
    let error = failed_with(&doc, "after 1 improve round");
    assert!(error.contains("test_calc.py::test_add: deleted"), "{error}");
    let s = store(&k);
    let gates = s.gates_of_run(doc["run"].as_i64().unwrap()).unwrap();
    let integrity = gates
        .iter()
        .find(|g| g.iteration == 1 && g.gate == "integrity")
        .unwrap();
    assert!(!integrity.passed);
    assert!(integrity.detail.contains("test_add"), "{integrity:?}");
    // Both attempts' files are kept as versions.
    let versions = s
        .artifact_versions(doc["run"].as_i64().unwrap(), "test_calc.py")
        .unwrap();
    assert_eq!(versions.len(), 2);
    project_untouched(&k);
}

#[test]
fn skipping_a_failing_test_fails_integrity() {
    if !isolation_available("pipeline integrity") {
        return;
    }
    let (_server, _k, doc) = improve_once_with(
        "test_calc.py\n<<<<<<< SEARCH\ndef test_add():\n=======\nimport pytest\n\n\n@pytest.mark.skip(reason=\"flaky\")\ndef test_add():\n>>>>>>> REPLACE\n",
        &[],
    );
    failed_with(&doc, "test_calc.py::test_add: newly skipped");
}

#[test]
fn without_a_model_model_stages_are_skipped_saying_how_to_configure_one() {
    let k = Kiln::new();
    k.config("[models]\ndetect_ollama = false\n");
    let (doc, run) = new_json(&k, &[]);
    assert_eq!(doc["status"], "skipped", "{doc:#}");
    assert_eq!(run.code, 1);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains("no model configured") && error.contains("OPENAI_API_KEY"),
        "{error}"
    );
    assert_eq!(doc["stages"][0]["status"], "skipped");
    let human = k.run(&["new", "add two numbers"]);
    assert!(
        human.stdout.contains("configure a model"),
        "{}",
        human.stdout
    );
}

#[test]
fn an_unchanged_request_reuses_the_stage_results() {
    if !isolation_available("pipeline cache") {
        return;
    }
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server, "");
    server.push(pipeline_script::python().happy());
    let (first, _) = new_json(&k, &[]);
    assert_eq!(first["status"], "succeeded", "{first:#}");
    let calls = server.requests().len();
    let (second, run) = new_json(&k, &[]);
    assert_eq!(second["status"], "succeeded", "{second:#}");
    assert_eq!(
        server.requests().len(),
        calls,
        "no model call was made again"
    );
    let reused = second["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["cached"] == true)
        .count();
    assert_eq!(reused, 7, "{second:#}");
    let human = k.run(&["new", "add two numbers", "--lang", "python"]);
    assert!(human.stderr.contains("reused"), "{}", human.stderr);
    drop(run);
}

#[test]
fn a_budget_stops_the_run_before_the_call() {
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server, "[pipeline.budget]\nper_run_usd = 0.0001\n");
    let (doc, _) = new_json(&k, &[]);
    failed_with(&doc, "per-run budget");
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn export_refuses_to_overwrite_a_file_it_did_not_read() {
    if !isolation_available("pipeline export") {
        return;
    }
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server, "");
    std::fs::write(k.home().join("calc.py"), "# mine\n").unwrap();
    server.push(pipeline_script::python().happy());
    let (doc, _) = new_json(&k, &["--yes"]);
    failed_with(&doc, "'calc.py' exists");
    assert_eq!(
        std::fs::read_to_string(k.home().join("calc.py")).unwrap(),
        "# mine\n"
    );
    assert!(
        !k.home().join("test_calc.py").exists(),
        "nothing was written"
    );
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stage_running(k: &Kiln, name: &str) -> bool {
    let Ok(s) = Store::open_read_only(&k.db(), &StoreConfig::default()) else {
        return false;
    };
    s.pipeline_stages(1).is_ok_and(|v| {
        v.iter()
            .any(|st| st.name == name && st.status.as_str() == "running")
    })
}

/// Cancel from another process mid-stream, then resume; kill -9 mid-stream, then resume.
/// Finished model calls are never made again.
#[test]
fn cancel_and_kill_mid_stage_then_resume() {
    if !isolation_available("pipeline resume") {
        return;
    }
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server, "");
    let mut replies = pipeline_script::python().happy();
    let slow = Reply::text(&"word ".repeat(400)).chunk_delay(50);
    // spec ok, generate slow (cancelled), then slow again (killed), then the real ones.
    let rest = replies.split_off(1);
    server.push(replies);
    server.push([slow.clone(), slow]);
    let child = k
        .command(&[
            "--format",
            "json",
            "new",
            "add two numbers",
            "--lang",
            "python",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("generate to stream", || stage_running(&k, "generate"));
    k.run(&["cancel", "1"]).ok();
    let out = child.wait_with_output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "cancelled", "{doc:#}");
    assert_eq!(server.requests().len(), 2);

    // Resume: generate runs again (and is killed with -9 while it streams).
    let mut child = k.command(&["resume", "1"]).spawn().unwrap();
    wait_for("generate to stream again", || {
        server.requests().len() == 3 && stage_running(&k, "generate")
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(store(&k).run(1).unwrap().status.as_str(), "running");

    // The owner is dead: resume marks it interrupted and continues.
    server.push(rest);
    let doc = json(&k, &["resume", "1"]);
    assert_eq!(doc["status"], "succeeded", "{doc:#}");
    // spec once, generate three times (cancelled, killed, done), then the other five.
    assert_eq!(server.requests().len(), 3 + 6);
    let names: Vec<&str> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.first(),
        Some(&"generate"),
        "spec was replayed: {names:?}"
    );
}
