//! The dashboard (`kiln` with no subcommand): projects, runs, run detail, logs, artifacts,
//! findings and model calls, live.
//!
//! Flow (STYLE.md): key → keymap → `Action` → `update(&mut UiState)` → effects (an engine
//! operation, a store read, a background scan); engine event → `update` → redraw;
//! `render(&UiState, frame)` only reads. It talks to the engine only through its API (ops in,
//! events out); reads go through its own read-only store connection. Untrusted text (program
//! output, file names, model replies) is made inert before it reaches the terminal.

mod action;
mod ansi;
mod app;
mod bench;
mod effect;
mod keymap;
mod load;
mod logs;
mod prompt;
mod render;
mod sink;
mod state;
mod symbols;
mod terminal;
mod theme;
mod update;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use kiln::engine::api::{Engine, EngineOptions};
use kiln::engine::store::Store;

use crate::cli::{Context, GlobalArgs};
use symbols::{ASCII, UNICODE, locale_is_utf8};
use theme::{ColorMode, Theme};

/// Dashboard flags (only without a subcommand).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct TuiArgs {
    /// Capture the mouse (scroll wheel); off by default as it breaks copying text over SSH
    #[arg(long)]
    pub(crate) mouse: bool,
    /// ASCII symbols only (automatic when the locale is not UTF-8)
    #[arg(long)]
    pub(crate) ascii: bool,
    /// Theme: dark, light, high-contrast, 16-color [default: config tui.theme, else dark]
    #[arg(long, value_name = "NAME")]
    pub(crate) theme: Option<String>,
    /// Timing log for bench/tui.sh: startup phases and the draw time of every frame
    #[arg(long, hide = true, value_name = "FILE")]
    pub(crate) bench_frames: Option<PathBuf>,
}

/// How the terminal is driven, from flags, config and the environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Look {
    pub(crate) theme: Theme,
    pub(crate) ascii: bool,
    pub(crate) mouse: bool,
}

pub(crate) fn look(
    args: &TuiArgs,
    config: &kiln::engine::config::TuiConfig,
    env: &kiln::engine::env::Env,
) -> anyhow::Result<Look> {
    let mode = if env.get("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        ColorMode::None
    } else if matches!(env.get("COLORTERM"), Some("truecolor" | "24bit")) {
        ColorMode::TrueColor
    } else {
        ColorMode::Named
    };
    let name = args
        .theme
        .as_deref()
        .or(config.theme.as_deref())
        .unwrap_or("dark");
    let utf8 = locale_is_utf8(env.get("LC_ALL"), env.get("LC_CTYPE"), env.get("LANG"));
    Ok(Look {
        theme: Theme::named(name, mode)?,
        ascii: args.ascii || config.ascii || !utf8,
        mouse: args.mouse || config.mouse,
    })
}

/// The bundled example, when this checkout (or the working directory) has one.
fn example(cwd: &std::path::Path) -> Option<PathBuf> {
    [
        cwd.join("examples/tempconv"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/tempconv"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}

pub(crate) fn run(global: &GlobalArgs, args: &TuiArgs) -> ExitCode {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        // Scripts and pipes get the way in instead of a screen they cannot show.
        #[allow(clippy::print_stdout)]
        {
            println!(
                "kiln with no subcommand opens the dashboard, which needs a terminal. Without one, try:\n  kiln project add .   register this directory\n  kiln doctor          check this machine\n  kiln --help          every command"
            );
        }
        return ExitCode::SUCCESS;
    }
    let start = std::time::Instant::now();
    match run_inner(global, args, start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(2)
        }
    }
}

/// The dashboard's read-only connection; a missing or older database is created or migrated
/// first by a writing open (the usual case, an up-to-date file, skips that second open).
fn read_only_store(ctx: &Context) -> anyhow::Result<Store> {
    let config = &ctx.config.config.store;
    if let Ok(store) = Store::open_read_only(&ctx.paths.db, config) {
        return Ok(store);
    }
    drop(ctx.open_store()?); // creates and migrates the database on first use
    Ok(Store::open_read_only(&ctx.paths.db, config)?)
}

fn run_inner(global: &GlobalArgs, args: &TuiArgs, start: std::time::Instant) -> anyhow::Result<()> {
    let bench = bench::BenchLog::new(start, args.bench_frames.as_deref())?;
    let ctx = Context::new(global)?;
    bench.phase("context");
    let config = &ctx.config.config;
    let look = look(args, &config.tui, &ctx.env)?;
    let keymap = keymap::Keymap::with_overrides(&config.tui.keys)?;
    let store = read_only_store(&ctx)?;
    bench.phase("store_open");
    if let Some(file) = &ctx.log.file
        && ctx.env.get("KILN_LOG").is_some()
    {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("kiln: logging to {}", file.display());
        }
    }
    let mut state = state::UiState::new(
        ctx.cwd.clone(),
        example(&ctx.cwd),
        !config.models.named.is_empty() || config.models.default.is_some(),
    );
    let symbols = if look.ascii { ASCII } else { UNICODE };
    let mut term = terminal::setup(look.mouse)?;
    bench.phase("terminal");
    let scanner = logs::Scanner::new(ctx.paths.db.clone(), config.store.clone());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The first frame comes from the store alone; the engine (a writing open, its threads)
        // starts after it, so the screen appears in the time of one query.
        app::first_frame(
            &mut term,
            &mut state,
            &store,
            &look.theme,
            &symbols,
            &keymap,
            &bench,
        )?;
        bench.phase("first_frame");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let guard = rt.enter();
        let engine = Engine::start(EngineOptions {
            paths: ctx.paths.clone(),
            config: config.clone(),
            env: ctx.env.clone(),
            init_program: std::env::current_exe().context("cannot find the kiln binary")?,
        })?;
        bench.phase("engine_start");
        let (tx, rx) = std::sync::mpsc::channel();
        let mut events = engine.subscribe();
        let forward = tx.clone();
        rt.spawn(async move {
            while let Some(e) = events.next().await {
                if forward.send(app::Msg::Engine(e)).is_err() {
                    break;
                }
            }
        });
        let app = app::App {
            state,
            keymap,
            theme: look.theme.clone(),
            symbols,
            store,
            scanner: scanner.clone(),
            engine: engine.clone(),
            env: ctx.env.clone(),
            db: ctx.paths.db.clone(),
            mouse: look.mouse,
            bench,
        };
        let r = app.run(&mut term, &tx, &rx);
        drop(guard);
        anyhow::Ok((r, engine, rt))
    }));
    terminal::restore(look.mouse);
    for kind in [
        logs::ScanKind::Search,
        logs::ScanKind::Filter,
        logs::ScanKind::Marks,
    ] {
        scanner.cancel(kind);
    }
    match result {
        Ok(Ok((r, engine, rt))) => {
            let _ = rt.block_on(async move {
                tokio::time::timeout(std::time::Duration::from_secs(3), engine.shutdown()).await
            });
            r
        }
        Ok(Err(e)) => Err(e),
        Err(_) => anyhow::bail!("the dashboard crashed (the report is above and in the log)"),
    }
}
