//! `kiln show RUN`: a run's stages and attempts, gates, findings, tests, model calls, tokens
//! and cost, read from the store (read-only).

use std::process::ExitCode;

use kiln::engine::pipeline::StageOutput;
use kiln::engine::store::Store;
use kiln::engine::untrusted::inert;
use serde::Serialize;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The run id
    run: i64,
}

#[derive(Serialize)]
struct Shown {
    run: kiln::engine::store::Run,
    request: Option<String>,
    stages: Vec<kiln::engine::store::StageRow>,
    gates: Vec<kiln::engine::store::GateRow>,
    artifacts: Vec<kiln::engine::store::Artifact>,
    cost_usd: f64,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let store = Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)?;
    let run = store.run(args.run)?;
    let shown = Shown {
        request: run.request_id.and_then(|id| store.request_text(id).ok()),
        stages: store.pipeline_stages(run.id)?,
        gates: store.gates_of_run(run.id)?,
        artifacts: store.latest_artifacts(run.id)?,
        cost_usd: store.cost_of_run(run.id)?,
        run,
    };
    if ctx.format == Format::Json {
        output::print_json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    let r = &shown.run;
    println!("run {} ({}): {}", r.id, r.kind, r.status);
    if let Some(req) = &shown.request {
        println!("request: {}", inert(req));
    }
    if let Some(e) = &r.error {
        println!("error: {}", inert(e));
    }
    println!("\nstages:");
    for s in &shown.stages {
        let took = s
            .finished_at
            .zip(s.started_at)
            .map_or_else(String::new, |(f, st)| {
                format!("{:.1}s", (f - st) as f64 / 1e6)
            });
        let mut detail = String::new();
        match s
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str::<StageOutput>(o).ok())
        {
            Some(StageOutput::TestRun { report }) => {
                detail = format!(
                    "{} passed, {} failed, {} errors, {} skipped",
                    report.passed, report.failed, report.errors, report.skipped
                );
            }
            Some(StageOutput::Findings { findings }) => {
                detail = format!("{} finding(s)", findings.len());
            }
            Some(StageOutput::Review { review }) => {
                detail = format!(
                    "score {}",
                    review
                        .score
                        .map_or_else(|| "none".into(), |s| s.to_string())
                );
            }
            Some(StageOutput::Files { files } | StageOutput::Tests { files }) => {
                detail = files.keys().cloned().collect::<Vec<_>>().join(", ");
            }
            _ => {}
        }
        if let Some(e) = &s.error {
            detail.clone_from(e);
        }
        let name = if s.iteration > 0 {
            format!("{} #{}", s.name, s.iteration)
        } else {
            s.name.clone()
        };
        println!(
            "  {:<4} {:<14} attempt {}  {:<10} {:>6}  {}",
            s.id,
            name,
            s.attempt,
            s.status.as_str(),
            took,
            inert(&detail)
        );
    }
    if !shown.gates.is_empty() {
        println!("\ngates:");
        for g in &shown.gates {
            println!(
                "  #{} {:<9} {}  {}",
                g.iteration,
                g.gate,
                if g.passed { "pass" } else { "FAIL" },
                inert(&g.detail)
            );
        }
    }
    if !shown.artifacts.is_empty() {
        println!("\nfiles:");
        for a in &shown.artifacts {
            println!("  {} (v{}, {} bytes)", inert(&a.path), a.version, a.size);
        }
    }
    println!("\ncost: ${:.4}", shown.cost_usd);
    Ok(ExitCode::SUCCESS)
}
