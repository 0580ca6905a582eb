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
    // The forwarder runs inside a service's sandbox as its program (see engine::serve).
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args
        .first()
        .is_some_and(|a| a == kiln::engine::serve::FORWARD_ARG)
    {
        kiln::engine::serve::forward_main(&args[1..]);
    }
    let cli = cli::Cli::parse();
    cli::main(cli)
}
