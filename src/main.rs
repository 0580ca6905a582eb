//! The `kiln` binary: parses arguments, sets up logging and hands off to the CLI (the dashboard
//! arrives with its own issue).

mod cli;
mod logging;
#[cfg(feature = "tui")]
mod tui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The sandbox init must run before anything starts a thread (it forks).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == kiln::engine::sandbox::INIT_ARG)
    {
        kiln::engine::sandbox::init_main();
    }
    let cli = cli::Cli::parse();
    cli::main(cli)
}
