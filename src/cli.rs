//! The headless CLI: one file per subcommand under `cli/`, each a thin adapter over the engine.
//!
//! Exit codes: 0 success, 1 the command ran and found a problem (findings, failed check),
//! 2 usage or runtime error (with a message on stderr saying what to do), 141 the reader of the
//! output went away (a closed pipe: the command stops quietly, as if killed by SIGPIPE).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod ask;
mod cancel;
mod check;
mod completions;
mod config;
mod context;
mod db;
mod doctor;
mod engine;
mod export;
mod feedback;
mod logs;
mod models;
mod new;
mod output;
mod project;
mod resume;
mod retry;
mod rules;
mod run;
mod runs;
mod sandbox;
mod serve;
mod services;
mod session;
mod show;
mod stats;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub(crate) use context::Context;
pub(crate) use output::Format;

/// kiln: a terminal workstation for AI-assisted coding.
///
/// Run with no subcommand to open the dashboard.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[cfg(feature = "tui")]
    #[command(flatten)]
    pub(crate) tui: crate::tui::TuiArgs,
}

/// Flags every subcommand accepts.
#[derive(Debug, clap::Args)]
pub(crate) struct GlobalArgs {
    /// Database file [default: $XDG_DATA_HOME/kiln/kiln.db; env: KILN_DB]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,
    /// Output format for listings and reports
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
    /// Override a config value, e.g. --set store.busy_timeout_ms=10000 (repeatable)
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
    /// More log detail (repeatable); the log goes to $XDG_STATE_HOME/kiln/kiln.log
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Less output: no progress bars, errors only in the log
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub(crate) quiet: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Add, list and remove projects
    #[command(subcommand)]
    Project(project::Command),
    /// Show the effective configuration
    #[command(subcommand)]
    Config(config::Command),
    /// Check, prune and vacuum the database
    #[command(subcommand)]
    Db(db::Command),
    /// Check the database, config files, sandbox and models
    Doctor,
    /// Run untrusted code in the sandbox, or self-test it
    #[command(subcommand)]
    Sandbox(sandbox::Command),
    /// Print a shell completion script
    Completions(completions::Args),
    /// List configured and detected models and check each is reachable
    Models(models::Args),
    /// Ask a model and stream the reply
    Ask(ask::Args),
    /// Tokens and cost by model and by day
    Stats(stats::Args),
    /// Analyse source files and report findings
    Check(check::Args),
    /// List the analysis rules, or explain one
    Rules(rules::Args),
    /// Let this project's kiln.toml set model endpoints, sandbox env/binds and higher limits
    Trust(trust::TrustArgs),
    /// Withdraw the trust of a project's kiln.toml
    Untrust(trust::UntrustArgs),
    /// Serve a project as a sandboxed service on 127.0.0.1
    Serve(serve::Args),
    /// List sandboxed services
    Services(services::ListArgs),
    /// Stop a sandboxed service
    Stop(services::StopArgs),
    /// Check a project and run its tests in the sandbox, no model needed
    Run(run::Args),
    /// Show a run's files as a diff against the project and export them
    Export(export::Args),
    /// Accept or reject a run, a model call or a finding
    Feedback(feedback::Args),
    /// Turn a request into tested code through the pipeline
    New(new::Args),
    /// List the newest runs
    Runs(runs::Args),
    /// Show a run: stages, attempts, gates, files, cost
    Show(show::Args),
    /// Print a run's log
    Logs(logs::Args),
    /// Cancel a running run
    Cancel(cancel::Args),
    /// Run a failed stage again and continue
    Retry(retry::Args),
    /// Continue an interrupted run from its last completed stage
    Resume(resume::Args),
}

/// Runs the parsed command line and turns errors into a message and exit code 2.
pub(crate) fn main(cli: Cli) -> ExitCode {
    output::exit_quietly_on_broken_pipe();
    let command = match cli.command {
        Some(Command::Completions(args)) => return completions::run(&args),
        Some(command) => command,
        #[cfg(feature = "tui")]
        None => return crate::tui::run(&cli.global, &cli.tui),
        #[cfg(not(feature = "tui"))]
        None => {
            println!(
                "The kiln dashboard is not built yet. Meanwhile, try:\n  kiln project add .   register this directory\n  kiln doctor          check this machine\n  kiln --help          every command"
            );
            return ExitCode::SUCCESS;
        }
    };
    let ctx = match Context::new(&cli.global) {
        Ok(ctx) => ctx,
        Err(e) => return report(&e),
    };
    if !matches!(command, Command::Trust(_) | Command::Untrust(_)) {
        ctx.warn_about_project_file();
    }
    let result = match command {
        Command::Project(cmd) => project::run(&ctx, cmd),
        Command::Config(cmd) => config::run(&ctx, &cmd),
        Command::Db(cmd) => db::run(&ctx, &cmd),
        Command::Doctor => doctor::run(&ctx),
        Command::Sandbox(cmd) => sandbox::run(&ctx, cmd),
        Command::Completions(_) => unreachable!("handled above"),
        Command::Models(args) => models::run(&ctx, &args),
        Command::Ask(args) => ask::run(&ctx, &args),
        Command::Stats(args) => stats::run(&ctx, &args),
        Command::Check(args) => check::run(&ctx, &args),
        Command::Rules(args) => rules::run(&ctx, &args),
        Command::Trust(args) => trust::trust(&ctx, &args),
        Command::Untrust(args) => trust::untrust(&ctx, &args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Services(args) => services::list(&ctx, &args),
        Command::Stop(args) => services::stop(&ctx, &args),
        Command::Run(args) => run::run(&ctx, &args),
        Command::Export(args) => export::run(&ctx, &args),
        Command::Feedback(args) => feedback::run(&ctx, &args),
        Command::New(args) => new::run(&ctx, &args),
        Command::Runs(args) => runs::run(&ctx, &args),
        Command::Show(args) => show::run(&ctx, &args),
        Command::Logs(args) => logs::run(&ctx, &args),
        Command::Cancel(args) => cancel::run(&ctx, &args),
        Command::Retry(args) => retry::run(&ctx, &args),
        Command::Resume(args) => resume::run(&ctx, &args),
    };
    result.unwrap_or_else(|e| report(&e))
}

fn report(e: &anyhow::Error) -> ExitCode {
    if output::is_broken_pipe(e) {
        return ExitCode::from(output::BROKEN_PIPE_EXIT as u8);
    }
    eprintln!("error: {e:#}");
    tracing::error!("{e:#}");
    ExitCode::from(2)
}
