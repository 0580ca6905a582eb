//! The supervising task of one run: sends the spec, then waits for the init while watching
//! cancellation, the output cap and a backstop deadline; afterwards drains the readers, reads
//! pid 1's report and the cgroup counters, removes the cgroup and builds the [`Outcome`].
//! Deciding which limit ended the run is the pure [`classify_limit`].

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Error;
use super::cgroup::{Cgroup, Stats};
use super::outcome::{Limit, MemoryEnforcement, Outcome, Phases, Termination};
use super::output::{Counters, Shared};
use super::run::{Isolation, no_isolation_error};
use super::rundir::RunDir;
use super::spec::Report;

/// How long past the timeout the engine waits for the sandbox's own pid 1 before killing it.
const BACKSTOP: Duration = Duration::from_secs(5);

/// Everything the supervising task owns; [`Supervisor::run`] consumes it.
pub(super) struct Supervisor {
    /// Removed when the run is over (after the init and everything in it are gone).
    pub(super) rundir: RunDir,
    pub(super) cgroup: Cgroup,
    pub(super) child: Child,
    pub(super) lifeline: ChildStdin,
    /// The spec as one JSON line.
    pub(super) spec_line: Vec<u8>,
    pub(super) readers: [JoinHandle<()>; 2],
    pub(super) report: JoinHandle<Option<Report>>,
    pub(super) shared: Arc<Shared>,
    pub(super) cancel: CancellationToken,
    pub(super) started: Instant,
    /// Time spent before and in spawning the init (for [`Phases`]).
    pub(super) prepare: Duration,
    pub(super) spawn: Duration,
    pub(super) timeout: Duration,
    pub(super) cpu_limit: Duration,
    pub(super) isolation: Isolation,
    pub(super) memory_enforcement: MemoryEnforcement,
    pub(super) pids_enforcement: MemoryEnforcement,
}

impl Supervisor {
    pub(super) async fn run(self) -> Result<Outcome, Error> {
        let Self {
            rundir,
            mut cgroup,
            mut child,
            mut lifeline,
            spec_line,
            readers,
            report,
            shared,
            cancel,
            started,
            prepare,
            spawn,
            timeout,
            cpu_limit,
            isolation,
            memory_enforcement,
            pids_enforcement,
        } = self;
        let setup = async {
            lifeline.write_all(&spec_line).await?;
            lifeline.flush().await
        };
        if let Err(e) = setup.await {
            tracing::warn!("cannot send the spec to the sandbox init: {e}");
        }
        let mut user_cancelled = false;
        let backstop = tokio::time::sleep(timeout + BACKSTOP);
        tokio::pin!(backstop);
        let mut lifeline = Some(lifeline);
        loop {
            tokio::select! {
                _ = child.wait() => break,
                () = cancel.cancelled(), if lifeline.is_some() => {
                    user_cancelled = true;
                    lifeline = None; // pid 1 sees the hang-up, kills and reports
                }
                () = shared.capped.notified(), if lifeline.is_some() => {
                    lifeline = None;
                }
                () = &mut backstop => {
                    tracing::warn!("sandbox pid 1 missed its deadline; killing the init");
                    let _ = child.start_kill();
                    lifeline = None;
                }
            }
        }
        drop(lifeline);
        let wall = started.elapsed();
        let exited = Instant::now();
        // Everything is dead; only an escaped process (no isolation) could hold the pipes.
        for reader in readers {
            let abort = reader.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), reader)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        let report = report.await.ok().flatten().unwrap_or_default();
        let cg_stats = cgroup.stats();
        tokio::task::spawn_blocking(move || cgroup.destroy())
            .await
            .ok();
        if let Some(error) = report.error {
            return Err(if report.no_namespaces {
                no_isolation_error(error)
            } else {
                Error::Setup(error)
            });
        }
        let counters = std::mem::take(&mut *shared.lock());
        let limit = classify_limit(&report, &counters, &cg_stats, cpu_limit);
        let us = |d: Duration| d.as_micros() as u64;
        let phases = Phases {
            prepare_us: us(prepare),
            spawn_us: us(spawn),
            setup_us: report.setup_us,
            sandbox_us: us(wall),
            teardown_us: us(exited.elapsed()),
        };
        Ok(Outcome {
            termination: termination(&report),
            limit,
            cancelled: user_cancelled || (report.cancelled && !counters.capped),
            wall_ms: wall.as_millis() as u64,
            user_ms: report.user_us / 1000,
            sys_ms: report.sys_us / 1000,
            setup_ms: report.setup_us / 1000,
            max_rss_kb: report.max_rss_kb,
            stdout_bytes: counters.stdout_bytes,
            stderr_bytes: counters.stderr_bytes,
            lines: counters.lines,
            bytes_dropped: counters.dropped,
            memory_enforcement,
            pids_enforcement,
            isolation,
            landlock: report.landlock,
            workdir: rundir.workdir.clone(),
            phases,
        })
    }
}

/// How the program ended according to pid 1; no status at all means it was killed.
fn termination(report: &Report) -> Termination {
    match (report.exit_code, report.signal) {
        (Some(c), _) => Termination::Exited(c),
        (None, Some(s)) => Termination::Signaled(s),
        (None, None) => Termination::Signaled(libc::SIGKILL),
    }
}

/// Which limit ended (or, for pids and disk, hampered) the run, from pid 1's report, the output
/// counters and the cgroup's counters. The order matters: a timeout or the output cap explains
/// a SIGKILL before CPU time does, and an OOM kill before a full disk.
pub(super) fn classify_limit(
    report: &Report,
    counters: &Counters,
    stats: &Stats,
    cpu_limit: Duration,
) -> Option<Limit> {
    let termination = termination(report);
    let cpu_used = Duration::from_micros(report.user_us + report.sys_us);
    let killed_by = |sig: i32| termination == Termination::Signaled(sig);
    if report.timed_out {
        Some(Limit::Timeout)
    } else if counters.capped {
        Some(Limit::Output)
    } else if report.cpu_exceeded
        || killed_by(libc::SIGXCPU)
        || (killed_by(libc::SIGKILL) && cpu_used >= cpu_limit)
    {
        Some(Limit::Cpu)
    } else if stats.oom_kills > 0 {
        Some(Limit::Memory)
    } else if report.disk_full {
        Some(Limit::Disk)
    } else if stats.pids_max_hits > 0 {
        Some(Limit::Pids)
    } else {
        None
    }
}

/// Reads pid 1's report (blocking: run it off the async threads).
pub(super) fn read_report(fd: OwnedFd) -> Option<Report> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: Duration = Duration::from_secs(1);

    fn exited(code: i32) -> Report {
        Report {
            exit_code: Some(code),
            ..Report::default()
        }
    }

    fn signaled(sig: i32, cpu_us: u64) -> Report {
        Report {
            signal: Some(sig),
            user_us: cpu_us,
            ..Report::default()
        }
    }

    fn classify(report: &Report) -> Option<Limit> {
        classify_limit(report, &Counters::default(), &Stats::default(), CPU)
    }

    #[test]
    fn a_clean_exit_hit_no_limit() {
        assert_eq!(classify(&exited(0)), None);
        assert_eq!(classify(&exited(3)), None);
        assert_eq!(classify(&signaled(libc::SIGSEGV, 5_000_000)), None);
    }

    #[test]
    fn timeout_and_output_cap_explain_a_kill_before_cpu() {
        let mut r = signaled(libc::SIGKILL, 2_000_000);
        r.timed_out = true;
        assert_eq!(classify(&r), Some(Limit::Timeout));
        let capped = Counters {
            capped: true,
            ..Counters::default()
        };
        let r = signaled(libc::SIGKILL, 2_000_000);
        assert_eq!(
            classify_limit(&r, &capped, &Stats::default(), CPU),
            Some(Limit::Output)
        );
    }

    #[test]
    fn cpu_is_sigxcpu_or_a_kill_after_the_budget() {
        assert_eq!(classify(&signaled(libc::SIGXCPU, 0)), Some(Limit::Cpu));
        assert_eq!(
            classify(&signaled(libc::SIGKILL, 1_000_000)),
            Some(Limit::Cpu)
        );
        // A kill well under the budget is someone else's doing (e.g. the OOM killer).
        assert_eq!(classify(&signaled(libc::SIGKILL, 10_000)), None);
        // Killed with no status at all counts as SIGKILL.
        let mut r = Report {
            user_us: 1_500_000,
            ..Report::default()
        };
        assert_eq!(classify(&r), Some(Limit::Cpu));
        r.user_us = 0;
        assert_eq!(classify(&r), None);
    }

    #[test]
    fn the_whole_runs_cpu_budget_counts_after_a_timeout() {
        let mut r = signaled(libc::SIGKILL, 100);
        r.cpu_exceeded = true;
        assert_eq!(classify(&r), Some(Limit::Cpu));
        r.timed_out = true;
        assert_eq!(classify(&r), Some(Limit::Timeout));
    }

    #[test]
    fn memory_then_disk_then_pids() {
        let stats = Stats {
            oom_kills: 1,
            pids_max_hits: 1,
            ..Stats::default()
        };
        let mut r = signaled(libc::SIGKILL, 0);
        r.disk_full = true;
        let none = Counters::default();
        assert_eq!(classify_limit(&r, &none, &stats, CPU), Some(Limit::Memory));
        let pids_only = Stats {
            pids_max_hits: 2,
            ..Stats::default()
        };
        assert_eq!(
            classify_limit(&r, &none, &pids_only, CPU),
            Some(Limit::Disk)
        );
        assert_eq!(
            classify_limit(&exited(1), &none, &pids_only, CPU),
            Some(Limit::Pids)
        );
    }
}
