//! The store's typed API on real SQLite files.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns may unwrap too

use kiln::engine::store::{
    ChangeFeed, FeedEvent, FeedbackTarget, LogLevel, LogLine, LogStream, LogWriter, NewArtifact,
    NewProject, NewRun, Run, RunKind, StageKind, Status, Store, StoreConfig, Verdict,
};
use pretty_assertions::assert_eq;

fn store(dir: &tempfile::TempDir, config: &StoreConfig) -> Store {
    Store::open(&dir.path().join("kiln.db"), config).unwrap()
}

/// A run outside any project, started now.
fn new_run(s: &Store, kind: RunKind) -> Run {
    s.start_run(&NewRun {
        project_id: None,
        request_id: None,
        kind,
    })
    .unwrap()
}

fn line(stage: Option<i64>, text: String) -> LogLine {
    LogLine {
        stage_id: stage,
        ts: 1_000,
        stream: LogStream::Stdout,
        level: LogLevel::Info,
        text,
    }
}

#[test]
fn runs_and_stages_follow_their_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, &StoreConfig::default());
    let project = s
        .add_project(&NewProject {
            name: "p".into(),
            root: dir.path().into(),
            language: None,
            description: String::new(),
        })
        .unwrap();
    let request = s
        .add_request(Some(project.id), "parse RFC 3339 dates", "cli")
        .unwrap();
    let run = s
        .start_run(&NewRun {
            project_id: Some(project.id),
            request_id: Some(request),
            kind: RunKind::Pipeline,
        })
        .unwrap();
    assert_eq!(run.status, Status::Running);
    let first = s.start_stage(run.id, StageKind::Improve).unwrap();
    let second = s.start_stage(run.id, StageKind::Improve).unwrap();
    assert_eq!((first.attempt, second.attempt), (1, 2));
    s.finish_stage(first.id, Status::Failed, Some("gates failed"))
        .unwrap();
    let done = s.finish_run(run.id, Status::Succeeded, None).unwrap();
    assert_eq!(done.status, Status::Succeeded);
    assert!(done.finished_at.is_some());
    let stages = s.stages_of_run(run.id).unwrap();
    assert_eq!(
        stages.iter().map(|st| st.status).collect::<Vec<_>>(),
        vec![Status::Failed, Status::Running]
    );
    assert_eq!(stages[0].error.as_deref(), Some("gates failed"));
    assert_eq!(s.latest_runs(Some(project.id), 10).unwrap()[0].id, run.id);
    assert_eq!(s.project_by_name("p").unwrap().runs, 1);

    // Removing the project removes everything recorded under it.
    s.remove_project("p").unwrap();
    assert!(s.run(run.id).is_err());
    assert!(s.stages_of_run(run.id).unwrap().is_empty());
}

#[test]
fn log_lines_round_trip_in_order_with_tail_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, &StoreConfig::default());
    let run = new_run(&s, RunKind::Sandbox);
    let stage = s.start_stage(run.id, StageKind::TestRun).unwrap();
    {
        let mut w = LogWriter::new(&s, run.id).with_batch_lines(700);
        for i in 0..5_000 {
            let stage_id = if i % 1000 < 500 { Some(stage.id) } else { None };
            w.push(line(stage_id, format!("line {i} \"quoted\"\ttab")))
                .unwrap();
        }
    } // drop flushes the rest
    assert_eq!(s.run(run.id).unwrap().log_lines, 5_000);

    let tail = s.log_tail(run.id, 1_000).unwrap();
    assert_eq!(tail.len(), 1_000);
    assert_eq!(tail[0].seq, 4_000);
    assert_eq!(tail[999].text, "line 4999 \"quoted\"\ttab");
    assert!(tail.windows(2).all(|w| w[1].seq == w[0].seq + 1));

    let range = s.log_range(run.id, 1_234, 10).unwrap();
    assert_eq!(
        range.iter().map(|l| l.seq).collect::<Vec<_>>(),
        (1_234..1_244).collect::<Vec<_>>()
    );
    assert_eq!(range[0].text, "line 1234 \"quoted\"\ttab");
    assert_eq!(range[0].stage_id, Some(stage.id));
    assert_eq!(s.log_range(run.id, 1_700, 1).unwrap()[0].stage_id, None);
    assert!(s.log_range(run.id, 5_000, 10).unwrap().is_empty());
}

#[test]
fn log_lines_beyond_the_cap_are_counted_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(
        &dir,
        &StoreConfig {
            max_log_lines_per_run: 100,
            ..StoreConfig::default()
        },
    );
    let run = new_run(&s, RunKind::Sandbox);
    let lines: Vec<LogLine> = (0..80).map(|i| line(None, format!("{i}"))).collect();
    assert_eq!(s.append_logs(run.id, &lines).unwrap().dropped, 0);
    let appended = s.append_logs(run.id, &lines).unwrap();
    assert_eq!((appended.written, appended.dropped), (20, 60));
    let run = s.run(run.id).unwrap();
    assert_eq!((run.log_lines, run.log_lines_dropped), (100, 60));
    assert_eq!(
        s.log_tail(run.id, 1_000).unwrap().last().unwrap().text,
        "19"
    );
}

#[test]
fn log_lines_view_shows_one_row_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiln.db");
    let s = Store::open(&path, &StoreConfig::default()).unwrap();
    let run = new_run(&s, RunKind::Sandbox);
    s.append_logs(
        run.id,
        &(0..3)
            .map(|i| line(None, format!("hello {i}")))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(i64, String, String)> = conn
        .prepare("SELECT seq, stream, text FROM log_lines WHERE run_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([run.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows[2], (2, "stdout".to_owned(), "hello 2".to_owned()));
}

#[test]
fn artifacts_are_versioned_per_path_with_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, &StoreConfig::default());
    let run = new_run(&s, RunKind::Pipeline);
    let put = |path, content: &[u8]| {
        s.put_artifact(&NewArtifact {
            run_id: run.id,
            stage_id: None,
            path,
            content,
        })
        .unwrap()
    };
    put("src/dates.py", b"v1");
    let v2 = put("src/dates.py", b"v2");
    put("tests/test_dates.py", b"t1");
    assert_eq!(v2.version, 2);
    assert_eq!(
        v2.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"v2"))
    );
    assert_eq!(v2.size, 2);
    let latest = s.latest_artifacts(run.id).unwrap();
    assert_eq!(
        latest
            .iter()
            .map(|a| (a.path.as_str(), a.content.as_slice()))
            .collect::<Vec<_>>(),
        vec![("src/dates.py", &b"v2"[..]), ("tests/test_dates.py", b"t1")]
    );
    assert_eq!(
        s.artifact_versions(run.id, "src/dates.py").unwrap().len(),
        2
    );
}

#[test]
fn feedback_is_kept_per_target() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, &StoreConfig::default());
    s.add_feedback(
        FeedbackTarget::Finding(7),
        Verdict::Reject,
        "false positive",
    )
    .unwrap();
    s.add_feedback(FeedbackTarget::Run(7), Verdict::Accept, "")
        .unwrap();
    let on_finding = s.feedback_for(FeedbackTarget::Finding(7)).unwrap();
    assert_eq!(on_finding.len(), 1);
    assert_eq!(
        (on_finding[0].verdict, on_finding[0].comment.as_str()),
        (Verdict::Reject, "false positive")
    );
}

#[test]
fn change_feed_reports_changes_and_resyncs_after_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiln.db");
    let writer = Store::open(&path, &StoreConfig::default()).unwrap();
    let mut feed = ChangeFeed::open(&path, &StoreConfig::default()).unwrap();
    assert_eq!(feed.poll().unwrap(), FeedEvent::Changes(vec![]));

    let run = new_run(&writer, RunKind::Check);
    writer
        .append_logs(run.id, &[line(None, "x".into())])
        .unwrap();
    let FeedEvent::Changes(changes) = feed.wait(std::time::Duration::from_secs(2)).unwrap() else {
        panic!("resync")
    };
    let seen: Vec<(&str, i64)> = changes
        .iter()
        .map(|c| (c.table.as_str(), c.row_id))
        .collect();
    assert!(
        seen.contains(&("runs", run.id)) && seen.contains(&("log_lines", run.id)),
        "{seen:?}"
    );

    // Fall more than the retained window behind: the reader is told to reload.
    for i in 0..12_000 {
        writer
            .add_feedback(FeedbackTarget::Run(i), Verdict::Accept, "")
            .unwrap();
    }
    assert_eq!(feed.poll().unwrap(), FeedEvent::Resync);
    writer
        .add_feedback(FeedbackTarget::Run(1), Verdict::Reject, "")
        .unwrap();
    let FeedEvent::Changes(after) = feed.poll().unwrap() else {
        panic!("second resync")
    };
    assert_eq!(after.len(), 1);
}

#[test]
fn prune_deletes_oldest_finished_runs_to_fit_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(
        &dir,
        &StoreConfig {
            max_db_size_mb: 1,
            ..StoreConfig::default()
        },
    );
    let mut runs = Vec::new();
    for r in 0..30 {
        let run = new_run(&s, RunKind::Sandbox);
        s.append_logs(
            run.id,
            &(0..1000)
                .map(|i| line(None, format!("{r}:{i} {}", "y".repeat(80))))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        if r != 0 {
            s.finish_run(run.id, Status::Succeeded, None).unwrap();
        }
        runs.push(run.id);
    }
    let report = s.prune(false).unwrap();
    assert!(
        report.runs_deleted > 0 && report.used_bytes_after <= 1 << 20,
        "{report:?}"
    );
    assert!(s.run(runs[0]).is_ok(), "a running run is never pruned");
    assert!(
        s.run(runs[1]).is_err(),
        "the oldest finished run goes first"
    );
    assert!(s.run(*runs.last().unwrap()).is_ok(), "the newest run stays");
    assert!(s.health().unwrap().is_ok());
}
