//! `kiln services` lists sandboxed services; `kiln stop SERVICE` stops one.
//!
//! A service is stopped by sending SIGTERM to the `kiln serve` process that owns it (the
//! recorded pid, checked against its recorded start time so a reused pid is never signalled);
//! that process cancels the sandbox run, whose pid 1 kills the whole service, and records the
//! end. A service whose owner is gone (kiln was killed) died with it and is marked so.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kiln::engine::serve::process_start;
use kiln::engine::store::{ServiceRecord, Store};
use kiln::engine::untrusted;

use super::{Context, Format, output};

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Include services that have ended
    #[arg(long)]
    all: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StopArgs {
    /// The service id (see `kiln services`)
    service: i64,
    /// How long to wait for it to stop
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    wait: kiln::engine::sandbox::HumanDuration,
}

/// Whether the kiln process that owns `s` is still the one recorded.
fn owner_alive(s: &ServiceRecord) -> bool {
    process_start(s.pid).is_some_and(|t| s.pid_start.is_none_or(|r| r == t))
}

fn running(s: &ServiceRecord) -> bool {
    matches!(s.status.as_str(), "starting" | "up")
}

/// Marks services whose owner died as failed, so listings tell the truth.
fn reap_orphans(store: &Store, services: &mut [ServiceRecord]) {
    for s in services
        .iter_mut()
        .filter(|s| running(s) && !owner_alive(s))
    {
        let why = "kiln exited; the service died with it";
        if store.service_ended(s.id, None, Some(why)).is_ok() {
            s.status = "failed".into();
            s.error = Some(why.into());
        }
    }
}

pub(crate) fn list(ctx: &Context, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let mut services = store.services(args.all, 100)?;
    reap_orphans(&store, &mut services);
    if !args.all {
        services.retain(running);
    }
    match ctx.format {
        Format::Json => output::print_json(&services)?,
        Format::Human => {
            if services.is_empty() {
                println!(
                    "no services running (kiln serve PATH starts one; --all lists ended ones)"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = services
                .iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.status.clone(),
                        s.url.clone(),
                        s.pid.to_string(),
                        output::time(s.started_at),
                        untrusted::inert(&s.dir.to_string_lossy()).into_owned(),
                        s.exit_code.map_or_else(String::new, |c| c.to_string()),
                    ]
                })
                .collect();
            output::print_table(
                &["ID", "STATUS", "URL", "PID", "STARTED", "DIR", "EXIT"],
                &rows,
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop(ctx: &Context, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let s = store.service(args.service)?;
    if !running(&s) {
        eprintln!("service {} is not running (it is {})", s.id, s.status);
        return Ok(ExitCode::from(1));
    }
    if !owner_alive(&s) {
        reap_orphans(&store, &mut [s.clone()]);
        println!("service {} was already gone (its kiln exited)", s.id);
        return Ok(ExitCode::SUCCESS);
    }
    let pid =
        nix::unistd::Pid::from_raw(i32::try_from(s.pid).context("recorded pid out of range")?);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).with_context(|| {
        format!(
            "cannot signal kiln process {} that owns service {}",
            s.pid, s.id
        )
    })?;
    let deadline = Instant::now() + args.wait.0;
    while Instant::now() < deadline {
        if !running(&store.service(s.id)?) {
            println!("service {} stopped", s.id);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!(
        "service {} did not stop within {}; its kiln process is {} (kill it to stop the service)",
        s.id,
        humantime::format_duration(args.wait.0),
        s.pid
    )
}
