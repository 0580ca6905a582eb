//! The engine API: operations in, events out, against a real store, the real local model
//! server and a second real `kiln` process.

use std::time::Duration;

use crate::support::kiln::Kiln;
use crate::support::llm_server::{LlmServer, Reply};
use kiln::engine::api::{AskParams, Envelope, Event, Events, Op, Origin, ProjectRef};
use kiln::engine::config::Config;
use kiln::engine::ids::{OpId, RunId};
use kiln::engine::llm::{FinishReason, Message, ModelSource};
use kiln::engine::store::{RunKind, Status, Store, StoreConfig};
use kiln::engine::{Engine, EngineHandle, EngineOptions};

fn options(kiln: &Kiln, models_toml: &str) -> EngineOptions {
    let (env, paths) = kiln.engine_world(&[("TEST_KEY", "sk-test-engine-api")]);
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

/// The `[models]` table of one OpenAI-style model `t` (model id `id`) on `server`; `before`
/// goes above it (e.g. `[retry]`), `extra` into it.
fn openai_model(server: &LlmServer, before: &str, id: &str, extra: &str) -> String {
    format!(
        "detect_ollama = false\n{before}[named.t]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"{id}\"\napi_key_env = \"TEST_KEY\"\n{extra}",
        server.base_url()
    )
}

/// `kiln project add DIR --name proj`, in another process.
fn add_project(kiln: &Kiln, dir: &std::path::Path) {
    let out = kiln.output(&["project", "add", dir.to_str().unwrap(), "--name", "proj"]);
    assert!(
        out.status.success(),
        "{}",
        crate::support::kiln::describe(&out)
    );
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
    let models = openai_model(&server, "[retry]\ninitial_backoff_ms = 10\n", "m", "");
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
    let models = openai_model(&server, "", "m", "");
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
    add_project(&kiln, &project);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_names_its_model_first_and_finishes_with_the_whole_accounting() {
    let server = LlmServer::start().await;
    server.push([
        Reply::status(429),
        Reply::text("the first half of").usage(11, 4).truncated(),
    ]);
    let kiln = Kiln::new();
    let project = kiln.home().join("proj");
    std::fs::create_dir_all(project.join("src")).unwrap();
    add_project(&kiln, &project);
    let models = openai_model(
        &server,
        "[retry]\ninitial_backoff_ms = 10\n",
        "m-1",
        "max_tokens = 300\n",
    );
    let engine = start(&kiln, &models);
    let mut events = engine.subscribe();
    let op = engine.submit(Op::Ask(AskParams {
        messages: vec![Message::user("half?".to_owned())],
        max_tokens: Some(5),
        project: Some(ProjectRef::Containing(project.join("src"))),
        origin: Origin::Tui,
        ..AskParams::default()
    }));
    let got = events_of(&mut events, op).await;
    let kinds = names(&got);
    // The model is named before any text streams, with the limit this call uses.
    let chosen = kinds.iter().position(|k| k == "model_chosen");
    let first_delta = kinds.iter().position(|k| k == "model_delta");
    assert!(
        chosen.is_some() && chosen < first_delta,
        "model_chosen before the first delta: {kinds:?}"
    );
    let Event::ModelChosen {
        model,
        provider,
        model_id,
        source,
        max_tokens,
    } = &got[chosen.unwrap()].event
    else {
        unreachable!()
    };
    assert_eq!(
        (model.as_str(), provider.as_str(), model_id.as_str()),
        ("t", "openai", "m-1")
    );
    assert_eq!((source, *max_tokens), (&ModelSource::Configured, 5));

    let Some(Event::AskFinished {
        generation,
        text,
        tokens_in,
        tokens_out,
        cache_hit,
        latency_us,
        ttft_us,
        attempts,
        chunks,
        finish_reason,
        truncated,
        ..
    }) = got
        .iter()
        .map(|e| &e.event)
        .find(|e| matches!(e, Event::AskFinished { .. }))
    else {
        panic!("no ask_finished: {kinds:?}");
    };
    assert_eq!(text, "the first half of");
    assert_eq!((*tokens_in, *tokens_out), (Some(11), Some(4)));
    assert!(!cache_hit);
    assert_eq!(*attempts, 2, "the 429 and the reply");
    assert!(*chunks >= 1);
    let deltas = kinds.iter().filter(|k| *k == "model_delta").count() as u64;
    assert_eq!(*chunks, deltas, "one delta event per chunk");
    assert_eq!(
        (finish_reason.as_ref(), *truncated),
        (Some(&FinishReason::Length), true)
    );
    let ttft = ttft_us.expect("text arrived, so there is a ttft");
    assert!(
        ttft <= *latency_us,
        "ttft {ttft} us, latency {latency_us} us"
    );

    // Recorded as the CLI always did: the request with its origin, the run in the project
    // containing the directory, the generation linked to the run.
    let run = got[0].run.unwrap();
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let row = store.run(run.get()).unwrap();
    let project_id = store.project_by_name("proj").unwrap().id;
    assert_eq!(row.project_id, Some(project_id));
    let g = store.generation(generation.unwrap().get()).unwrap();
    assert_eq!(g.finish_reason.as_deref(), Some("length"));
    let db = rusqlite::Connection::open(kiln.db()).unwrap();
    let (origin, request_project): (String, Option<i64>) = db
        .query_row(
            "SELECT origin, project_id FROM requests WHERE id = ?1",
            [row.request_id.unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (origin.as_str(), request_project),
        ("tui", Some(project_id))
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_run_sent_on_run_created_finds_the_run_and_stops_the_ask() {
    let server = LlmServer::start().await;
    server.push([Reply {
        chunks_n: Some(10_000),
        chunk_delay_ms: 20,
        ..Reply::default()
    }]);
    let kiln = Kiln::new();
    let models = openai_model(&server, "", "m", "");
    let engine = start(&kiln, &models);
    let mut events = engine.subscribe();
    let op = engine.submit(Op::Ask(AskParams {
        messages: vec![Message::user("long".to_owned())],
        ..AskParams::default()
    }));
    let mut got = Vec::new();
    let mut cancel = None;
    let mut cancelled = false;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("the ask ended within 20 s")
            .unwrap();
        if cancel.is_some() && e.op == cancel {
            // The claim of the run was applied before the cancel, however the owner's
            // queues interleaved.
            assert!(matches!(e.event, Event::OpDone), "{e:?}");
            cancelled = true;
            continue;
        }
        if e.op != Some(op) {
            continue;
        }
        // At once, as `kiln ask` does on an early Ctrl-C: the run is claimed by then.
        if matches!(e.event, Event::RunCreated { .. }) {
            cancel = Some(engine.submit(Op::CancelRun {
                run: e.run.unwrap(),
            }));
        }
        let end = matches!(e.event, Event::OpDone | Event::OpFailed { .. });
        got.push(e);
        if end {
            break;
        }
    }
    let kinds = names(&got);
    assert!(
        matches!(&got.last().unwrap().event, Event::OpFailed { error, .. } if error.contains("cancelled")),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "ask_finished"), "{kinds:?}");
    assert!(cancelled, "the cancel operation succeeded");
    let run = got[0].run.unwrap();
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let row = store.run(run.get()).unwrap();
    assert_eq!(row.status, Status::Cancelled);
    assert!(row.error.unwrap().contains("cancelled"));
    engine.shutdown().await;
}
