//! kill -9 of the kiln process that owns a pipeline run while its tests run in the sandbox
//! (the `test_run` stage), then `kiln resume RUN`: the run continues from that stage, and the
//! model calls that had finished (spec, generate, tests) are not made again. (kill -9 during a
//! model stream is `pipeline_bad_input::cancel_and_kill_mid_stage_then_resume`.)

use std::time::{Duration, Instant};

use crate::support::kiln::Kiln;
use crate::support::llm_server::LlmServer;
use crate::support::pipeline_script::{self, kiln_with_model};
use crate::support::sandbox::isolation_available;
use kiln::engine::store::{Store, StoreConfig};
use serde_json::Value;

fn stage_running(k: &Kiln, name: &str) -> bool {
    let Ok(s) = Store::open_read_only(&k.db(), &StoreConfig::default()) else {
        return false;
    };
    s.pipeline_stages(1).is_ok_and(|v| {
        v.iter()
            .any(|st| st.name == name && st.status.as_str() == "running")
    })
}

#[test]
fn kill_9_during_the_test_run_then_resume_continues_there() {
    if !isolation_available("pipeline resume after kill -9 in test_run") {
        return;
    }
    let server = LlmServer::start_background();
    let k = kiln_with_model(&server, "");
    let mut python = pipeline_script::python();
    // A test that takes a while, so the kill lands while the tests run in the sandbox.
    python.tests = "```python test_calc.py\nimport time\n\nfrom calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    time.sleep(3)\n    assert add(0, 0) == 0\n```\n".into();
    let mut replies = python.happy();
    let rest = replies.split_off(3);
    server.push(replies);
    let mut child = k
        .command(&["new", "add two numbers", "--lang", "python"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !stage_running(&k, "test_run") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "test_run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Inside the stage: give the sandbox a moment to start pytest, then kill -9.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let calls = server.requests().len();
    assert_eq!(calls, 3, "spec, generate and tests were called");
    let store = Store::open_read_only(&k.db(), &StoreConfig::default()).unwrap();
    assert_eq!(store.run(1).unwrap().status.as_str(), "running");

    server.push(rest);
    let t = Instant::now();
    let run = k.run(&["--format", "json", "resume", "1"]);
    eprintln!("resume took {:?}", t.elapsed());
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", run.stdout, run.stderr));
    assert_eq!(doc["status"], "succeeded", "{doc:#}");
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    // review, improve, review, docs: nothing finished was asked again.
    assert_eq!(server.requests().len(), calls + 4);
    let names: Vec<&str> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.first(),
        Some(&"test_run"),
        "resumed at the killed stage: {names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| ["spec", "generate", "tests"].contains(n)),
        "a finished model stage was redone: {names:?}"
    );
    // Both test runs were recorded, the killed one no longer running.
    let stages = store.pipeline_stages(1).unwrap();
    let test_runs: Vec<&str> = stages
        .iter()
        .filter(|s| s.name == "test_run")
        .map(|s| s.status.as_str())
        .collect();
    assert!(
        test_runs.len() >= 2 && !test_runs.contains(&"running"),
        "{test_runs:?}"
    );
}
