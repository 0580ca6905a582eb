//! The optional `smoke` stage: serves the run's files as a sandboxed service (the same
//! machinery as `kiln serve`), sends HTTP checks to it, records each as a test result of the
//! run, stops the service; the `smoke` gate passes when the service came up and every check
//! passed. Off by default: `[pipeline.smoke] enabled = true` (or name `smoke` in `stages`).
//!
//! Checks come from `[[pipeline.smoke.checks]]`, from a fenced block tagged `smoke` in the spec
//! or in any run file, and from a run file named `smoke.json`. The block holds JSON, an array
//! of checks or `{"checks": [...]}`:
//!
//! ```text
//! [{"method": "GET", "path": "/", "status": 200, "body": "hello"}]
//! ```
//!
//! or one check per line, `METHOD PATH STATUS [BODY SUBSTRING]` (`GET /health 200 ok`). What
//! models send is read leniently: the method defaults to GET, `expect`/`expected_status`/
//! `status_code` name the status (a number or a string), `contains`/`body_contains`/`expect_body`
//! the substring, `url` a full URL whose path is used; `json` (sent as JSON) or `data` is the
//! request body. Entries without a path are ignored.
//!
//! Invariants: the app runs only in the sandbox (no way out; reachable only through kiln's
//! forwarded port on 127.0.0.1); the service is stopped before the stage ends, whatever the
//! checks found; the service's output goes to the run's log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Error;
pub use crate::engine::config::pipeline::{Check, SmokeConfig};
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::{RunId, StageId};
use crate::engine::sandbox::RunSpec;
use crate::engine::serve::{self, Health, Prepared, ServeSpec};
use crate::engine::store::{LogLevel, LogLine, LogStream, StageRow, TestCase, TestOutcome};

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// What the stage found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeReport {
    pub url: String,
    /// Whether the service passed its health check.
    pub up: bool,
    /// Why it did not come up, with the first lines of its log.
    pub error: Option<String>,
    pub checks: Vec<CheckResult>,
}

impl SmokeReport {
    pub fn passed(&self) -> bool {
        self.up && self.checks.iter().all(|c| c.passed)
    }

    /// The gate's detail.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        if failed.is_empty() {
            format!("{} smoke check(s) passed", self.checks.len())
        } else {
            format!(
                "{} of {} smoke check(s) failed: {}",
                failed.len(),
                self.checks.len(),
                failed.join("; ")
            )
        }
    }
}

// ---- parsing ----

fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field<'a>(
    o: &'a serde_json::Map<String, serde_json::Value>,
    names: &[&str],
) -> Option<&'a serde_json::Value> {
    names.iter().find_map(|n| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v)
    })
}

fn path_of(raw: &str) -> String {
    let raw = raw.trim();
    let path = match raw.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => raw,
    };
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// One check from a JSON object, leniently; `None` without a path.
fn check_of(v: &serde_json::Value) -> Option<Check> {
    let o = v.as_object()?;
    let path = field(o, &["path", "url", "route", "endpoint"]).and_then(text_of)?;
    let mut c = Check {
        path: path_of(&path),
        ..Check::default()
    };
    if let Some(m) = field(o, &["method", "verb"]).and_then(text_of) {
        c.method = m.trim().to_ascii_uppercase();
    }
    if let Some(s) = field(
        o,
        &[
            "status",
            "expect",
            "expected_status",
            "status_code",
            "expect_status",
            "code",
        ],
    )
    .and_then(text_of)
    .and_then(|s| s.trim().parse().ok())
    {
        c.status = s;
    }
    if let Some(b) = field(
        o,
        &[
            "body",
            "contains",
            "body_contains",
            "expect_body",
            "expected_body",
            "text",
        ],
    )
    .and_then(text_of)
    {
        c.body = b;
    }
    if let Some(j) = field(o, &["json"]) {
        c.data = j.to_string();
    } else if let Some(d) = field(o, &["data", "request_body", "payload"]).and_then(text_of) {
        c.data = d;
    }
    Some(c)
}

/// `METHOD PATH STATUS [BODY...]` lines.
fn checks_of_lines(text: &str) -> Vec<Check> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let method = parts.next()?;
            if !method.chars().all(|c| c.is_ascii_alphabetic()) {
                return None;
            }
            let path = parts.next()?;
            let status = parts
                .next()?
                .trim_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()?;
            let body: Vec<&str> = parts.collect();
            Some(Check {
                method: method.to_ascii_uppercase(),
                path: path_of(path),
                status,
                body: body.join(" ").trim_matches('"').to_owned(),
                data: String::new(),
            })
        })
        .collect()
}

/// The checks in one block or file: JSON (an array, `{"checks": [...]}` or one check) or
/// lines.
pub fn parse_checks(text: &str) -> Vec<Check> {
    match serde_json::from_str::<serde_json::Value>(text.trim()) {
        Ok(serde_json::Value::Array(items)) => items.iter().filter_map(check_of).collect(),
        Ok(v @ serde_json::Value::Object(_)) => match v.get("checks").or_else(|| v.get("smoke")) {
            Some(serde_json::Value::Array(items)) => items.iter().filter_map(check_of).collect(),
            _ => check_of(&v).into_iter().collect(),
        },
        _ => checks_of_lines(text),
    }
}

/// The bodies of fenced blocks whose info string names `smoke`.
fn smoke_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let fence = ["```", "~~~"].into_iter().find(|f| t.starts_with(f));
        match (&mut current, fence) {
            (None, Some(f)) => {
                let info = t[f.len()..].trim().to_ascii_lowercase();
                if info
                    .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                    .any(|w| w == "smoke")
                {
                    current = Some((f.to_owned(), Vec::new()));
                } else {
                    current = Some((format!("skip{f}"), Vec::new()));
                }
            }
            (Some((f, body)), _) => {
                let closing = f.trim_start_matches("skip");
                if t.trim_end() == closing {
                    if !f.starts_with("skip") {
                        out.push(body.join("\n"));
                    }
                    current = None;
                } else {
                    body.push(line);
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Every check for a run: the config's, then the spec's blocks, then the files' (`smoke.json`
/// and `smoke` blocks in any file), without duplicates.
pub fn collect(config: &[Check], spec: &str, files: &BTreeMap<String, String>) -> Vec<Check> {
    let mut out: Vec<Check> = config.to_vec();
    let mut add = |found: Vec<Check>| {
        for c in found {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    };
    for block in smoke_blocks(spec) {
        add(parse_checks(&block));
    }
    for (path, content) in files {
        if Path::new(path)
            .file_name()
            .is_some_and(|n| n == "smoke.json")
        {
            add(parse_checks(content));
        }
        for block in smoke_blocks(content) {
            add(parse_checks(&block));
        }
    }
    out
}

// ---- running ----

fn stage_err(message: impl std::fmt::Display) -> Error {
    Error::Stage {
        stage: "smoke".into(),
        message: message.to_string(),
    }
}

/// Runs the stage on the run's files; `Ok(None)` when there is nothing to check.
pub(crate) async fn stage(
    ctx: &OpContext,
    run: RunId,
    row: &StageRow,
    spec: &str,
    files: BTreeMap<String, String>,
    config: &SmokeConfig,
) -> Result<Option<SmokeReport>, Error> {
    let checks = collect(&config.checks, spec, &files);
    if checks.is_empty() {
        return Ok(None);
    }
    let shared = ctx.shared.clone();
    let tmp = PathBuf::from(shared.env.get("TMPDIR").unwrap_or("/tmp"));
    let scratch = {
        let tmp = tmp.clone();
        tokio::task::spawn_blocking(move || {
            serve::materialise(files.iter().map(|(p, c)| (p.as_str(), c.as_bytes())), &tmp)
        })
        .await
        .map_err(stage_err)?
        .map_err(stage_err)?
    };
    let dir = std::fs::canonicalize(scratch.path()).map_err(stage_err)?;
    let command = if config.cmd.trim().is_empty() {
        let mut run = RunSpec::new(Vec::new(), &shared.config.sandbox, &shared.env);
        run.env.retain(|(k, _)| k == "PATH");
        let path_var = run
            .env
            .first()
            .map_or("/usr/local/bin:/usr/bin:/bin".to_owned(), |(_, v)| {
                v.clone()
            });
        let dirs: Vec<&Path> = path_var.split(':').map(Path::new).collect();
        serve::infer(&dir, config.app_port, &dirs)
            .ok_or_else(|| stage_err("cannot tell how to start the app (no Flask or FastAPI app, package.json start script or index.html); set [pipeline.smoke] cmd"))?
            .argv
    } else {
        vec!["sh".into(), "-c".into(), config.cmd.clone()]
    };
    let mut run_spec = RunSpec::new(Vec::new(), &shared.config.sandbox, &shared.env);
    run_spec.ro.extend(config.ro.iter().cloned());
    let spec = ServeSpec {
        dir,
        writable: true,
        command: command.clone(),
        app_port: config.app_port,
        run: run_spec,
        kiln_exe: shared.sandbox.init_program().to_path_buf(),
        scratch_parent: tmp,
    };
    let prepared = Prepared::new(spec, serve::bind(None).map_err(stage_err)?).map_err(stage_err)?;
    let url = format!("http://127.0.0.1:{}", prepared.port());
    log(
        ctx,
        run,
        row.id,
        LogStream::Kiln,
        format!("smoke: serving {} at {url}", command.join(" ")),
    )
    .await;
    let (service, mut handle) = prepared.start(&shared.sandbox).map_err(stage_err)?;
    let stop = handle.cancel_token();

    // The service's output streams into the run's log while the checks run.
    let first_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let drain = {
        let ctx = ctx.clone();
        let stage = row.id;
        let first = first_lines.clone();
        tokio::spawn(async move {
            while let Some(batch) = handle.next_batch().await {
                if let Ok(mut f) = first.lock() {
                    for l in batch.iter().take(10usize.saturating_sub(f.len())) {
                        f.push(l.text.clone());
                    }
                }
                let lines: Vec<LogLine> = batch
                    .into_iter()
                    .map(|l| {
                        let stream = match l.stream {
                            crate::engine::sandbox::Stream::Stdout => LogStream::Stdout,
                            crate::engine::sandbox::Stream::Stderr => LogStream::Stderr,
                        };
                        LogLine::now(Some(stage), stream, LogLevel::Info, l.text)
                    })
                    .collect();
                emit_lines(&ctx, run, stage, lines).await;
            }
            handle.wait().await
        })
    };
    let health = if config.health.is_empty() {
        Health::Tcp
    } else {
        Health::Http(config.health.clone())
    };
    let within = Duration::from_secs(config.health_timeout_secs.max(1));
    let up = tokio::select! {
        up = service.wait_healthy(&health, within) => up,
        () = ctx.cancel.cancelled() => false,
    };
    let mut report = SmokeReport {
        url: url.clone(),
        up,
        error: None,
        checks: Vec::new(),
    };
    if up {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(stage_err)?;
        for c in &checks {
            if ctx.cancel.is_cancelled() {
                break;
            }
            report.checks.push(run_check(&client, &url, c).await);
        }
    } else {
        let head = first_lines
            .lock()
            .map(|f| f.join("\n  | "))
            .unwrap_or_default();
        report.error = Some(format!(
            "the service did not come up within {}s ({}); its log:\n  | {head}",
            within.as_secs(),
            command.join(" ")
        ));
    }
    stop.cancel();
    let _ = drain.await;
    drop(service);
    drop(scratch);
    if ctx.cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    let results: Vec<TestCase> = if report.up {
        report
            .checks
            .iter()
            .map(|c| TestCase {
                name: c.name.clone(),
                outcome: if c.passed {
                    TestOutcome::Passed
                } else {
                    TestOutcome::Failed
                },
                duration_ms: None,
                message: (!c.passed).then(|| c.detail.clone()),
                file: None,
                line: None,
            })
            .collect()
    } else {
        checks
            .iter()
            .map(|c| TestCase {
                name: c.name(),
                outcome: TestOutcome::Error,
                duration_ms: None,
                message: report.error.clone(),
                file: None,
                line: None,
            })
            .collect()
    };
    let (run_id, stage) = (run.get(), row.id);
    let n = results.len() as u32;
    let passed = results
        .iter()
        .filter(|r| r.outcome == TestOutcome::Passed)
        .count() as u32;
    let errors = results
        .iter()
        .filter(|r| r.outcome == TestOutcome::Error)
        .count() as u32;
    ctx.write(move |s| s.insert_test_results(run_id, Some(stage), None, &results))
        .await
        .map_err(stage_err)?;
    ctx.emit(
        Some(run),
        Event::TestResults {
            stage: Some(StageId(stage)),
            process: None,
            passed,
            failed: n - passed - errors,
            skipped: 0,
            errors,
        },
    );
    log(
        ctx,
        run,
        row.id,
        LogStream::Kiln,
        format!("smoke: {}", report.summary()),
    )
    .await;
    Ok(Some(report))
}

async fn run_check(client: &reqwest::Client, url: &str, c: &Check) -> CheckResult {
    let name = c.name();
    let started = Instant::now();
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = client.request(method, format!("{url}{}", c.path));
    if !c.data.is_empty() {
        if serde_json::from_str::<serde_json::Value>(&c.data).is_ok() {
            req = req.header("content-type", "application/json");
        }
        req = req.body(c.data.clone());
    }
    let fail = |detail: String| CheckResult {
        name: name.clone(),
        passed: false,
        detail,
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return fail(format!("no answer: {e}")),
    };
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let took = started.elapsed().as_millis();
    if status != c.status {
        let excerpt: String = body.chars().take(200).collect();
        return fail(format!(
            "got {status}, expected {}; body: {excerpt:?}",
            c.status
        ));
    }
    if !c.body.is_empty() && !body.contains(&c.body) {
        let excerpt: String = body.chars().take(200).collect();
        return fail(format!(
            "the body does not contain {:?}; body: {excerpt:?}",
            c.body
        ));
    }
    CheckResult {
        name,
        passed: true,
        detail: format!("{status} in {took} ms"),
    }
}

async fn log(ctx: &OpContext, run: RunId, stage: i64, stream: LogStream, text: String) {
    emit_lines(
        ctx,
        run,
        stage,
        vec![LogLine::now(Some(stage), stream, LogLevel::Info, text)],
    )
    .await;
}

async fn emit_lines(ctx: &OpContext, run: RunId, stage: i64, lines: Vec<LogLine>) {
    let event = Event::log_lines(Some(StageId(stage)), &lines);
    let id = run.get();
    if ctx.write(move |s| s.append_logs(id, &lines)).await.is_ok() {
        ctx.emit(Some(run), event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_models_send() {
        let spec = "# Spec\nA greeting service.\n\n```json smoke\n[{\"method\": \"get\", \"url\": \"http://localhost:5000/hello\", \"expected_status\": \"200\", \"contains\": \"hi\"},\n {\"path\": \"missing\", \"status\": 404}, {\"note\": \"no path\"}]\n```\n\n```python\nprint('not a check')\n```\n";
        let got = collect(&[], spec, &BTreeMap::new());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            (
                got[0].method.as_str(),
                got[0].path.as_str(),
                got[0].status,
                got[0].body.as_str()
            ),
            ("GET", "/hello", 200, "hi")
        );
        assert_eq!((got[1].path.as_str(), got[1].status), ("/missing", 404));
    }

    #[test]
    fn lines_objects_files_and_config_merge_without_duplicates() {
        let config = vec![Check::default()];
        let spec = "```smoke\nGET / 200\npost /items 201 \"created\"\n```";
        let mut files = BTreeMap::new();
        files.insert(
            "tests/smoke.json".to_owned(),
            r#"{"checks": [{"path": "/a", "json": {"x": 1}}]}"#.to_owned(),
        );
        files.insert(
            "test_app.py".to_owned(),
            "# ```smoke\n# not closed".to_owned(),
        );
        let got = collect(&config, spec, &files);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            (got[1].method.as_str(), got[1].status, got[1].body.as_str()),
            ("POST", 201, "created")
        );
        assert_eq!(got[2].data, r#"{"x":1}"#);
        assert!(collect(&[], "no blocks", &BTreeMap::new()).is_empty());
    }

    #[test]
    fn the_report_summarises_failures() {
        let mut r = SmokeReport {
            up: true,
            checks: vec![CheckResult {
                name: "a".into(),
                passed: true,
                detail: String::new(),
            }],
            ..SmokeReport::default()
        };
        assert!(r.passed());
        r.checks.push(CheckResult {
            name: "b".into(),
            passed: false,
            detail: "got 500".into(),
        });
        assert!(!r.passed());
        assert!(r.summary().contains("1 of 2") && r.summary().contains("got 500"));
        r.up = false;
        r.error = Some("never came up".into());
        assert!(!r.passed());
        assert_eq!(r.summary(), "never came up");
    }
}
