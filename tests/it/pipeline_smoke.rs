//! The pipeline's optional `smoke` stage end to end: a run against the local model test server
//! whose spec carries a ```smoke block and whose generated code is a real Flask app (the venv of
//! `tests/setup/serve.sh`, bound read-only). The stage serves the run's files in the sandbox,
//! records each HTTP check as a test result, stops the service, and the `smoke` gate decides.

use std::time::Duration;

use crate::support::kiln::Kiln;
use crate::support::llm_server::{LlmServer, Reply};
use crate::support::serve::have_venv;
use kiln::engine::api::{Event, Op, StartRunParams};
use kiln::engine::config::Config;
use kiln::engine::store::{Status, Store, StoreConfig};
use kiln::engine::{Engine, EngineHandle, EngineOptions};

const APP: &str = "Here is the app:\n```python app.py\nfrom flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'hello from smoke\\n'\n\n@app.post('/echo')\ndef echo():\n    from flask import request\n    return request.get_json()['word']\n```\n";

fn engine(kiln: &Kiln, server: &LlmServer, venv: &std::path::Path) -> EngineHandle {
    let (env, paths) = kiln.engine_world(&[("TEST_KEY", "sk-test-smoke")]);
    let pipeline = format!(
        r#"stages = ["spec", "generate", "smoke"]
cache = false
[gates]
syntax = false
tests = false
findings = "off"
review_score = 0
integrity = false
[smoke]
enabled = true
cmd = "{venv}/bin/python3 -m flask --app app run --host 127.0.0.1 --port $PORT"
ro = ["{venv}"]
health = "/"
health_timeout_secs = 60
"#,
        venv = venv.display()
    );
    let config = Config {
        models: toml::from_str(&format!(
            "detect_ollama = false\ndefault = \"t\"\n[named.t]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\napi_key_env = \"TEST_KEY\"\n",
            server.base_url()
        ))
        .unwrap(),
        pipeline: toml::from_str(&pipeline).unwrap(),
        ..Config::default()
    };
    Engine::start(EngineOptions {
        paths,
        config,
        env,
        init_program: env!("CARGO_BIN_EXE_kiln").into(),
    })
    .unwrap()
}

/// Starts a run and waits for its end: (run id, status, error).
async fn run(engine: &EngineHandle) -> (i64, Status, Option<String>) {
    let mut events = engine.subscribe();
    let op = engine.submit(Op::StartRun(StartRunParams {
        request: "a greeting web app".into(),
        language: Some("python".into()),
        ..StartRunParams::default()
    }));
    loop {
        let e = tokio::time::timeout(Duration::from_secs(180), events.next())
            .await
            .expect("the run ended within 180 s")
            .expect("the engine is running");
        if e.op != Some(op) {
            continue;
        }
        if let Event::RunFinished { status, error, .. } = e.event {
            return (e.run.unwrap().get(), status, error);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_stage_checks_a_served_flask_app_and_gates_the_run() {
    let Some(venv) = have_venv("pipeline: smoke stage") else {
        return;
    };
    let server = LlmServer::start().await;
    // What models send: prose, a fence tagged `json smoke`, a string status, `contains`.
    let good = "# Spec\nA greeting app.\n\n```json smoke\n[{\"method\": \"get\", \"path\": \"/\", \"expected_status\": \"200\", \"contains\": \"hello\"},\n {\"method\": \"POST\", \"path\": \"/echo\", \"json\": {\"word\": \"kiln\"}, \"status\": 200, \"body\": \"kiln\"},\n {\"path\": \"/nope\", \"status\": 404}]\n```\n";
    let bad = "# Spec\nA greeting app.\n\n```smoke\nGET / 200 goodbye\n```\n";
    server.push([good, APP, bad, APP].map(|t| Reply::text(t).usage(10, 10)));
    let kiln = Kiln::new();
    let engine = engine(&kiln, &server, &venv);

    let (id, status, error) = run(&engine).await;
    assert_eq!(status, Status::Succeeded, "{error:?}");
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let tests = store.test_rows(id).unwrap();
    let outcomes: Vec<(&str, &str)> = tests
        .iter()
        .map(|t| (t.name.as_str(), t.outcome.as_str()))
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(outcomes.iter().all(|(_, o)| *o == "passed"), "{tests:?}");
    assert!(outcomes[1].0.contains("POST /echo"), "{outcomes:?}");
    let gates = store.gates_of_run(id).unwrap();
    let smoke = gates
        .iter()
        .find(|g| g.gate == "smoke")
        .expect("a smoke gate");
    assert!(smoke.passed, "{smoke:?}");
    assert!(
        smoke.detail.contains("3 smoke check(s) passed"),
        "{smoke:?}"
    );
    let log = store.log_tail(id, 200).unwrap();
    assert!(
        log.iter().any(|l| l.text.contains("smoke: serving")),
        "the stage logs what it served"
    );

    let (id, status, error) = run(&engine).await;
    assert_eq!(status, Status::Failed);
    let error = error.unwrap_or_default();
    assert!(
        error.contains("smoke") && error.contains("goodbye"),
        "{error}"
    );
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let tests = store.test_rows(id).unwrap();
    assert_eq!(tests.len(), 1, "{tests:?}");
    assert_eq!(tests[0].outcome, "failed");
    assert!(
        tests[0]
            .message
            .as_deref()
            .unwrap_or("")
            .contains("does not contain"),
        "{tests:?}"
    );
    engine.shutdown().await;
}
