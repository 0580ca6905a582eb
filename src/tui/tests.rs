//! Dashboard tests without a terminal: a harness with a real SQLite store (rows inserted
//! through the store API), the real loader and scans (run inline), a recording op sink, and
//! ratatui's `TestBackend` for snapshots (80×24 and 160×48, dark and 16-colour themes). Times
//! are pinned so snapshots are stable.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kiln::engine::analysis::{Finding, Position, Range, Severity};
use kiln::engine::api::{Envelope, Event, ExportFile, FileChange, Op};
use kiln::engine::ids::RunId;
use kiln::engine::store::{
    LogLevel, LogLine, LogStream, NewArtifact, NewGeneration, NewProject, NewRun, RunKind,
    StageKind, Status, Store, StoreConfig,
};
use pretty_assertions::assert_eq;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::effect::Effect;
use super::keymap::Keymap;
use super::load::load;
use super::logs::{self, Scanner};
use super::render::{self, Look};
use super::sink::{OpSink, RecordingSink};
use super::state::{UiState, ViewId};
use super::symbols::UNICODE;
use super::theme::{ColorMode, Theme};
use super::update::{on_event, on_key, reload_all};

/// "Now" in every test: 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000_000_000;
const SEC: i64 = 1_000_000;

struct Harness {
    _dir: tempfile::TempDir,
    store: Store,
    scanner: Scanner,
    state: UiState,
    keymap: Keymap,
    sink: RecordingSink,
    other: Vec<String>,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kiln.db");
        drop(Store::open(&db, &StoreConfig::default()).unwrap());
        let store = Store::open_read_only(&db, &StoreConfig::default()).unwrap();
        let mut state = UiState::new(
            "/home/me/code".into(),
            Some("/opt/kiln/examples/tempconv".into()),
            false,
        );
        state.size = (80, 24);
        state.now = NOW;
        state.logs.height = render::log_rows(24);
        Self {
            scanner: Scanner::new(db, StoreConfig::default()),
            _dir: dir,
            store,
            state,
            keymap: Keymap::default(),
            sink: RecordingSink::default(),
            other: Vec::new(),
        }
    }

    fn writer(&self) -> Store {
        Store::open(self.store.path(), &StoreConfig::default()).unwrap()
    }

    fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.store.path()).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Op(op) => {
                    self.sink.submit(op);
                }
                Effect::Load(what) => load(&mut self.state, &self.store, what).unwrap(),
                Effect::Scan(request, continued) => {
                    let generation = match continued {
                        Some(_) => self.scanner.current(request.kind),
                        None => self.scanner.next_generation(request.kind),
                    };
                    let updates = std::sync::Mutex::new(Vec::new());
                    self.scanner.scan(&request, generation, &|u| {
                        updates.lock().unwrap().push(u);
                        true
                    });
                    for u in updates.into_inner().unwrap() {
                        let current = self.scanner.current(u.kind);
                        logs::apply(&mut self.state.logs, u, current);
                    }
                    load(&mut self.state, &self.store, super::effect::Load::Page).unwrap();
                }
                Effect::CopyLines(run, seqs) => {
                    let text = super::load::copy_text(&self.store, run, &seqs).unwrap();
                    self.other.push(format!("{:?}", Effect::Copy(text)));
                }
                other => self.other.push(format!("{other:?}")),
            }
        }
    }

    fn start(&mut self) {
        let effects = reload_all(&self.state);
        self.apply(effects);
    }

    fn key(&mut self, key: KeyEvent) {
        let effects = on_key(&mut self.state, &self.keymap, &key);
        self.apply(effects);
    }

    /// Types `keys`: characters, with `<enter>`, `<esc>`, `<down>`, `<ctrl-s>`, `<tab>`.
    fn press(&mut self, keys: &str) {
        let mut rest = keys;
        while !rest.is_empty() {
            let (key, len) = if let Some(tail) = rest.strip_prefix('<') {
                let end = tail.find('>').unwrap();
                let key = match &tail[..end] {
                    "enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                    "esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
                    "down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
                    "tab" => KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE),
                    "ctrl-s" => KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL),
                    other => panic!("unknown key {other}"),
                };
                (key, end + 2)
            } else {
                let c = rest.chars().next().unwrap();
                (
                    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                    c.len_utf8(),
                )
            };
            self.key(key);
            rest = &rest[len..];
        }
    }

    fn event(&mut self, run: Option<i64>, event: Event) {
        let envelope = Envelope {
            seq: 1,
            op: None,
            run: run.map(RunId),
            event,
        };
        let effects = on_event(&mut self.state, &envelope);
        self.apply(effects);
    }

    fn ops(&self) -> Vec<String> {
        self.sink.ops.iter().map(|op| format!("{op:?}")).collect()
    }

    fn screen(&mut self, w: u16, h: u16, theme: &str) -> String {
        self.state.size = (w, h);
        self.state.logs.height = render::log_rows(h);
        load(&mut self.state, &self.store, super::effect::Load::Page).unwrap();
        let theme = Theme::named(theme, ColorMode::Named).unwrap();
        let look = Look {
            theme: &theme,
            symbols: &UNICODE,
            keymap: &self.keymap,
            now: NOW,
        };
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| render::render(&self.state, &look, f))
            .unwrap();
        let buf = term.backend().buffer();
        let mut out = String::new();
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Two projects, a finished pipeline run with stages, gates, calls, artifacts, findings, tests
/// and 300 log lines (errors, warnings, hostile escapes), a failed check, a running sandbox run.
fn fixture(h: &Harness) -> i64 {
    let mut w = h.writer();
    let p1 = w
        .add_project(&NewProject {
            name: "tempconv".into(),
            root: "/srv/tempconv".into(),
            language: Some("python".into()),
            description: String::new(),
        })
        .unwrap();
    let p2 = w
        .add_project(&NewProject {
            name: "webapp".into(),
            root: "/srv/webapp".into(),
            language: None,
            description: String::new(),
        })
        .unwrap();
    let req = w
        .add_request(
            Some(p1.id),
            "a celsius to fahrenheit converter, with tests",
            "tui",
        )
        .unwrap();
    let run = w
        .start_run(&NewRun {
            project_id: Some(p1.id),
            request_id: Some(req),
            kind: RunKind::Pipeline,
        })
        .unwrap()
        .id;
    let mut stages = Vec::new();
    for kind in [
        StageKind::Spec,
        StageKind::Generate,
        StageKind::Tests,
        StageKind::TestRun,
        StageKind::Improve,
        StageKind::TestRun,
    ] {
        let s = w.start_stage(run, kind).unwrap();
        let failed = kind == StageKind::TestRun && s.attempt == 1;
        w.finish_stage(
            s.id,
            if failed {
                Status::Failed
            } else {
                Status::Succeeded
            },
            failed.then_some("2 tests failed"),
        )
        .unwrap();
        stages.push(s.id);
    }
    let mut lines = Vec::new();
    for i in 0..300 {
        let (stream, level, text) = match i {
            17 => (
                LogStream::Stderr,
                LogLevel::Error,
                "Traceback: boom in convert()".to_string(),
            ),
            42 => (
                LogStream::Stdout,
                LogLevel::Info,
                "FAILED test_freezing - assert 31 == 32".to_string(),
            ),
            60 => (
                LogStream::Stderr,
                LogLevel::Warn,
                "warning: deprecated call".to_string(),
            ),
            99 => (
                LogStream::Stdout,
                LogLevel::Info,
                "\x1b[32mok\x1b[0m \x1b]52;c;aGk=\x07\x1b]0;pwned\x07\x1b[2J\x1b[?1049h hostile"
                    .to_string(),
            ),
            _ => (LogStream::Stdout, LogLevel::Info, format!("line {i} noise")),
        };
        lines.push(LogLine {
            stage_id: Some(stages[3 + usize::from(i >= 150) * 2]),
            ts: NOW,
            stream,
            level,
            text,
        });
    }
    w.append_logs(run, &lines).unwrap();
    for (v, body) in [
        (1, "def c2f(c):\n    return c * 9 / 5 + 31\n"),
        (2, "def c2f(c):\n    return c * 9 / 5 + 32\n"),
    ] {
        w.put_artifact(&NewArtifact {
            run_id: run,
            stage_id: Some(stages[1 + (v - 1) * 3]),
            path: "tempconv.py",
            content: body.as_bytes(),
        })
        .unwrap();
    }
    let pos = |line| Position { line, character: 4 };
    w.insert_findings(
        run,
        Some(stages[2]),
        "tempconv.py",
        &[Finding {
            rule: "PY001".into(),
            severity: Severity::Warning,
            message: "magic number".into(),
            start: 0,
            end: 1,
            range: Range {
                start: pos(1),
                end: pos(1),
            },
            fix: None,
        }],
    )
    .unwrap();
    for (model, cost) in [("fast", 0.002), ("strong", 0.05)] {
        w.insert_generation(&NewGeneration {
            run_id: Some(run),
            stage_id: Some(stages[1]),
            provider: "openai".into(),
            model: model.into(),
            messages_json: r#"[{"role":"user","content":"write c2f"}]"#.into(),
            params_json: "{}".into(),
            response: Some("def c2f(c): ...".into()),
            tokens_in: Some(120),
            tokens_out: Some(80),
            latency_ms: Some(900),
            ttft_ms: Some(200),
            cost_usd: Some(cost),
            status: "ok".into(),
            ..NewGeneration::default()
        })
        .unwrap();
    }
    w.finish_run(run, Status::Succeeded, None).unwrap();
    let check = w
        .start_run(&NewRun {
            project_id: Some(p2.id),
            request_id: None,
            kind: RunKind::Check,
        })
        .unwrap()
        .id;
    w.finish_run(check, Status::Failed, Some("3 findings at error level"))
        .unwrap();
    let sandbox = w
        .start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Sandbox,
        })
        .unwrap()
        .id;
    drop(w);
    h.sql(&format!(
        "UPDATE runs SET created_at = {a}, started_at = {a}, finished_at = {b} WHERE id = {run};
         UPDATE runs SET created_at = {c}, started_at = {c}, finished_at = {d} WHERE id = {check};
         UPDATE runs SET created_at = {e}, started_at = {e} WHERE id = {sandbox};
         UPDATE stages SET started_at = {a} + id * 3000000, finished_at = {a} + id * 3000000 + (id % 3 + 1) * 2000000;
         UPDATE stages SET iteration = 1 WHERE id >= {s4};
         UPDATE generations SET created_at = {a} - (id - 1) * 86400000000;
         INSERT INTO test_results (run_id, stage_id, name, outcome, duration_ms, message, created_at)
            VALUES ({run}, {s5}, 'test_boiling', 'passed', 3, NULL, {a}),
                   ({run}, {s5}, 'test_freezing', 'failed', 4, 'assert 31 == 32', {a});
         INSERT INTO gates (run_id, stage_id, iteration, gate, passed, detail, created_at)
            VALUES ({run}, {s3}, 0, 'syntax', 1, 'parses', {a}), ({run}, {s3}, 0, 'tests', 0, '1 of 2 failed', {a}),
                   ({run}, {s5}, 1, 'tests', 1, '2 of 2 passed', {a});",
        a = NOW - 3600 * SEC,
        b = NOW - 3500 * SEC,
        c = NOW - 7200 * SEC,
        d = NOW - 7190 * SEC,
        e = NOW - 30 * SEC,
        s3 = stages[3],
        s4 = stages[4],
        s5 = stages[5],
    ));
    run
}

#[test]
fn first_run_screen_offers_the_cwd_and_the_example() {
    let mut h = Harness::new();
    h.start();
    let screen = h.screen(80, 24, "dark");
    assert!(
        screen.contains("add this directory as a project: /home/me/code"),
        "{screen}"
    );
    assert!(screen.contains("No model is configured"), "{screen}");
    insta::assert_snapshot!("first_run_80x24", screen);
    h.press("a");
    h.press("x");
    assert_eq!(
        h.other,
        vec![
            r#"Kiln(["project", "add", "/home/me/code"])"#.to_string(),
            r#"Kiln(["project", "add", "/opt/kiln/examples/tempconv"])"#.to_string(),
        ]
    );
}

#[test]
fn every_view_in_both_sizes_and_themes() {
    let mut h = Harness::new();
    let run = fixture(&h);
    h.start();
    let mut shots: Vec<(&str, String)> = Vec::new();
    let mut take = |h: &mut Harness, name: &'static str| {
        for (w, ht) in [(80, 24), (160, 48)] {
            for theme in ["dark", "16-color"] {
                let screen = h.screen(w, ht, theme);
                insta::assert_snapshot!(format!("{name}_{w}x{ht}_{theme}"), screen);
                shots.push((name, screen));
            }
        }
    };
    take(&mut h, "home");
    h.press("<enter>");
    assert_eq!(h.state.view, ViewId::Runs);
    take(&mut h, "runs");
    h.press("<enter>");
    assert_eq!(h.state.detail.run.as_ref().map(|r| r.id), Some(run));
    take(&mut h, "detail");
    h.press("4");
    take(&mut h, "logs");
    h.press("5");
    take(&mut h, "artifacts");
    h.press("6");
    take(&mut h, "findings");
    h.press("7");
    take(&mut h, "calls");
    h.press("4?");
    take(&mut h, "help_logs");
    let (_, logs) = shots.iter().find(|(n, _)| *n == "logs").unwrap();
    assert!(logs.contains("line 0 noise"), "{logs}");
}

#[test]
fn tiles_count_runs_and_other_runs_and_spend() {
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    let tiles = &h.state.home.tiles;
    let names: Vec<&str> = tiles.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["tempconv", "webapp", "other runs"]);
    assert_eq!(
        (tiles[1].runs, tiles[1].failed, tiles[1].last_status),
        (1, 1, Some(Status::Failed))
    );
    assert_eq!((tiles[2].runs, tiles[2].running), (1, 1));
    let spend: f64 = tiles[0].spend.iter().sum();
    assert!((spend - 0.052).abs() < 1e-9, "{spend}");
}

#[test]
fn keys_emit_the_engine_operations() {
    let mut h = Harness::new();
    let run = fixture(&h);
    h.start();
    h.press("r"); // kiln run on the selected project
    h.press("n");
    h.press("make it faster<enter>keep the API<tab>python<ctrl-s>");
    h.press("<enter><enter>"); // runs, then the detail of the newest run
    h.press("c");
    h.press("jjjt"); // retry the selected (failed) test_run stage
    h.press("u");
    h.press("x");
    h.press("ylooks good<enter>");
    h.press("dtoo slow<enter>");
    let ops = h.ops();
    assert_eq!(ops.len(), 8, "{ops:#?}");
    assert!(
        ops[0].starts_with("CheckProject(CheckParams { root: \"/srv/tempconv\""),
        "{}",
        ops[0]
    );
    assert!(ops[0].contains("run_tests: true"));
    assert!(
        ops[1].contains("request: \"make it faster\\nkeep the API\""),
        "{}",
        ops[1]
    );
    assert!(
        ops[1].contains("language: Some(\"python\")") && ops[1].contains("origin: Tui"),
        "{}",
        ops[1]
    );
    assert_eq!(ops[2], format!("CancelRun {{ run: RunId({run}) }}"));
    assert_eq!(
        ops[3],
        format!("RetryStage {{ run: RunId({run}), stage: Some(\"test_run\") }}")
    );
    assert_eq!(ops[4], format!("ResumeRun {{ run: RunId({run}) }}"));
    assert!(
        ops[5].starts_with(&format!(
            "ExportRun(ExportParams {{ run: RunId({run}), mode: Preview"
        )),
        "{}",
        ops[5]
    );
    assert_eq!(
        ops[6],
        format!(
            "AddFeedback(FeedbackParams {{ target: Run({run}), verdict: Accept, comment: \"looks good\" }})"
        )
    );
    assert!(ops[7].contains("verdict: Reject, comment: \"too slow\""));
}

#[test]
fn a_failed_operation_is_a_notice_and_export_confirms_before_writing() {
    let mut h = Harness::new();
    let run = fixture(&h);
    h.start();
    h.event(
        None,
        Event::OpFailed {
            op: "export_run",
            error: "operation 'export_run' is not available in this engine yet".into(),
        },
    );
    assert_eq!(
        h.state.notice,
        Some(super::state::Notice {
            error: true,
            text: "export_run: operation 'export_run' is not available in this engine yet".into()
        })
    );
    let screen = h.screen(80, 24, "dark");
    assert!(screen.contains("export_run: operation"), "{screen}");
    let files = vec![ExportFile {
        path: "tempconv.py".into(),
        change: FileChange::Modified,
        diff: "-    return c * 9 / 5 + 31\n+    return c * 9 / 5 + 32\n".into(),
    }];
    h.event(
        Some(run),
        Event::ExportPreview {
            files: files.clone(),
        },
    );
    assert_eq!(
        h.state.export,
        Some(super::state::ExportConfirm {
            run,
            files,
            scroll: 0
        })
    );
    insta::assert_snapshot!("export_confirm_80x24", h.screen(80, 24, "dark"));
    h.press("y");
    assert_eq!(h.state.export, None);
    assert!(h.ops()[0].contains("mode: Apply"), "{:?}", h.ops());
    h.event(Some(run), Event::ExportPreview { files: Vec::new() });
    h.press("q"); // any key but y cancels; it does not quit
    assert!(h.state.export.is_none() && !h.state.quit && h.ops().len() == 1);
}

#[test]
fn logs_search_filter_and_jumps() {
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    h.press("<enter><enter>4");
    assert_eq!(
        (h.state.logs.total, h.state.logs.page.len()),
        (300, h.state.logs.height)
    );
    assert_eq!(h.state.logs.errors.hits, vec![17, 42]);
    assert_eq!(h.state.logs.warnings, vec![60]);
    h.press("e");
    assert_eq!(h.state.logs.cursor, 17);
    h.press("e");
    assert_eq!(h.state.logs.cursor, 42);
    h.press("E");
    assert_eq!(h.state.logs.cursor, 17);
    h.press("w");
    assert_eq!(h.state.logs.cursor, 60);
    h.press("/line 2.. noise<enter>");
    let search = h.state.logs.search.clone().unwrap();
    assert_eq!(
        (search.hits.len(), search.done, search.scanned),
        (100, true, 300)
    );
    h.press("g");
    h.press("n");
    assert_eq!(h.state.logs.cursor, 200);
    h.press("N");
    assert_eq!(
        h.state.logs.cursor, 200,
        "no hit above the first one: stays"
    );
    h.press("&!noise<enter>");
    assert_eq!(h.state.logs.rows(), 4);
    assert_eq!(h.state.logs.hidden(), 296);
    let seqs: Vec<i64> = h.state.logs.page.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, vec![17, 42, 60, 99]);
    let screen = h.screen(80, 24, "dark");
    assert!(screen.contains("296 hidden"), "{screen}");
    // Untrusted output is inert: the hostile line shows its escapes as symbols.
    assert!(
        screen.contains("ok ␛]52;c;aGk=␇␛]0;pwned␇␛[2J␛[?1049h hostile"),
        "{screen}"
    );
    h.press("&<enter>V");
    assert_eq!(h.state.logs.rows(), 2, "warn and error levels only");
    h.press("VV");
    assert_eq!(h.state.logs.rows(), 300);
    h.press("f");
    assert!(h.state.logs.follow);
    assert_eq!(h.state.logs.cursor, 299);
    h.press("y");
    assert_eq!(h.other.last().unwrap(), "Copy(\"line 299 noise\")");
}

#[test]
fn live_lines_extend_the_log_and_its_scans() {
    let mut h = Harness::new();
    let run = fixture(&h);
    h.start();
    h.press("<enter><enter>4/noise<enter>f");
    let before = h.state.logs.search.as_ref().unwrap().hits.len();
    let lines: Vec<LogLine> = (0..10)
        .map(|i| LogLine {
            stage_id: None,
            ts: NOW,
            stream: LogStream::Stdout,
            level: LogLevel::Error,
            text: format!("late noise error {i}"),
        })
        .collect();
    h.writer().append_logs(run, &lines).unwrap();
    h.event(
        Some(run),
        Event::LogLines {
            stage: None,
            lines: Vec::new(),
        },
    );
    assert_eq!(h.state.logs.total, 310);
    assert_eq!(h.state.logs.cursor, 309, "following the end");
    assert_eq!(
        h.state.logs.search.as_ref().unwrap().hits.len(),
        before + 10
    );
    assert_eq!(h.state.logs.errors.hits.len(), 12);
}

#[test]
fn findings_jump_to_the_line_and_artifacts_diff() {
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    h.press("<enter><enter>6<enter>");
    assert_eq!(h.state.view, ViewId::Artifacts);
    assert_eq!(h.state.artifacts.jump_line, Some(1));
    assert_eq!(
        h.state.artifacts.files[h.state.artifacts.selected].version,
        2
    );
    h.press("d");
    let screen = h.screen(80, 24, "dark");
    assert!(
        screen.contains("-    return c * 9 / 5 + 31")
            && screen.contains("+    return c * 9 / 5 + 32"),
        "{screen}"
    );
    h.press("o");
    assert_eq!(
        h.other.last().unwrap(),
        "Editor(\"/srv/tempconv/tempconv.py\", Some(2))"
    );
}

#[test]
fn runs_filter_by_status_and_store_changes_reload() {
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    h.press("2");
    assert_eq!(h.state.runs.visible().len(), 3);
    h.press("s");
    assert_eq!(h.state.runs.status, Some(Status::Running));
    assert_eq!(h.state.runs.visible().len(), 1);
    h.press("s");
    assert_eq!(
        h.state
            .runs
            .visible()
            .iter()
            .map(|r| r.kind)
            .collect::<Vec<_>>(),
        vec![RunKind::Check]
    );
    let w = h.writer();
    w.start_run(&NewRun {
        project_id: None,
        request_id: None,
        kind: RunKind::Ask,
    })
    .unwrap();
    drop(w);
    let changes = vec![kiln::engine::store::Change {
        id: 1,
        table: "runs".into(),
        row_id: 4,
        op: kiln::engine::store::ChangeOp::Insert,
    }];
    h.event(None, Event::StoreChanged { changes });
    assert_eq!(h.state.runs.rows.len(), 4);
    assert_eq!(h.state.home.tiles[2].runs, 2);
}

#[test]
fn never_panics_down_to_tiny_sizes() {
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    for keys in ["", "<enter>", "<enter>", "4", "5", "6", "7", "?"] {
        h.press(keys);
        for (w, ht) in [(1, 1), (19, 4), (20, 5), (21, 6), (40, 10)] {
            let screen = h.screen(w, ht, "dark");
            if (9..20).contains(&w) || (w >= 9 && ht < 5) {
                assert!(screen.starts_with("too small"), "{screen}");
            }
        }
    }
    assert_eq!(h.screen(19, 5, "dark").lines().next().unwrap(), "too small");
}

#[test]
fn quit_and_command_prompt() {
    let mut h = Harness::new();
    h.start();
    h.press(":bogus<enter>");
    assert_eq!(
        h.state.notice.as_ref().map(|n| n.text.as_str()),
        Some("unknown command 'bogus'; `?` lists the keys and their names")
    );
    h.press(":runs<enter>");
    assert_eq!(h.state.view, ViewId::Runs);
    h.press("q");
    assert!(h.state.quit);
    let _ = Op::Shutdown;
}

#[test]
fn a_selection_of_lines_is_copied_and_shown() {
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    h.press("<enter><enter>4gjj");
    assert_eq!(h.state.logs.cursor, 2);
    h.press("vjjj");
    assert_eq!(h.state.logs.selection(), Some((2, 5)));
    insta::assert_snapshot!("logs_selection_80x24", h.screen(80, 24, "dark"));
    h.press("y");
    assert_eq!(h.state.logs.anchor, None, "copying ends the selection");
    let copied = h.other.last().unwrap();
    assert!(
        copied.starts_with("Copy(\"line 2 noise\\nline 3 noise\\n"),
        "{copied}"
    );
    assert_eq!(copied.matches("\\n").count(), 3, "four lines: {copied}");
    assert_eq!(
        h.state.notice.as_ref().map(|n| n.text.as_str()),
        Some("copied 4 lines (OSC 52)")
    );
    // Upwards from the anchor works too, and `v` again drops the selection.
    h.press("vkk");
    assert_eq!(h.state.logs.selection(), Some((3, 5)));
    h.press("v");
    assert_eq!(h.state.logs.selection(), None);
    let help = h.keymap.help(ViewId::Logs);
    let select = help
        .iter()
        .find(|(_, a)| *a == super::action::Action::Select)
        .expect("? lists the selection key");
    assert_eq!(select.0, "v");
}

#[test]
fn the_mouse_scrolls_and_clicks_select_panels_tiles_and_lines() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut h = Harness::new();
    fixture(&h);
    h.start();
    let mouse = |h: &mut Harness, kind: MouseEventKind, column: u16, row: u16| {
        let effects = super::update::on_mouse(
            &mut h.state,
            MouseEvent {
                kind,
                column,
                row,
                modifiers: KeyModifiers::NONE,
            },
        );
        h.apply(effects);
    };
    let click = MouseEventKind::Down(MouseButton::Left);
    h.press("<enter><enter>4g");
    assert_eq!(h.state.view, ViewId::Logs);
    mouse(&mut h, MouseEventKind::ScrollDown, 10, 10);
    mouse(&mut h, MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(h.state.logs.cursor, 2);
    mouse(&mut h, MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(h.state.logs.cursor, 1);
    // Row 2 of the screen is the first log line (below the tabs and the box's border).
    mouse(&mut h, click, 10, 7);
    assert_eq!(h.state.logs.cursor, 5);
    assert_eq!(h.state.logs.page[5].seq, 5);
    mouse(&mut h, click, 10, 23);
    assert_eq!(
        h.state.logs.cursor, 5,
        "a click on the key line is no log row"
    );
    // The tab line: " kiln " then " 1 Projects " then " 2 Runs ".
    mouse(&mut h, click, 8, 0);
    assert_eq!(h.state.view, ViewId::Home);
    // Home tiles are 38 columns wide: at 80 columns the second one starts at x = 38.
    mouse(&mut h, click, 40, 2);
    assert_eq!(h.state.home.selected, 1);
    mouse(&mut h, click, 20, 0);
    assert_eq!(h.state.view, ViewId::Runs);
    mouse(&mut h, click, 2, 0);
    assert_eq!(h.state.view, ViewId::Runs, "the ' kiln ' label is no tab");
}

#[test]
fn the_mouse_is_off_unless_the_flag_or_the_config_asks() {
    use kiln::engine::config::TuiConfig;
    let env = kiln::engine::env::Env::from_pairs([("LANG", "C.UTF-8")]);
    let off = super::look(&super::TuiArgs::default(), &TuiConfig::default(), &env).unwrap();
    assert!(!off.mouse);
    let flag = super::TuiArgs {
        mouse: true,
        ..super::TuiArgs::default()
    };
    assert!(
        super::look(&flag, &TuiConfig::default(), &env)
            .unwrap()
            .mouse
    );
    let config = TuiConfig {
        mouse: true,
        ..TuiConfig::default()
    };
    assert!(
        super::look(&super::TuiArgs::default(), &config, &env)
            .unwrap()
            .mouse
    );
}

#[test]
fn the_first_frame_reads_only_the_tiles_that_fit() {
    let h = Harness::new();
    fixture(&h);
    let all = h.store.project_tiles(NOW).unwrap();
    assert_eq!(all.len(), 3);
    let first = h.store.project_tiles_first(NOW, Some(1)).unwrap();
    assert_eq!(first, all[..1], "the same tile, counts and spend");
    // A window larger than the projects shows them all, "other runs" included.
    assert_eq!(h.store.project_tiles_first(NOW, Some(40)).unwrap(), all);
    // 38-column tiles, 6 rows each, below the tab line and above the two status lines.
    assert_eq!(render::home_window((160, 48)), 4 * 7);
    assert_eq!(render::home_window((20, 5)), 1);
}
