//! `kiln new "REQUEST"`: carries a request through the pipeline with live per-stage progress
//! and ends with a summary (gates, tests, cost, what to run next). `--yes` exports the files
//! into the project when every gate passes. `--format json` prints one document instead.

use std::path::PathBuf;
use std::process::ExitCode;

use kiln::engine::api::{AutoExport, Op, Origin, ProjectRef, StartRunParams};
use kiln::engine::store::{Status, Store};
use kiln::engine::untrusted::inert;
use serde::Serialize;

use super::engine::{self as cli_engine, Followed};
use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What the code should do, in your words
    request: String,
    /// A registered project (by name); default: the project containing this directory
    #[arg(long, short)]
    project: Option<String>,
    /// python, rust or javascript [default: the project's, else from --file, else python]
    #[arg(long)]
    lang: Option<String>,
    /// An existing file given to the model as context (repeatable)
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Write the files into the project when every gate passes
    #[arg(long, short)]
    yes: bool,
    /// Only these stages, comma-separated (e.g. spec,generate)
    #[arg(long, value_delimiter = ',')]
    stages: Option<Vec<String>>,
    /// Use this model for every model stage
    #[arg(long, short)]
    model: Option<String>,
}

#[derive(Serialize)]
struct Report<'a> {
    run: Option<i64>,
    status: Option<Status>,
    error: Option<&'a str>,
    stages: &'a [cli_engine::StageLine],
    gates: Vec<&'a cli_engine::GateLine>,
    tests: Option<TestsLine>,
    cost_usd: f64,
    exported: &'a [String],
}

#[derive(Serialize)]
struct TestsLine {
    passed: u32,
    failed: u32,
    skipped: u32,
    errors: u32,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let project = args
        .project
        .clone()
        .map(ProjectRef::Name)
        .or_else(|| Some(ProjectRef::Containing(ctx.cwd.clone())));
    let mut models = std::collections::BTreeMap::new();
    if let Some(m) = &args.model {
        for stage in ["spec", "generate", "tests", "review", "improve", "docs"] {
            models.insert(stage.to_owned(), m.clone());
        }
    }
    let files = args
        .files
        .iter()
        .map(|f| {
            if f.is_absolute() {
                f.clone()
            } else {
                ctx.cwd.join(f)
            }
        })
        .collect();
    let params = StartRunParams {
        request: args.request.clone(),
        project,
        // Without a registered project, the working directory is the export root.
        root: None,
        language: args.lang.clone(),
        files,
        stages: args.stages.clone(),
        models,
        origin: Origin::Cli,
        export: if args.yes {
            AutoExport::WhenGatesPass
        } else {
            AutoExport::No
        },
        ..StartRunParams::default()
    };
    let params = with_root(ctx, params)?;
    let rt = cli_engine::runtime()?;
    let followed = rt.block_on(async {
        let engine = cli_engine::start(ctx)?;
        let mut events = engine.subscribe();
        let op = engine.submit(Op::StartRun(params));
        let followed = cli_engine::follow(ctx, &engine, &mut events, op).await;
        engine.shutdown().await;
        anyhow::Ok(followed)
    })?;
    summarize(ctx, &followed, "kiln new")
}

/// The export root: the registered project's root, else the working directory.
fn with_root(ctx: &Context, mut params: StartRunParams) -> anyhow::Result<StartRunParams> {
    let store = ctx.open_store()?;
    let registered = match &params.project {
        Some(ProjectRef::Name(name)) => Some(store.project_by_name(name)?),
        Some(ProjectRef::Containing(dir)) => store.project_containing(dir)?,
        _ => None,
    };
    if registered.is_none() {
        params.project = None;
        params.root = Some(ctx.cwd.clone());
    }
    Ok(params)
}

/// Prints the summary (or the JSON document) and picks the exit code.
pub(crate) fn summarize(ctx: &Context, f: &Followed, what: &str) -> anyhow::Result<ExitCode> {
    if let Some(error) = &f.op_error
        && f.status.is_none()
    {
        anyhow::bail!("{what}: {error}");
    }
    let cost = match f.run {
        Some(run) => Store::open_read_only(&ctx.paths.db, &ctx.config.config.store)
            .and_then(|s| s.cost_of_run(run.get()))
            .unwrap_or(0.0),
        None => 0.0,
    };
    let ok = f.status == Some(Status::Succeeded);
    if ctx.format == Format::Json {
        output::print_json(&Report {
            run: f.run.map(kiln::engine::ids::RunId::get),
            status: f.status,
            error: f.error.as_deref(),
            stages: &f.stages,
            gates: f.gates.values().collect(),
            tests: f.tests.map(|(passed, failed, skipped, errors)| TestsLine {
                passed,
                failed,
                skipped,
                errors,
            }),
            cost_usd: cost,
            exported: &f.exported,
        })?;
    } else {
        let run = f.run.map_or_else(|| "?".to_owned(), |r| r.to_string());
        let status = f.status.map_or("unknown", Status::as_str);
        println!("run {run}: {status}");
        if let Some(error) = &f.error {
            println!("  {}", inert(error));
        }
        for g in f.gates.values() {
            println!(
                "  gate {:<9} {}  {}",
                g.gate,
                if g.passed { "pass" } else { "FAIL" },
                inert(&g.detail)
            );
        }
        if let Some((passed, failed, skipped, errors)) = f.tests {
            println!(
                "  tests: {passed} passed, {failed} failed, {errors} errors, {skipped} skipped"
            );
        }
        println!("  cost: ${cost:.4}");
        if !f.exported.is_empty() {
            println!("  exported: {}", inert(&f.exported.join(", ")));
        }
        match f.status {
            Some(Status::Succeeded) if f.exported.is_empty() => {
                println!("next: kiln show {run}   ·   kiln export {run}");
            }
            Some(Status::Succeeded) => println!("next: kiln show {run}"),
            Some(Status::Cancelled | Status::Interrupted) => {
                println!("next: kiln resume {run}");
            }
            Some(Status::Skipped) => {
                println!("next: configure a model (kiln models), then kiln resume {run}");
            }
            _ => println!("next: kiln show {run}   ·   kiln logs {run}   ·   kiln retry {run}"),
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
