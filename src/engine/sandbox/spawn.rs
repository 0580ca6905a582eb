//! Spawns the init program: a clean environment, its own process group, piped stdin (spec, then
//! lifeline), stdout and stderr, and the write end of the report pipe as fd 3.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use super::{Error, INIT_ARG, io_err};

/// A started init and the engine's ends of its pipes.
pub(super) struct Spawned {
    pub(super) child: Child,
    /// The spec goes here first; then it stays open until the engine wants the run stopped.
    pub(super) lifeline: ChildStdin,
    pub(super) stdout: ChildStdout,
    pub(super) stderr: ChildStderr,
    /// Read end of the report pipe (pid 1's JSON report).
    pub(super) report: OwnedFd,
}

pub(super) fn spawn_init(program: &Path) -> Result<Spawned, Error> {
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| io_err("create the report pipe")(e.into()))?;
    let report_w_raw = report_w.as_raw_fd();
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(INIT_ARG)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: runs in the forked child before exec; dup2 and fcntl are async-signal-safe
    // and touch only fds.
    unsafe {
        cmd.pre_exec(move || {
            if report_w_raw == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(report_w_raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        program: program.to_path_buf(),
        source,
    })?;
    drop(report_w);
    #[allow(
        clippy::expect_used,
        reason = "the command was built with all three pipes"
    )]
    let lifeline = child.stdin.take().expect("stdin is piped");
    #[allow(
        clippy::expect_used,
        reason = "the command was built with all three pipes"
    )]
    let stdout = child.stdout.take().expect("stdout is piped");
    #[allow(
        clippy::expect_used,
        reason = "the command was built with all three pipes"
    )]
    let stderr = child.stderr.take().expect("stderr is piped");
    Ok(Spawned {
        child,
        lifeline,
        stdout,
        stderr,
        report: report_r,
    })
}
