//! The pipeline on the engine API: every state change is committed before it is announced,
//! events of a run arrive in order, a custom stage runs and is recorded like a built-in one, and
//! a run started by `kiln new` in another process is seen live as `StoreChanged`.

use std::time::Duration;

use crate::support::kiln::Kiln;
use crate::support::llm_server::{LlmServer, Reply};
use crate::support::pipeline_script;
use crate::support::sandbox::isolation_available;
use kiln::engine::api::{Envelope, Event, Events, Op, StartRunParams};
use kiln::engine::config::Config;
use kiln::engine::ids::OpId;
use kiln::engine::store::{Status, Store, StoreConfig};
use kiln::engine::{Engine, EngineHandle, EngineOptions};

fn engine(kiln: &Kiln, server: &LlmServer, pipeline_toml: &str) -> EngineHandle {
    let (env, paths) = kiln.engine_world(&[("TEST_KEY", "sk-test-pipeline-api")]);
    let config = Config {
        models: toml::from_str(&format!(
            "detect_ollama = false\ndefault = \"t\"\n[named.t]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\napi_key_env = \"TEST_KEY\"\n",
            server.base_url()
        ))
        .unwrap(),
        pipeline: toml::from_str(pipeline_toml).unwrap(),
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

/// Events of `op` until it ends; on each stage event the store is read to check the change
/// was committed first.
async fn follow(events: &mut Events, op: OpId, db: &std::path::Path) -> Vec<Envelope> {
    let mut out = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .expect("the run ended within 60 s")
            .expect("the engine is running");
        if e.op != Some(op) {
            continue;
        }
        let store = Store::open_read_only(db, &StoreConfig::default()).unwrap();
        match &e.event {
            Event::StageStarted { stage, .. } => {
                store
                    .pipeline_stage(stage.get())
                    .expect("stage row committed before StageStarted");
            }
            Event::StageFinished { stage, status, .. } => {
                let row = store.pipeline_stage(stage.get()).unwrap();
                assert_eq!(
                    row.status, *status,
                    "stage end committed before StageFinished"
                );
            }
            Event::GateEvaluated { gate, .. } => {
                let gates = store.gates_of_run(e.run.unwrap().get()).unwrap();
                assert!(
                    gates.iter().any(|g| g.gate == *gate),
                    "gate committed first"
                );
            }
            Event::RunFinished { status, .. } => {
                let run = store.run(e.run.unwrap().get()).unwrap();
                assert_eq!(run.status, *status, "run end committed before RunFinished");
            }
            _ => {}
        }
        let end = matches!(e.event, Event::OpDone | Event::OpFailed { .. });
        out.push(e);
        if end {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_commits_before_announcing_and_its_events_are_in_order() {
    if !isolation_available("pipeline api") {
        return;
    }
    let server = LlmServer::start().await;
    server.push(pipeline_script::python().happy());
    let kiln = Kiln::new();
    let engine = engine(&kiln, &server, "");
    let mut events = engine.subscribe();
    let root = kiln.home().join("project");
    std::fs::create_dir_all(&root).unwrap();
    let op = engine.submit(Op::StartRun(StartRunParams {
        request: "add two numbers".into(),
        root: Some(root),
        language: Some("python".into()),
        ..StartRunParams::default()
    }));
    let got = follow(&mut events, op, &kiln.db()).await;
    assert!(
        matches!(got[0].event, Event::RunCreated { .. }),
        "{:?}",
        got[0]
    );
    let n = got.len();
    assert!(
        matches!(
            got[n - 2].event,
            Event::RunFinished {
                status: Status::Succeeded,
                ..
            }
        ),
        "{:?}",
        got[n - 2]
    );
    assert!(matches!(got[n - 1].event, Event::OpDone));
    let run = got[0].run.unwrap();
    assert!(got[..n - 1].iter().all(|e| e.run == Some(run)));
    // Per run, in order: seq grows, and every stage starts before it finishes, one at a time.
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    let mut open = None;
    for e in &got {
        match &e.event {
            Event::StageStarted { stage, .. } => {
                assert!(open.is_none(), "a stage started while {open:?} ran");
                open = Some(*stage);
            }
            Event::StageFinished { stage, .. } => assert_eq!(open.take(), Some(*stage)),
            Event::ModelDelta { stage, .. } => {
                assert_eq!(*stage, open, "deltas belong to the open stage");
            }
            _ => {}
        }
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_stage_runs_before_generate_and_feeds_it() {
    let server = LlmServer::start().await;
    let kiln = Kiln::new();
    let root = kiln.home().join("project");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("design.md"),
        "You design APIs.\n<!-- user -->\nDesign the API for: {{request}}\n",
    )
    .unwrap();
    let story = pipeline_script::python();
    server.push([
        Reply::text(&story.spec),
        Reply::text("API: add(a: int, b: int) -> int"),
        Reply::text(&story.generate),
    ]);
    let engine = engine(
        &kiln,
        &server,
        "stages = [\"spec\", \"design\", \"generate\"]\n[[custom]]\nname = \"design\"\nprompt = \"design.md\"\nreads = [\"request\"]\nwrites = \"note\"\n",
    );
    let mut events = engine.subscribe();
    let op = engine.submit(Op::StartRun(StartRunParams {
        request: "add two numbers".into(),
        root: Some(root),
        language: Some("python".into()),
        ..StartRunParams::default()
    }));
    let got = follow(&mut events, op, &kiln.db()).await;
    let stages: Vec<String> = got
        .iter()
        .filter_map(|e| match &e.event {
            Event::StageFinished { name, status, .. } => Some(format!("{name}:{status}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        stages,
        ["spec:succeeded", "design:succeeded", "generate:succeeded"]
    );
    let requests = server.requests();
    assert!(
        requests[1]
            .body
            .to_string()
            .contains("Design the API for: add two numbers")
    );
    // The custom stage's note reaches generate's prompt.
    assert!(
        requests[2]
            .body
            .to_string()
            .contains("API: add(a: int, b: int)"),
        "{}",
        requests[2].body
    );
    let db = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let rows = db.pipeline_stages(got[0].run.unwrap().get()).unwrap();
    assert_eq!(rows[1].kind.as_str(), "custom");
    assert_eq!(rows[1].name, "design");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_another_process_is_seen_live_as_store_changed() {
    let server = LlmServer::start().await;
    let kiln = pipeline_script::kiln_with_model(&server, "");
    let story = pipeline_script::python();
    // spec streams slowly so the run is still going while we watch.
    server.push([
        Reply::text(&story.spec).chunk_delay(100),
        Reply::text(&story.generate),
    ]);
    let engine = engine(&kiln, &server, "");
    let mut events = engine.subscribe();
    let mut child = tokio::process::Command::from(kiln.command(&[
        "new",
        "add two numbers",
        "--stages",
        "spec,generate",
    ]))
    .spawn()
    .unwrap();
    let mut tables = std::collections::BTreeSet::new();
    let mut live = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(tables.contains("runs") && tables.contains("stages")) {
        let e = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the other process's run was seen")
            .unwrap();
        if let Event::StoreChanged { changes } = e.event {
            assert_eq!(e.op, None);
            for c in changes {
                tables.insert(c.table.clone());
            }
            if child.try_wait().unwrap().is_none() {
                live = true;
            }
        }
    }
    assert!(
        live,
        "changes arrived while the other process was still running"
    );
    assert!(child.wait().await.unwrap().success());
    engine.shutdown().await;
}
