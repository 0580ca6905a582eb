//! The `kiln-lsp` binary: the sandbox init when asked, else logging (stderr and the XDG state
//! dir; stdout is the protocol) and the server on stdio.

use std::process::ExitCode;

use kiln::engine::env::Env;
use kiln::engine::paths::Paths;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

fn main() -> ExitCode {
    // The sandbox init must run before anything starts a thread (it forks).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == kiln::engine::sandbox::INIT_ARG)
    {
        kiln::engine::sandbox::init_main();
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "--version") {
        #[allow(clippy::print_stdout)] // asked for on the command line, not in a session
        {
            println!("kiln-lsp {}", env!("CARGO_PKG_VERSION"));
        }
        return ExitCode::SUCCESS;
    }
    let env = Env::capture();
    let paths = Paths::resolve(&env, None).ok();
    let _guard = init_logging(&env, paths.as_ref());
    let init_program = std::env::current_exe().unwrap_or_else(|_| "kiln-lsp".into());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(kiln_lsp::serve(
        tokio::io::stdin(),
        tokio::io::stdout(),
        kiln_lsp::ServeOptions {
            env,
            paths,
            init_program,
        },
    ));
    // Exit now: the stdin reader may still sit in a blocking read the runtime would wait for.
    std::process::exit(0);
}

/// Logs to stderr and to `kiln-lsp.log` in the state dir; `KILN_LOG` sets the filter.
fn init_logging(
    env: &Env,
    paths: Option<&Paths>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let filter = || EnvFilter::new(env.get("KILN_LOG").unwrap_or("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter());
    let (file, guard) =
        match paths.and_then(|p| std::fs::create_dir_all(&p.state_dir).ok().map(|()| p)) {
            Some(p) => {
                let appender = tracing_appender::rolling::never(&p.state_dir, "kiln-lsp.log");
                let (writer, guard) = tracing_appender::non_blocking(appender);
                let layer = tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(false)
                    .with_filter(filter());
                (Some(layer), Some(guard))
            }
            None => (None, None),
        };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}
