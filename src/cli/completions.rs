//! `kiln completions SHELL`: prints a completion script.

use std::process::ExitCode;

use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shell to complete for
    shell: clap_complete::Shell,
}

pub(crate) fn run(args: &Args) -> ExitCode {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "kiln", &mut std::io::stdout());
    ExitCode::SUCCESS
}
