//! The runner's operations on the engine API, in process: `CheckProject` (event order, a
//! cancelled test run), `RunSandbox` (output streamed as `ProcessOutput` as read, and stored) and
//! `AddFeedback`.

use std::time::Duration;

use crate::support::kiln::Kiln;
use crate::support::require;
use kiln::engine::api::{CheckParams, Envelope, Event, Events, FeedbackParams, Op, SandboxParams};
use kiln::engine::config::Config;
use kiln::engine::env::Env;
use kiln::engine::ids::OpId;
use kiln::engine::paths::Paths;
use kiln::engine::sandbox::RunSpec;
use kiln::engine::store::{FeedbackTarget, Status, Store, StoreConfig, Verdict};
use kiln::engine::{Engine, EngineHandle, EngineOptions};

fn start(kiln: &Kiln) -> (EngineHandle, Env) {
    let env = Env::from_pairs([
        ("HOME", kiln.home().display().to_string()),
        (
            "XDG_DATA_HOME",
            kiln.home().join("data").display().to_string(),
        ),
        (
            "XDG_STATE_HOME",
            kiln.home().join("state").display().to_string(),
        ),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ]);
    let paths = Paths::resolve(&env, None).unwrap();
    std::fs::create_dir_all(&paths.data_dir).unwrap();
    let handle = Engine::start(EngineOptions {
        paths,
        config: Config::default(),
        env: env.clone(),
        init_program: env!("CARGO_BIN_EXE_kiln").into(),
    })
    .unwrap();
    (handle, env)
}

async fn events_of(events: &mut Events, op: OpId) -> Vec<Envelope> {
    let mut out = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(120), events.next())
            .await
            .expect("the operation ended within 120 s")
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

fn name(e: &Envelope) -> String {
    serde_json::to_value(e).unwrap()["event"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sandbox_ok(kiln: &Kiln, what: &str) -> bool {
    let r = kiln.run(&["sandbox", "run", "--", "/bin/true"]);
    require(r.code == 0, what, "the sandbox cannot start here")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_project_reports_stages_findings_fixes_and_tests_in_order() {
    let kiln = Kiln::new();
    let pytest = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !sandbox_ok(&kiln, "CheckProject") || !require(pytest, "CheckProject", "no pytest") {
        return;
    }
    let (engine, _) = start(&kiln);
    let mut events = engine.subscribe();
    let op = engine.submit(Op::CheckProject(CheckParams {
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tempconv").into(),
        run_tests: true,
        ..CheckParams::default()
    }));
    let seen = events_of(&mut events, op).await;
    let mut names: Vec<String> = seen.iter().map(name).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "run_created",
            "stage_started",
            "findings_ready",
            "artifact_stored",
            "stage_finished",
            "stage_started",
            "log_lines",
            "test_results",
            "stage_finished",
            "run_finished",
            "op_done"
        ]
    );
    let run = seen[0].run.unwrap();
    assert!(seen.iter().all(|e| e.run == Some(run) || e.run.is_none()));
    let results = seen
        .iter()
        .find_map(|e| match &e.event {
            Event::TestResults { passed, failed, .. } => Some((*passed, *failed)),
            _ => None,
        })
        .unwrap();
    assert_eq!(results, (4, 1));
    let Event::RunFinished { status, error } = &seen[seen.len() - 2].event else {
        panic!("run_finished before op_done");
    };
    assert_eq!(*status, Status::Failed);
    assert!(
        error
            .as_deref()
            .unwrap()
            .contains("test_boiling_point_in_celsius")
    );
    // Committed before announced: the store already has what the events said.
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    assert_eq!(store.run(run.get()).unwrap().status, Status::Failed);
    assert_eq!(store.test_results_of_run(run.get()).unwrap().len(), 5);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_check_stops_its_tests() {
    let kiln = Kiln::new();
    let pytest = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !sandbox_ok(&kiln, "cancel CheckProject") || !require(pytest, "cancel", "no pytest") {
        return;
    }
    let project = kiln.home().join("slow");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("test_slow.py"),
        "import time\n\n\ndef test_slow():\n    print('started', flush=True)\n    time.sleep(60)\n",
    )
    .unwrap();
    let (engine, _) = start(&kiln);
    let mut events = engine.subscribe();
    let op = engine.submit(Op::CheckProject(CheckParams {
        root: project,
        run_tests: true,
        ..CheckParams::default()
    }));
    let started = std::time::Instant::now();
    let mut run = None;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), events.next())
            .await
            .unwrap()
            .unwrap();
        if e.op != Some(op) {
            continue;
        }
        run = run.or(e.run);
        if let Event::LogLines { lines, .. } = &e.event
            && lines.iter().any(|l| l.text.contains("collected 1 item"))
        {
            break;
        }
    }
    engine.submit(Op::CancelRun { run: run.unwrap() });
    let rest = events_of(&mut events, op).await;
    let elapsed = started.elapsed();
    eprintln!("cancelled after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(50),
        "the 60 s test did not run out"
    );
    let finished = rest
        .iter()
        .find_map(|e| match &e.event {
            Event::RunFinished { status, .. } => Some(*status),
            _ => None,
        })
        .unwrap();
    assert_eq!(finished, Status::Cancelled);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sandbox_streams_stored_lines_and_feedback_is_recorded() {
    let kiln = Kiln::new();
    if !sandbox_ok(&kiln, "RunSandbox") {
        return;
    }
    let (engine, env) = start(&kiln);
    let mut events = engine.subscribe();
    let spec = RunSpec::new(
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo one; echo two >&2; exit 3".into(),
        ],
        &Config::default().sandbox,
        &env,
    );
    let op = engine.submit(Op::RunSandbox(SandboxParams {
        spec,
        project: None,
        stream_output: true,
        output: None,
    }));
    let seen = events_of(&mut events, op).await;
    let text: Vec<String> = seen
        .iter()
        .filter_map(|e| match &e.event {
            Event::ProcessOutput { lines, .. } => Some(lines.iter().map(|l| l.text.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        text.contains(&"one".to_owned()) && text.contains(&"two".to_owned()),
        "{text:?}"
    );
    let exit = seen
        .iter()
        .find_map(|e| match &e.event {
            Event::ProcessFinished { exit_code, .. } => Some(*exit_code),
            _ => None,
        })
        .unwrap();
    assert_eq!(exit, 3);
    let run = seen[0].run.unwrap();
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    assert_eq!(store.run(run.get()).unwrap().status, Status::Failed);
    assert_eq!(store.log_tail(run.get(), 10).unwrap().len(), 2);

    let op = engine.submit(Op::AddFeedback(FeedbackParams {
        target: FeedbackTarget::Run(run.get()),
        verdict: Verdict::Reject,
        comment: "exit 3".into(),
    }));
    let seen = events_of(&mut events, op).await;
    assert!(
        matches!(seen[0].event, Event::FeedbackAdded { .. }),
        "{:?}",
        seen[0].event
    );
    let op = engine.submit(Op::AddFeedback(FeedbackParams {
        target: FeedbackTarget::Run(9999),
        verdict: Verdict::Accept,
        comment: String::new(),
    }));
    let seen = events_of(&mut events, op).await;
    assert!(
        matches!(seen[0].event, Event::OpFailed { .. }),
        "no verdict on nothing"
    );
    assert_eq!(
        store
            .feedback_for(FeedbackTarget::Run(run.get()))
            .unwrap()
            .len(),
        1
    );
    engine.shutdown().await;
}
