//! The `kiln` binary: parses arguments, sets up logging and hands off to the CLI (the dashboard
//! arrives with its own issue).

mod cli;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::main(cli)
}
