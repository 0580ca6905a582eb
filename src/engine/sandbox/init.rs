//! The sandbox init: the process the engine spawns. It reads the spec, joins the cgroup, drops
//! host root, creates the namespaces and forks pid 1 ([`pid1`]), which builds the new root
//! ([`newroot`]) and forks the program ([`exec`]).
//!
//! It runs single-threaded in a fresh process (`kiln __sandbox-init`), so `fork` is safe and
//! ordinary Rust may run in the children. Protocol: the spec arrives as one JSON line on stdin,
//! which then stays open as a lifeline (EOF or any byte = cancel); the report leaves on fd 3.
//! Stdout and stderr are the engine's output pipes and pass straight to the program.

mod exec;
mod newroot;
mod pid1;

use std::fs::{self, File};
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid, fork};

use super::spec::{InitSpec, Mode, Report};
use exec::exec_program;
pub(super) use exec::landlock_abi;
use pid1::{pid1, supervise};

/// The hidden first argument that makes the `kiln` binary act as the sandbox init.
pub const INIT_ARG: &str = "__sandbox-init";

/// The fd the report is written to.
pub(super) const REPORT_FD: RawFd = 3;

use super::ownership::NOBODY;

/// Runs the sandbox init and exits. Call it first thing in `main` (before any thread starts)
/// when the first argument is [`INIT_ARG`].
pub fn init_main() -> ! {
    // SAFETY: the engine dup2()s the report pipe onto fd 3 before exec; nothing else in this
    // fresh process owns fd 3. If fd 3 is not open (someone ran us by hand), writes just fail.
    let report_fd = unsafe { OwnedFd::from_raw_fd(REPORT_FD) };
    let code = match outer(&report_fd) {
        Ok(code) => code,
        Err(e) => {
            send_report(
                &report_fd,
                &Report {
                    no_namespaces: matches!(e, SetupError::NoNamespaces(_)),
                    error: Some(e.to_string()),
                    ..Report::default()
                },
            );
            125
        }
    };
    std::process::exit(code)
}

/// Why the init could not build the sandbox (reported to the engine; nothing ran).
#[derive(Debug, thiserror::Error)]
enum SetupError {
    /// The host lacks usable namespaces: the engine adds how to enable them.
    #[error("{0}")]
    NoNamespaces(String),
    /// Any other set-up step failed.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for SetupError {
    fn from(msg: String) -> Self {
        Self::Failed(msg)
    }
}

type SetupResult<T> = Result<T, SetupError>;

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> SetupError + '_ {
    move |e| SetupError::Failed(format!("{what}: {e}"))
}

fn outer(report_fd: &OwnedFd) -> SetupResult<i32> {
    let started = Instant::now();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(fail("cannot read the spec"))?;
    let spec: InitSpec = serde_json::from_str(&line).map_err(fail("invalid spec"))?;

    // Keep stdin as the lifeline on a high fd; the program gets /dev/null instead.
    let lifeline = nix::fcntl::fcntl(
        std::io::stdin().as_fd(),
        nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10),
    )
    .map_err(fail("dup lifeline"))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    let lifeline = unsafe { OwnedFd::from_raw_fd(lifeline) };
    redirect_stdin_to_null().map_err(fail("open /dev/null"))?;

    for procs in &spec.cgroup_procs {
        fs::write(procs, std::process::id().to_string())
            .map_err(fail(&format!("cannot join cgroup '{}'", procs.display())))?;
    }

    if spec.mode == Mode::Unisolated {
        nix::sys::prctl::set_child_subreaper(true).map_err(fail("subreaper"))?;
        // SAFETY: this process is single-threaded (init_main runs before any thread starts).
        let payload = match unsafe { fork() }.map_err(fail("fork"))? {
            ForkResult::Child => exec_program(&spec, Mode::Unisolated),
            ForkResult::Parent { child } => child,
        };
        let mut report = supervise(payload, &spec, lifeline.as_fd(), Mode::Unisolated);
        report.setup_us = started.elapsed().as_micros() as u64;
        send_report(report_fd, &report);
        return Ok(0);
    }

    // Never hand host root to the program: become an unprivileged host user before creating the
    // user namespace, so even its namespace root maps to nobody on the host.
    let mut staged = Vec::new();
    if nix::unistd::geteuid().is_root() {
        staged = newroot::stage_host_paths(&spec)?;
        match drop_root() {
            Ok(()) => {}
            // Root of a container's user namespace is not host root: when that namespace cannot
            // switch to 65534, going on as its root still maps to an unprivileged host uid.
            Err(e) if !super::run::in_initial_userns() => {
                tracing::debug!("staying namespace root: {e}");
            }
            Err(e) => return Err(fail("drop root to uid 65534")(e)),
        }
    }
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
        SetupError::NoNamespaces(format!("cannot create a user namespace as uid {uid}: {e}"))
    })?;
    fs::write("/proc/self/setgroups", "deny").map_err(fail("write setgroups"))?;
    fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n")).map_err(fail("write uid_map"))?;
    fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n")).map_err(fail("write gid_map"))?;
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWCGROUP,
    )
    .map_err(|e| SetupError::NoNamespaces(format!("cannot create namespaces: {e}")))?;

    let (alive_r, alive_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(fail("pipe"))?;
    // SAFETY: this process is single-threaded (init_main runs before any thread starts).
    match unsafe { fork() }.map_err(fail("fork pid 1"))? {
        ForkResult::Child => {
            drop(alive_w);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            // If the init died before PDEATHSIG was armed, the pipe already reports a hang-up.
            let mut fds = [PollFd::new(alive_r.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0 {
                std::process::exit(125);
            }
            let report = match pid1(&spec, &staged, lifeline.as_fd(), started) {
                Ok(report) => report,
                Err(msg) => Report {
                    error: Some(msg),
                    ..Report::default()
                },
            };
            send_report(report_fd, &report);
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            drop(alive_r);
            drop(lifeline);
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                    Err(Errno::EINTR) | Ok(_) => {}
                    Err(e) => return Err(fail("wait for pid 1")(e)),
                }
            }
        }
    }
}

fn drop_root() -> Result<(), Errno> {
    let gid = Gid::from_raw(NOBODY);
    let uid = Uid::from_raw(NOBODY);
    nix::unistd::setgroups(&[])?;
    nix::unistd::setresgid(gid, gid, gid)?;
    nix::unistd::setresuid(uid, uid, uid)?;
    // A uid change makes the process non-dumpable, which would make /proc/self/uid_map belong
    // to root and unwritable.
    nix::sys::prctl::set_dumpable(true)
}

fn send_report(fd: &OwnedFd, report: &Report) {
    let Ok(json) = serde_json::to_vec(report) else {
        return;
    };
    let Ok(dup) = fd.try_clone() else { return };
    let _ = File::from(dup).write_all(&json);
}

fn redirect_stdin_to_null() -> std::io::Result<()> {
    let null = File::open("/dev/null")?;
    // SAFETY: dup2 onto fd 0 with a valid source fd; fd 0's previous file was duplicated first.
    if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
