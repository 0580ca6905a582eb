//! A request end to end through `kiln new` for each language: the first code has a bug, the
//! sandboxed tests fail, the review asks for a fix, improve fixes it, every gate passes and
//! `--yes` exports the files. The real binary, the real sandbox and the local model server.

use crate::support::llm_server::LlmServer;
use crate::support::pipeline_script::{self, Story};
use crate::support::sandbox::isolation_available;
use kiln::engine::store::{Store, StoreConfig};

fn store(k: &crate::support::kiln::Kiln) -> Store {
    Store::open_read_only(&k.db(), &StoreConfig::default()).unwrap()
}

fn end_to_end(story: &Story) {
    let server = LlmServer::start_background();
    let mut k = pipeline_script::kiln_with_model(&server, "");
    if story.lang == "rust" {
        // The temp HOME has no toolchain: point at the machine's, as a user's shell would.
        let home = std::env::var("HOME").unwrap_or_default();
        let rustup = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup"));
        let cargo = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
        k.env("RUSTUP_HOME", &rustup).env("CARGO_HOME", &cargo);
        if let Ok(tc) = std::env::var("RUSTUP_TOOLCHAIN") {
            k.env("RUSTUP_TOOLCHAIN", &tc);
        }
    }
    server.push(story.happy());
    let run = k.run(&[
        "--format",
        "json",
        "new",
        "add two numbers",
        "--lang",
        story.lang,
        "--yes",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", run.stdout, run.stderr));
    assert_eq!(doc["status"], "succeeded", "{doc:#}\n{}", run.stderr);
    assert_eq!(run.code, 0);
    // The first test run failed, the second passed: two iterations of gates.
    let stages: Vec<String> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}#{}:{}",
                s["name"].as_str().unwrap(),
                s["iteration"],
                s["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            "spec#0:succeeded",
            "generate#0:succeeded",
            "tests#0:succeeded",
            "check#0:succeeded",
            "test_run#0:succeeded",
            "review#0:succeeded",
            "improve#1:succeeded",
            "check#1:succeeded",
            "test_run#1:succeeded",
            "review#1:succeeded",
            "docs#0:succeeded",
            "export#0:succeeded",
        ],
        "{doc:#}"
    );
    for gate in ["syntax", "tests", "findings", "review", "integrity"] {
        assert_eq!(
            doc["gates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["gate"] == gate)
                .unwrap()["passed"],
            true,
            "{gate}: {doc:#}"
        );
    }
    assert_eq!(doc["tests"]["failed"], 0, "{doc:#}");
    assert_eq!(doc["tests"]["passed"], 2, "{doc:#}");
    assert!(doc["cost_usd"].as_f64().unwrap() > 0.0);
    let exported: Vec<&str> = doc["exported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for f in &story.files {
        assert!(exported.contains(f), "{f} not in {exported:?}");
        assert!(k.home().join(f).is_file(), "{f} not written");
    }
    // The stored history: the first test run failed the tests gate, every attempt kept.
    let s = store(&k);
    let gates = s.gates_of_run(doc["run"].as_i64().unwrap()).unwrap();
    assert!(
        gates
            .iter()
            .any(|g| g.iteration == 0 && g.gate == "tests" && !g.passed),
        "{gates:?}"
    );
    assert!(
        gates.iter().filter(|g| g.iteration == 1).all(|g| g.passed),
        "{gates:?}"
    );
    assert_eq!(server.requests().len(), 7);
    // The listing commands read the same run.
    let id = doc["run"].to_string();
    let runs = k.ok(&["runs"]);
    assert!(
        runs.contains("pipeline") && runs.contains("succeeded") && runs.contains("add two numbers"),
        "{runs}"
    );
    let show = k.ok(&["show", &id]);
    assert!(
        show.contains("improve #1") && show.contains("gate") && show.contains("cost: $"),
        "{show}"
    );
    let logs = k.ok(&["logs", &id, "--stage", "test_run"]);
    assert!(logs.contains("pass") && !logs.contains("reused"), "{logs}");
}

#[test]
fn python_request_end_to_end() {
    if !isolation_available("pipeline python") {
        return;
    }
    let story = pipeline_script::python();
    end_to_end(&story);
}

#[test]
fn javascript_request_end_to_end() {
    if !isolation_available("pipeline javascript") {
        return;
    }
    end_to_end(&pipeline_script::javascript());
}

#[test]
fn rust_request_end_to_end() {
    if !isolation_available("pipeline rust") {
        return;
    }
    end_to_end(&pipeline_script::rust());
}
