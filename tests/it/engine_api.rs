//! The engine API: operations in, events out, against a real store, the real local model
//! server and a second real `kiln` process.

use std::time::Duration;

use crate::support::kiln::Kiln;
use crate::support::llm_server::{LlmServer, Reply};
use kiln::engine::api::{AskParams, Envelope, Event, Events, Op};
use kiln::engine::config::Config;
use kiln::engine::env::Env;
use kiln::engine::ids::{OpId, RunId};
use kiln::engine::llm::Message;
use kiln::engine::paths::Paths;
use kiln::engine::store::{RunKind, Status, Store, StoreConfig};
use kiln::engine::{Engine, EngineHandle, EngineOptions};

fn options(kiln: &Kiln, models_toml: &str) -> EngineOptions {
    let env = Env::from_pairs([
        ("HOME", kiln.home().display().to_string()),
        (
            "XDG_DATA_HOME",
            kiln.home().join("data").display().to_string(),
        ),
        (
            "XDG_CONFIG_HOME",
            kiln.home().join("config").display().to_string(),
        ),
        (
            "XDG_STATE_HOME",
            kiln.home().join("state").display().to_string(),
        ),
        ("TEST_KEY", "sk-test-engine-api".to_owned()),
    ]);
    let paths = Paths::resolve(&env, None).unwrap();
    std::fs::create_dir_all(&paths.data_dir).unwrap();
    let mut config = Config::default();
    if !models_toml.is_empty() {
        config.models = toml::from_str(models_toml).unwrap();
    }
    EngineOptions {
        paths,
        config,
        env,
        init_program: env!("CARGO_BIN_EXE_kiln").into(),
    }
}

/// Events of `op` until it ends, with a bound so a bug fails instead of hanging.
async fn events_of(events: &mut Events, op: OpId) -> Vec<Envelope> {
    let mut out = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("the operation ended within 20 s")
            .expect("the engine is running");
        if e.op != Some(op) {
            continue;
        }
        let end = matches!(e.event, Event::OpDone | Event::OpFailed { .. });
        out.push(e);
        if end {
            return out;
        }
    }
}

fn names(events: &[Envelope]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn start(kiln: &Kiln, models: &str) -> EngineHandle {
    Engine::start(options(kiln, models)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_streams_deltas_and_commits_before_announcing() {
    let server = LlmServer::start().await;
    server.push([
        Reply::status(429),
        Reply::text("four, of course").usage(7, 3),
    ]);
    let kiln = Kiln::new();
    let models = format!(
        "detect_ollama = false\n[retry]\ninitial_backoff_ms = 10\n[named.t]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\napi_key_env = \"TEST_KEY\"\n",
        server.base_url()
    );
    let engine = start(&kiln, &models);
    let mut events = engine.subscribe();
    let op = engine.submit(Op::Ask(AskParams {
        messages: vec![Message::user("2 + 2?".to_owned())],
        ..AskParams::default()
    }));
    let got = events_of(&mut events, op).await;
    let kinds = names(&got);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("run_created"),
        "{kinds:?}"
    );
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["ask_finished", "run_finished", "op_done"],
        "{kinds:?}"
    );
    let streamed: String = got
        .iter()
        .filter_map(|e| match &e.event {
            Event::ModelDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, "four, of course");
    // The retry after the 429 was announced while it waited.
    assert!(
        got.iter().any(|e| matches!(&e.event,
            Event::ModelRetrying { reason, attempt: 1, .. } if reason.starts_with("429 from t"))),
        "{kinds:?}"
    );
    let run = got[0].run.expect("events name their run");
    assert!(got.iter().all(|e| e.run.is_none() || e.run == Some(run)));

    // Committed before announced: the row already says what the event said.
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let row = store.run(run.get()).unwrap();
    assert_eq!((row.kind, row.status), (RunKind::Ask, Status::Succeeded));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_events_and_the_engine_keeps_running() {
    let kiln = Kiln::new();
    let engine = start(&kiln, "detect_ollama = false");
    let mut events = engine.subscribe();
    let op = engine.submit(Op::Ask(AskParams {
        messages: vec![Message::user("hello".to_owned())],
        ..AskParams::default()
    }));
    let got = events_of(&mut events, op).await;
    let Event::OpFailed { error, .. } = &got.last().unwrap().event else {
        panic!("{:?}", names(&got));
    };
    assert!(error.contains("no model configured"), "{error}");
    // The run that could not get a model is recorded as failed, with the reason.
    let run = got[0].run.unwrap();
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let row = store.run(run.get()).unwrap();
    assert_eq!(row.status, Status::Failed);
    assert!(row.error.unwrap().contains("no model configured"));

    let op = engine.submit(Op::CancelRun { run: RunId(999) });
    let got = events_of(&mut events, op).await;
    assert!(
        matches!(&got[0].event, Event::OpFailed { error, .. } if error.contains("999")),
        "{:?}",
        names(&got)
    );
    engine.shutdown().await;
    // After shutdown, a submitted operation fails instead of vanishing.
    let mut late = engine.subscribe();
    let op = engine.submit(Op::CancelRun { run: RunId(1) });
    let e = late.try_next().expect("an event for the late operation");
    assert_eq!(e.op, Some(op));
    assert!(
        matches!(&e.event, Event::OpFailed { error, .. } if error.contains("stopped")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_processes_commits_arrive_as_store_changed_and_ours_do_not() {
    let server = LlmServer::start().await;
    server.push([Reply::text("ok")]);
    let kiln = Kiln::new();
    let models = format!(
        "detect_ollama = false\n[named.t]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\napi_key_env = \"TEST_KEY\"\n",
        server.base_url()
    );
    let engine = start(&kiln, &models);
    let mut events = engine.subscribe();
    // Our own run: its changes are told by its own events, not again as StoreChanged.
    let op = engine.submit(Op::Ask(AskParams {
        messages: vec![Message::user("hi".to_owned())],
        ..AskParams::default()
    }));
    events_of(&mut events, op).await;

    let project = kiln.home().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let out = kiln.output(&[
        "project",
        "add",
        project.to_str().unwrap(),
        "--name",
        "proj",
    ]);
    assert!(
        out.status.success(),
        "{}",
        crate::support::kiln::describe(&out)
    );
    let changed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.next().await.unwrap();
            if let Event::StoreChanged { changes } = e.event {
                return changes;
            }
        }
    })
    .await
    .expect("the other process's commit arrived");
    assert!(
        changed.iter().all(|c| c.table == "projects"),
        "only the other process's change: {changed:?}"
    );
    engine.shutdown().await;
}
