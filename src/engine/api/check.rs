//! `Op::CheckProject`: the model-free run. Analysis of the project (findings stored), the safe
//! autofixes stored as the run's artifacts (what each fixed file was read as is recorded, so
//! `ExportRun` shows them as a diff and refuses to overwrite a file changed since), then the
//! project's tests in the sandbox on a scratch copy (results in `test_results`, output in the
//! run's logs). A run of kind `check` in the project containing its root; it fails when a test
//! fails or a finding is at error severity.
//!
//! `Op::RecordCheck` stores findings a front-end computed (`kiln check --record`) the same way:
//! a check run with one check stage.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::lifecycle::{finish_run, finish_stage, log_event, start_run, start_stage};
use super::op::{CheckParams, RecordCheckParams};
use crate::engine::analysis::{self, CheckOptions, FileKind, Finding, FixMode, RuleSet, Severity};
use crate::engine::context::{Event, OpContext};
use crate::engine::ids::{ArtifactId, ProcessId, RunId};
use crate::engine::store::{NewArtifact, RunKind, StageKind, Status};
use crate::engine::testing::{self, Target};
use crate::engine::toolchain::{self, PlanRequest};

pub(crate) async fn check_project(
    ctx: OpContext,
    params: CheckParams,
) -> crate::engine::Result<()> {
    let root = std::fs::canonicalize(&params.root)
        .ok()
        .filter(|r| r.is_dir())
        .ok_or_else(|| toolchain::Error::NotADirectory(params.root.clone()))?;
    let (run, _) = start_run(&ctx, params.project.as_ref(), Some(&root), RunKind::Check).await?;
    let result = body(&ctx, run, &root, &params).await;
    finish_run(&ctx, run, &result).await?;
    result.map(|_| ())
}

/// `Op::RecordCheck`: the front-end's findings as a check run's check stage (no fixes, no
/// tests); the run fails, as a `CheckProject` run does, when a finding is at error severity.
pub(crate) async fn record_check(
    ctx: OpContext,
    params: RecordCheckParams,
) -> crate::engine::Result<()> {
    let RecordCheckParams {
        root,
        project,
        findings,
        origin: _,
    } = params;
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let (run, _) = start_run(&ctx, project.as_ref(), Some(&root), RunKind::Check).await?;
    let result = analyse(&ctx, run, &root, &[], Some(findings))
        .await
        .map(error_findings);
    finish_run(&ctx, run, &result).await?;
    result.map(|_| ())
}

fn error_findings(errors: u32) -> Option<String> {
    (errors > 0).then(|| {
        format!(
            "{errors} finding{} at error severity",
            if errors == 1 { "" } else { "s" }
        )
    })
}

/// Returns why the run failed its checks, if it did.
async fn body(
    ctx: &OpContext,
    run: RunId,
    root: &std::path::Path,
    params: &CheckParams,
) -> crate::engine::Result<Option<String>> {
    let mut failures = Vec::new();
    let errors = analyse(ctx, run, root, &params.paths, None).await?;
    failures.extend(error_findings(errors));
    if params.run_tests
        && !ctx.cancel.is_cancelled()
        && let Some(why) = run_tests(ctx, run, root, params.sandbox).await?
    {
        failures.push(why);
    }
    Ok((!failures.is_empty()).then(|| failures.join("; ")))
}

/// The check stage: findings and safe fixes (or the `given` findings, without fixes). Returns
/// the number of error findings.
async fn analyse(
    ctx: &OpContext,
    run: RunId,
    root: &std::path::Path,
    paths: &[PathBuf],
    given: Option<Vec<(String, Vec<Finding>)>>,
) -> crate::engine::Result<u32> {
    let stage = start_stage(ctx, run, StageKind::Check).await?;
    let config = ctx.shared.config.analysis.clone();
    let paths = if paths.is_empty() {
        vec![root.to_path_buf()]
    } else {
        paths
            .iter()
            .map(|p| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    root.join(p)
                }
            })
            .collect()
    };
    let analysed = if let Some(given) = given {
        Ok((given, Vec::new()))
    } else {
        analyse_paths(root, paths, config).await?
    };
    let (per_file, fixes) = match analysed {
        Ok(v) => v,
        Err(e) => {
            finish_stage(ctx, run, stage, Status::Failed, Some(e.to_string())).await?;
            return Err(e);
        }
    };
    let (mut errors, mut warnings, mut total) = (0u32, 0u32, 0u32);
    for f in per_file.iter().flat_map(|(_, findings)| findings) {
        total += 1;
        match f.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
            _ => {}
        }
    }
    let run_id = run.get();
    let stage_id = stage.get();
    ctx.write(move |s| {
        for (name, findings) in &per_file {
            s.record_findings(run_id, Some(stage_id), name, findings)?;
        }
        Ok(())
    })
    .await?;
    ctx.emit(
        Some(run),
        Event::FindingsReady {
            stage: Some(stage),
            errors,
            warnings,
            total,
        },
    );
    for (path, original, fixed) in fixes {
        let stored = ctx
            .write(move |s| {
                let sha = hex::encode(Sha256::digest(&original));
                s.record_read(run_id, &path, Some(&sha))?;
                s.put_artifact(&NewArtifact {
                    run_id,
                    stage_id: Some(stage_id),
                    path: &path,
                    content: &fixed,
                })
            })
            .await?;
        ctx.emit(
            Some(run),
            Event::ArtifactStored {
                artifact: ArtifactId(stored.id),
                stage: Some(stage),
                path: stored.path,
                version: stored.version as u32,
            },
        );
    }
    finish_stage(ctx, run, stage, Status::Succeeded, None).await?;
    Ok(errors)
}

/// Findings by file name, and the safe fixes.
type Analysed = (Vec<(String, Vec<Finding>)>, Vec<(String, Vec<u8>, Vec<u8>)>);

/// Analyses `paths` on a blocking thread: the findings per file (named relative to `root`) and
/// the safe fixes. The outer error is the task's; the inner one the analysis'.
async fn analyse_paths(
    root: &std::path::Path,
    paths: Vec<PathBuf>,
    config: crate::engine::analysis::AnalysisConfig,
) -> crate::engine::Result<crate::engine::Result<Analysed>> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || -> crate::engine::Result<Analysed> {
        let rules = RuleSet::new(&config)?;
        let outcome = analysis::check_paths(
            &CheckOptions {
                paths,
                threads: 0,
                language: None,
                fix: None,
                cache_file: None,
                keep_source: false,
            },
            &rules,
        );
        let fixes = safe_fixes(&root, &outcome, &rules);
        let per_file = outcome
            .files
            .iter()
            .map(|file| (relative(&root, &file.path), file.findings.clone()))
            .collect();
        Ok((per_file, fixes))
    })
    .await
    .map_err(|e| crate::engine::Error::Unsupported(format!("analysis task failed: {e}")))
}

/// `(path relative to root, content read, content with the safe fixes)` per fixable file.
fn safe_fixes(
    root: &std::path::Path,
    outcome: &analysis::CheckOutcome,
    rules: &RuleSet,
) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for file in &outcome.files {
        let fixable = file
            .findings
            .iter()
            .any(|f| f.fix.as_ref().is_some_and(|fix| fix.safe));
        if !fixable {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file.path) else {
            continue;
        };
        let kind = FileKind::of_path(&file.path, rules);
        match analysis::fix_source(&text, file.language, kind, rules, FixMode::SafeOnly) {
            Ok((fixed, n, _)) if n > 0 && fixed != text => {
                out.push((
                    relative(root, &file.path),
                    text.into_bytes(),
                    fixed.into_bytes(),
                ));
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(path = %file.path.display(), "no fix: {e}"),
        }
    }
    out
}

fn relative(root: &std::path::Path, path: &std::path::Path) -> String {
    let abs: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    };
    abs.strip_prefix(root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

/// The test_run stage. Returns why it failed, if it did.
async fn run_tests(
    ctx: &OpContext,
    run: RunId,
    root: &std::path::Path,
    limits: crate::engine::pipeline::SandboxLimits,
) -> crate::engine::Result<Option<String>> {
    let stage = start_stage(ctx, run, StageKind::TestRun).await?;
    if toolchain::TestLanguage::detect(root).is_none() {
        // Nothing says how to test it: analysis only, and the stage says why.
        let why = "no tests: no pyproject.toml, setup.py, *.py, Cargo.toml, package.json or *.js";
        finish_stage(ctx, run, stage, Status::Skipped, Some(why.to_owned())).await?;
        return Ok(None);
    }
    let shared = &ctx.shared;
    let request = PlanRequest {
        root: root.to_path_buf(),
        language: None,
        overlay: Vec::new(),
        languages: shared.config.languages.clone(),
        sandbox: limits.apply(&shared.config.sandbox),
        env: shared.env.clone(),
        scratch_parent: PathBuf::from(shared.env.get("TMPDIR").unwrap_or("/tmp")),
    };
    let plan = match toolchain::plan(&shared.sandbox, &request).await {
        Ok(plan) => plan,
        Err(e) => {
            finish_stage(ctx, run, stage, Status::Failed, Some(e.to_string())).await?;
            return Err(e.into());
        }
    };
    let emitter = ctx.clone();
    let mut on_lines = move |lines: &[crate::engine::store::LogLine]| {
        emitter.emit(Some(run), log_event(Some(stage), lines));
    };
    let target = Target {
        run_id: run.get(),
        stage_id: Some(stage.get()),
    };
    let report = match testing::run_recorded(
        &shared.sandbox,
        &plan,
        &shared.writer,
        target,
        &ctx.cancel,
        &mut on_lines,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            let status = if ctx.cancel.is_cancelled() {
                Status::Cancelled
            } else {
                Status::Failed
            };
            finish_stage(ctx, run, stage, status, Some(e.to_string())).await?;
            return Err(e);
        }
    };
    ctx.emit(
        Some(run),
        Event::TestResults {
            stage: Some(stage),
            process: report.process_id.map(ProcessId),
            passed: report.counts.passed,
            failed: report.counts.failed,
            skipped: report.counts.skipped,
            errors: report.counts.errors,
        },
    );
    if report.passed() {
        finish_stage(ctx, run, stage, Status::Succeeded, None).await?;
        return Ok(None);
    }
    let why = failing_summary(&report);
    let status = if report.cancelled {
        Status::Cancelled
    } else {
        Status::Failed
    };
    finish_stage(ctx, run, stage, status, Some(why.clone())).await?;
    Ok(Some(why))
}

fn failing_summary(report: &testing::TestReport) -> String {
    let names: Vec<&str> = report.failures().map(|c| c.name.as_str()).take(5).collect();
    let mut why = testing::summary_line(report);
    if !names.is_empty() {
        why.push_str(": ");
        why.push_str(&names.join(", "));
    }
    why
}
