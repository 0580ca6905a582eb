//! `kiln export RUN [--yes] [--force] [--git-branch B] [--zip F]`: shows the diff of the run's
//! files against the project, asks (unless `--yes`), then exports through the engine
//! (`Op::ExportRun`): into the project, onto a new git branch, or into a zip archive.
//!
//! Exit codes: 0 exported (or nothing to do), 1 declined, 2 refused or failed (nothing written).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use kiln::engine::api::{Event, ExportFile, ExportMode, ExportParams, FileChange, Op};
use kiln::engine::ids::RunId;
use kiln::engine::untrusted::inert;
use serde::Serialize;

use super::session::Session;
use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The run whose files to export
    run: RunId,
    /// Export without asking
    #[arg(long, short)]
    yes: bool,
    /// Overwrite files that changed since the run read them
    #[arg(long)]
    force: bool,
    /// Commit the files on this new branch (the worktree and current branch stay as they are)
    #[arg(long, value_name = "BRANCH")]
    git_branch: Option<String>,
    /// Write the final files into this zip archive
    #[arg(long, value_name = "FILE")]
    zip: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report<'a> {
    run: RunId,
    files: &'a [ExportFile],
    exported: bool,
    written: Vec<String>,
    branch: Option<String>,
    zip: Option<String>,
}

pub(crate) fn run(ctx: &Context, args: &Args) -> anyhow::Result<ExitCode> {
    let zip = args.zip.as_ref().map(|z| {
        if z.is_absolute() {
            z.clone()
        } else {
            ctx.cwd.join(z)
        }
    });
    let params = ExportParams {
        run: args.run,
        mode: ExportMode::Preview,
        force: args.force,
        git_branch: args.git_branch.clone(),
        zip,
    };
    let mut session = Session::start(ctx)?;
    let preview = session.run(Op::ExportRun(params.clone()), |_| {})?;
    if let Some(e) = preview.failed {
        session.finish();
        eprintln!("error: {}", inert(&e));
        return Ok(ExitCode::from(2));
    }
    let files: Vec<ExportFile> = preview
        .events
        .into_iter()
        .filter_map(|e| match e.event {
            Event::ExportPreview { files } => Some(files),
            _ => None,
        })
        .flatten()
        .collect();
    let changed = files
        .iter()
        .filter(|f| f.change != FileChange::Unchanged)
        .count();
    if ctx.format == Format::Human {
        for f in &files {
            let what = match f.change {
                FileChange::Added => "add",
                FileChange::Modified => "modify",
                FileChange::Unchanged => "unchanged",
                FileChange::Conflict => "CONFLICT (changed since the run read it)",
            };
            println!("{what}: {}", inert(&f.path));
            print!("{}", inert(&f.diff));
        }
    }
    let mut report = Report {
        run: args.run,
        files: &files,
        exported: false,
        written: Vec::new(),
        branch: None,
        zip: None,
    };
    if changed == 0 && params.zip.is_none() {
        session.finish();
        if ctx.format == Format::Json {
            output::print_json(&report)?;
        } else {
            println!(
                "nothing to export: run {}'s files match the project",
                args.run
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes && !confirm(ctx, changed)? {
        session.finish();
        if ctx.format == Format::Json {
            output::print_json(&report)?;
        }
        return Ok(ExitCode::from(1));
    }
    let applied = session.run(
        Op::ExportRun(ExportParams {
            mode: ExportMode::Apply,
            ..params
        }),
        |_| {},
    )?;
    session.finish();
    if let Some(e) = applied.failed {
        eprintln!("error: {}", inert(&e));
        return Ok(ExitCode::from(2));
    }
    for e in applied.events {
        if let Event::Exported { files, branch, zip } = e.event {
            report.exported = true;
            report.written = files;
            report.branch = branch;
            report.zip = zip;
        }
    }
    match ctx.format {
        Format::Json => output::print_json(&report)?,
        Format::Human => {
            match &report.branch {
                Some(b) => println!(
                    "committed {} file{} on branch '{}'",
                    report.written.len(),
                    if report.written.len() == 1 { "" } else { "s" },
                    inert(b)
                ),
                None if report.zip.is_none() || !report.written.is_empty() => println!(
                    "wrote {} file{}",
                    report.written.len(),
                    if report.written.len() == 1 { "" } else { "s" }
                ),
                None => {}
            }
            if let Some(z) = &report.zip {
                println!("wrote the archive '{}'", inert(z));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; without one, says to pass --yes.
fn confirm(ctx: &Context, changed: usize) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() || ctx.format == Format::Json {
        eprintln!("kiln export: not exporting without --yes (no terminal to ask on)");
        return Ok(false);
    }
    eprint!(
        "Export {changed} file{}? [y/N] ",
        if changed == 1 { "" } else { "s" }
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
