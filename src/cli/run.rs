//! `kiln run [PATH]`: the model-free run through the engine API (`Op::CheckProject`): analysis,
//! the project's tests in the sandbox, the safe fixes as a diff; recorded as a `check` run.
//! Progress goes to stderr, the summary (or one JSON document) to stdout.
//!
//! Exit codes: 0 every test passed and no finding is at error severity, 1 a test failed or a
//! finding is an error, 2 the run could not be done (e.g. no test toolchain: the message says
//! what to install).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::analysis::Severity;
use kiln::engine::api::{
    CheckParams, Event, ExportFile, ExportMode, ExportParams, FileChange, Op, Origin,
};
use kiln::engine::store::{Status, Store, StoredFinding, StoredTestResult, TestOutcome};
use kiln::engine::untrusted::inert;
use serde::Serialize;

use super::session::Session;
use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project directory [default: .]
    path: Option<PathBuf>,
    /// Analyse only; do not run the tests
    #[arg(long)]
    no_tests: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    run: i64,
    status: Status,
    error: Option<&'a str>,
    root: String,
    findings: &'a [StoredFinding],
    tests: Tests<'a>,
    fixes: &'a [ExportFile],
}

#[derive(Serialize)]
struct Tests<'a> {
    passed: usize,
    failed: usize,
    errors: usize,
    skipped: usize,
    cases: &'a [StoredTestResult],
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let root = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let root = if root.is_absolute() {
        root
    } else {
        ctx.cwd.join(root)
    };
    let mut session = Session::start(ctx)?;
    let progress = ctx.format == Format::Human && ctx.verbosity >= 0;
    let verbose = ctx.verbosity > 0;
    let finished = session.run(
        Op::CheckProject(CheckParams {
            root: root.clone(),
            paths: Vec::new(),
            project: None,
            run_tests: !args.no_tests,
            origin: Origin::Cli,
            ..CheckParams::default()
        }),
        |e| {
            if progress {
                show_progress(&e.event, verbose);
            }
        },
    )?;
    let Some(run) = finished.run else {
        session.finish();
        anyhow::bail!(
            "{}",
            finished
                .failed
                .unwrap_or_else(|| "the run did not start".into())
        );
    };
    // The safe fixes, as the diff `kiln export RUN` would apply.
    let mut fixes = Vec::new();
    let preview = session.run(
        Op::ExportRun(ExportParams {
            run,
            mode: ExportMode::Preview,
            ..ExportParams::default()
        }),
        |_| {},
    )?;
    for e in preview.events {
        if let Event::ExportPreview { files } = e.event {
            fixes.extend(
                files
                    .into_iter()
                    .filter(|f| f.change != FileChange::Unchanged),
            );
        }
    }
    session.finish();

    let store = Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)
        .context("cannot read the recorded run")?;
    let row = store.run(run.get())?;
    let findings = store.findings_of_run(run.get())?;
    let cases = store.test_results_of_run(run.get())?;
    let count = |o: TestOutcome| cases.iter().filter(|c| c.case.outcome == o).count();
    let report = Report {
        run: row.id,
        status: row.status,
        error: row.error.as_deref(),
        root: root.display().to_string(),
        findings: &findings,
        tests: Tests {
            passed: count(TestOutcome::Passed),
            failed: count(TestOutcome::Failed),
            errors: count(TestOutcome::Error),
            skipped: count(TestOutcome::Skipped),
            cases: &cases,
        },
        fixes: &fixes,
    };
    match ctx.format {
        Format::Json => output::print_json(&report)?,
        Format::Human => print_human(&report),
    }
    if let Some(error) = &finished.failed {
        eprintln!("error: {}", inert(error));
        return Ok(ExitCode::from(2));
    }
    Ok(if row.status == Status::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn show_progress(event: &Event, verbose: bool) {
    match event {
        Event::StageStarted { name, .. } => {
            let what = match name.as_str() {
                "check" => "analysing",
                "test_run" => "running the tests in the sandbox",
                other => other,
            };
            eprintln!("kiln run: {what}...");
        }
        Event::FindingsReady {
            errors,
            warnings,
            total,
            ..
        } => eprintln!("kiln run: {total} findings ({errors} errors, {warnings} warnings)"),
        Event::StageFinished {
            status: Status::Skipped,
            error: Some(why),
            ..
        } => eprintln!("kiln run: {why}"),
        Event::TestResults {
            passed,
            failed,
            errors,
            skipped,
            ..
        } => eprintln!(
            "kiln run: tests: {passed} passed, {failed} failed, {errors} errors, {skipped} skipped"
        ),
        Event::LogLines { lines, .. } if verbose => {
            for l in lines {
                eprintln!("  | {}", inert(&l.text));
            }
        }
        _ => {}
    }
}

fn print_human(r: &Report<'_>) {
    let verdict = match r.status {
        Status::Succeeded => "passed".to_owned(),
        other => other.to_string(),
    };
    println!("run {} ({}): {verdict}", r.run, inert(&r.root));
    if let Some(e) = r.error {
        println!("  {}", inert(e));
    }
    let errors = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    println!(
        "findings: {} ({errors} at error severity)",
        r.findings.len()
    );
    for f in r.findings {
        println!(
            "  {}:{}:{} {} {} {}",
            inert(&f.file),
            f.range.start.line + 1,
            f.range.start.character + 1,
            f.severity.as_str(),
            f.rule,
            inert(&f.message)
        );
    }
    let t = &r.tests;
    println!(
        "tests: {} passed, {} failed, {} errors, {} skipped",
        t.passed, t.failed, t.errors, t.skipped
    );
    for c in t
        .cases
        .iter()
        .filter(|c| matches!(c.case.outcome, TestOutcome::Failed | TestOutcome::Error))
    {
        let at = match (&c.case.file, c.case.line) {
            (Some(f), Some(l)) => format!(" ({}:{l})", inert(f)),
            (Some(f), None) => format!(" ({})", inert(f)),
            _ => String::new(),
        };
        println!(
            "  {} {}{at}",
            c.case.outcome.as_str().to_uppercase(),
            inert(&c.case.name)
        );
        if let Some(m) = &c.case.message {
            for line in m.lines().take(6) {
                println!("      {}", inert(line));
            }
        }
    }
    if !r.fixes.is_empty() {
        println!(
            "safe fixes for {} file{} (apply with: kiln export {}):",
            r.fixes.len(),
            if r.fixes.len() == 1 { "" } else { "s" },
            r.run
        );
        for f in r.fixes {
            print!("{}", inert(&f.diff));
        }
    }
    println!("next: kiln show {0} · kiln logs {0}", r.run);
}
