//! Runs a [`TestPlan`] in the sandbox and parses per-test
//! results: pytest's JUnit XML ([`junit`]), `cargo test` output ([`libtest`]) and node's TAP
//! ([`tap`]). Each case has an outcome, a duration, the assertion message and the
//! project-relative file and line where known (the language server turns failures into
//! diagnostics).
//!
//! [`run`] runs without recording; [`run_recorded`] records the process, every output line and
//! the results into a run through the store writer (output lines are stored before they are
//! shown). A run that ends without a per-test verdict (the build failed, no tests were
//! collected, a limit killed it) says so in [`TestReport::problem`] instead of passing.

pub mod junit;
pub mod libtest;
pub mod process;
pub mod tap;

use std::path::Path;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::engine::sandbox::{Outcome, OutputLine, Sandbox, Stream, Termination};
use crate::engine::store::{LogLevel, LogLine, LogStream, StoreWriter};
pub use crate::engine::store::{TestCase, TestOutcome};
use crate::engine::toolchain::{ReportSource, TestLanguage, TestPlan};
pub use process::Target;

/// A test report that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the test report: {0}")]
pub struct ParseError(pub String);

/// Tests by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub errors: u32,
    pub skipped: u32,
}

impl Counts {
    pub fn of(cases: &[TestCase]) -> Self {
        let mut c = Self::default();
        for case in cases {
            match case.outcome {
                TestOutcome::Passed => c.passed += 1,
                TestOutcome::Failed => c.failed += 1,
                TestOutcome::Error => c.errors += 1,
                TestOutcome::Skipped => c.skipped += 1,
            }
        }
        c
    }

    pub fn total(self) -> u32 {
        self.passed + self.failed + self.errors + self.skipped
    }
}

/// What a test run found.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub language: TestLanguage,
    pub toolchain: String,
    pub cases: Vec<TestCase>,
    pub counts: Counts,
    /// The test command's exit code as kiln reports it (see `Outcome::exit_code`).
    pub exit_code: u8,
    pub cancelled: bool,
    pub wall_ms: u64,
    /// Set when the run gave no trustworthy per-test verdict: what happened instead.
    pub problem: Option<String>,
    /// The recorded `processes` row ([`run_recorded`] only).
    pub process_id: Option<i64>,
}

impl TestReport {
    /// Every test that ran passed, and the command agreed.
    pub fn passed(&self) -> bool {
        self.problem.is_none()
            && self.counts.failed == 0
            && self.counts.errors == 0
            && self.exit_code == 0
            && !self.cancelled
    }

    /// The failed and errored cases.
    pub fn failures(&self) -> impl Iterator<Item = &TestCase> {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, TestOutcome::Failed | TestOutcome::Error))
    }
}

/// Output lines kept for the text parsers (the sandbox caps output anyway).
const MAX_KEPT_LINES: usize = 200_000;

/// Runs the plan's tests in the sandbox without recording; `on_line` sees every output line.
pub async fn run(
    sandbox: &Sandbox,
    plan: &TestPlan,
    cancel: &CancellationToken,
    mut on_line: impl FnMut(&OutputLine),
) -> Result<TestReport, crate::engine::Error> {
    let mut handle = sandbox.start(&plan.spec)?;
    let mut kept = Vec::new();
    loop {
        let line = tokio::select! {
            line = handle.next_line() => line,
            () = cancel.cancelled(), if !handle.cancel_token().is_cancelled() => {
                handle.cancel();
                continue;
            }
        };
        let Some(line) = line else { break };
        on_line(&line);
        if kept.len() < MAX_KEPT_LINES {
            kept.push(line);
        }
    }
    let outcome = handle.wait().await?;
    Ok(report(plan, &outcome, &kept))
}

/// Runs the plan's tests recorded into `target`: the process, its output lines (each batch shown
/// to `on_lines` once stored), the per-test results and a summary line.
pub async fn run_recorded(
    sandbox: &Sandbox,
    plan: &TestPlan,
    writer: &StoreWriter,
    target: Target,
    cancel: &CancellationToken,
    on_lines: &mut (dyn FnMut(&[LogLine]) + Send),
) -> Result<TestReport, crate::engine::Error> {
    let mut kept: Vec<OutputLine> = Vec::new();
    let mut intro = vec![LogLine::now(
        target.stage_id,
        LogStream::Kiln,
        LogLevel::Info,
        format!("running {} tests with {}", plan.language, plan.toolchain),
    )];
    process::flush(writer, target.run_id, &mut intro, on_lines).await?;
    let mut keep = |line: &OutputLine| {
        if kept.len() < MAX_KEPT_LINES {
            kept.push(line.clone());
        }
    };
    let (outcome, process_id) = process::run_recorded(
        sandbox, &plan.spec, writer, target, cancel, &mut keep, on_lines,
    )
    .await?;
    let mut report = report(plan, &outcome, &kept);
    report.process_id = Some(process_id);
    let cases = report.cases.clone();
    writer
        .call(move |s| {
            s.insert_test_results(target.run_id, target.stage_id, Some(process_id), &cases)
        })
        .await?;
    let mut summary = vec![LogLine::now(
        target.stage_id,
        LogStream::Kiln,
        if report.passed() {
            LogLevel::Info
        } else {
            LogLevel::Error
        },
        summary_line(&report),
    )];
    process::flush(writer, target.run_id, &mut summary, on_lines).await?;
    Ok(report)
}

/// `5 tests: 4 passed, 1 failed` (and the problem, if any).
pub fn summary_line(r: &TestReport) -> String {
    let c = r.counts;
    let mut parts = vec![format!("{} passed", c.passed)];
    if c.failed > 0 {
        parts.push(format!("{} failed", c.failed));
    }
    if c.errors > 0 {
        parts.push(format!("{} errors", c.errors));
    }
    if c.skipped > 0 {
        parts.push(format!("{} skipped", c.skipped));
    }
    let mut line = format!("{} tests: {}", c.total(), parts.join(", "));
    if let Some(p) = &r.problem {
        line.push_str("; ");
        line.push_str(p);
    }
    line
}

fn report(plan: &TestPlan, outcome: &Outcome, lines: &[OutputLine]) -> TestReport {
    let (mut cases, mut problem) = match &plan.report {
        ReportSource::JunitXml(file) => match std::fs::read_to_string(file) {
            Ok(xml) => match junit::parse(&xml) {
                Ok(cases) => (cases, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
            Err(_) => (Vec::new(), None),
        },
        ReportSource::CargoText => (libtest::parse(lines.iter().map(|l| l.text.as_str())), None),
        ReportSource::Tap => (
            tap::parse(
                lines
                    .iter()
                    .filter(|l| l.stream == Stream::Stdout)
                    .map(|l| l.text.as_str()),
            ),
            None,
        ),
    };
    let scratch = plan.scratch.path();
    for case in &mut cases {
        if let Some(file) = case.file.as_mut() {
            *file = project_relative(file, scratch);
        }
    }
    let counts = Counts::of(&cases);
    let exit_code = outcome.exit_code();
    if problem.is_none() {
        problem = explain(plan.language, outcome, counts, lines);
    }
    TestReport {
        language: plan.language,
        toolchain: plan.toolchain.clone(),
        cases,
        counts,
        exit_code,
        cancelled: outcome.cancelled,
        wall_ms: outcome.wall_ms,
        problem,
        process_id: None,
    }
}

/// A path the tool printed (scratch-absolute or relative) as a project-relative one.
fn project_relative(file: &str, scratch: &Path) -> String {
    let path = Path::new(file);
    path.strip_prefix(scratch)
        .map_or_else(|_| file.to_owned(), |p| p.display().to_string())
}

/// Why a run gave no trustworthy verdict, if it did not.
fn explain(
    language: TestLanguage,
    outcome: &Outcome,
    counts: Counts,
    lines: &[OutputLine],
) -> Option<String> {
    if outcome.cancelled {
        return Some("cancelled".into());
    }
    if let Some(limit) = outcome.limit.filter(|l| l.kills()) {
        return Some(format!(
            "the test run was killed by the sandbox's {} limit",
            limit.as_str()
        ));
    }
    let code = match outcome.termination {
        Termination::Exited(c) => c,
        Termination::Signaled(s) => {
            return Some(format!("the test command was killed by signal {s}"));
        }
    };
    if language == TestLanguage::Python && code == 5 {
        return Some("pytest collected no tests".into());
    }
    if counts.total() == 0 {
        return Some(if code == 0 {
            "no tests ran".into()
        } else {
            format!(
                "the test command failed (exit {code}) before any test ran: {}",
                last_error(lines)
            )
        });
    }
    if code != 0 && counts.failed == 0 && counts.errors == 0 {
        return Some(format!(
            "the test command failed (exit {code}) although no test failed: {}",
            last_error(lines)
        ));
    }
    None
}

/// The last few lines of stderr (or stdout), for an error message.
fn last_error(lines: &[OutputLine]) -> String {
    let pick = |stream: Stream| {
        lines
            .iter()
            .rev()
            .filter(|l| l.stream == stream && !l.text.trim().is_empty())
            .take(3)
            .map(|l| l.text.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let mut last = pick(Stream::Stderr);
    if last.is_empty() {
        last = pick(Stream::Stdout);
    }
    last.reverse();
    if last.is_empty() {
        "it printed nothing".into()
    } else {
        format!("'{}'", last.join(" / "))
    }
}
