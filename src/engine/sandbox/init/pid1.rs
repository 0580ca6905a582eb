//! Pid 1 of the sandbox's pid namespace: brings up loopback, builds the new root, forks the
//! program, then supervises it: enforces the wall-clock timeout and the lifeline, reaps every
//! child, kills whatever is left when the program ends and collects resource usage.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, kill};
use nix::sys::statvfs::statvfs;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use super::super::spec::{InitSpec, Mode, Report, WorkdirKind};
use super::exec::{exec_program, landlock_abi};
use super::newroot::build_root;

/// Pid 1 of the new pid namespace: builds the root, starts the program, supervises it.
pub(super) fn pid1(
    spec: &InitSpec,
    staged: &[(PathBuf, PathBuf)],
    lifeline: BorrowedFd<'_>,
    started: Instant,
) -> Result<Report, String> {
    nix::unistd::sethostname("kiln-sandbox").map_err(|e| format!("sethostname: {e}"))?;
    loopback_up().map_err(|e| format!("cannot bring up loopback: {e}"))?;
    build_root(spec, staged)?;
    let setup_us = started.elapsed().as_micros() as u64;
    // SAFETY: pid 1 is single-threaded (forked from the single-threaded init).
    let payload = match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => exec_program(spec, Mode::Isolated),
        ForkResult::Parent { child } => child,
    };
    let mut report = supervise(payload, spec, lifeline, Mode::Isolated);
    report.setup_us = setup_us;
    report.landlock = landlock_abi().map_or_else(|| "none".into(), |v| format!("abi {v}"));
    Ok(report)
}

/// CPU time past the whole-run budget before pid 1 kills the run.
const CPU_GRACE_US: u64 = 200_000;

/// CPU time of the whole run so far: what pid 1 has reaped, plus every live (or unreaped)
/// process's own time and its reaped children's, from this pid namespace's `/proc`.
fn run_cpu_us() -> u64 {
    let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
    let reaped =
        getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |u| us(u.user_time()) + us(u.system_time()));
    // SAFETY: sysconf only reads a configuration value.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    };
    let Ok(dir) = fs::read_dir("/proc") else {
        return reaped;
    };
    let ticks: u64 = dir
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            if pid == 1 {
                return None; // pid 1's own time is not the program's
            }
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // Fields after the parenthesised command start at field 3 (state); utime is 14,
            // stime 15, cutime 16, cstime 17.
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<u64> = rest
                .split(' ')
                .skip(11)
                .take(4)
                .filter_map(|v| v.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .sum();
    reaped + ticks * 1_000_000 / hz
}

/// Waits for the program, enforcing the wall-clock timeout and the lifeline, then kills and
/// reaps everything left and collects resource usage.
pub(super) fn supervise(
    payload: Pid,
    spec: &InitSpec,
    lifeline: BorrowedFd<'_>,
    mode: Mode,
) -> Report {
    let mut report = Report::default();
    let deadline = Instant::now() + Duration::from_millis(spec.timeout_ms);
    // The whole run's CPU budget needs this namespace's /proc, so isolated runs only; the
    // per-process RLIMIT_CPU applies everywhere. The grace lets RLIMIT_CPU (SIGXCPU) speak
    // first for a single busy process.
    let cpu_budget_us = (mode == Mode::Isolated).then(|| spec.cpu_ms * 1000 + CPU_GRACE_US);
    let tick = if cpu_budget_us.is_some() { 100 } else { 250 };
    let pidfd = pidfd_open(payload);
    let mut status = None;
    while status.is_none() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            report.timed_out = true;
            break;
        }
        let wait_ms = remaining.min(Duration::from_millis(tick)).as_millis() as u16;
        let mut fds = vec![PollFd::new(lifeline, PollFlags::POLLIN)];
        if let Some(fd) = &pidfd {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, PollTimeout::from(wait_ms));
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            report.cancelled = true;
            break;
        }
        status = reap(payload);
        if status.is_none() && cpu_budget_us.is_some_and(|budget| run_cpu_us() >= budget) {
            report.cpu_exceeded = true;
            break;
        }
    }
    kill_everything(payload, mode);
    while status.is_none() {
        match waitpid(payload, None) {
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => status = Some(s),
            Err(Errno::EINTR) | Ok(_) => {}
            Err(_) => break,
        }
    }
    // Reap whatever else is left (orphans reparented to us).
    while let Ok(s) = waitpid(None, None) {
        let _ = s;
    }
    match status {
        Some(WaitStatus::Exited(_, code)) => report.exit_code = Some(code),
        Some(WaitStatus::Signaled(_, sig, _)) => report.signal = Some(sig as i32),
        _ => {}
    }
    if spec.mode == Mode::Isolated {
        let full = |p: &Path| statvfs(p).is_ok_and(|s| s.blocks_available() == 0);
        report.disk_full = full(Path::new("/tmp"))
            || (spec.workdir_kind == WorkdirKind::FreshTmpfs && full(&spec.workdir));
    }
    if let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) {
        let us = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64;
        report.user_us = us(usage.user_time());
        report.sys_us = us(usage.system_time());
        report.max_rss_kb = usage.max_rss() as u64;
    }
    report
}

/// Reaps every exited child without blocking; returns the program's status once it exited.
fn reap(payload: Pid) -> Option<WaitStatus> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(s) if s.pid() == Some(payload) => {
                if matches!(s, WaitStatus::Exited(..) | WaitStatus::Signaled(..)) {
                    found = Some(s);
                }
            }
            Ok(_) => {}
        }
    }
}

fn kill_everything(payload: Pid, mode: Mode) {
    match mode {
        // As pid 1, kill(-1) reaches every other process of the namespace.
        Mode::Isolated => {
            let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
        }
        // Without a pid namespace: the program's session, then any orphan reparented to us
        // (we are a subreaper), repeatedly until none is left.
        Mode::Unisolated => {
            let _ = kill(Pid::from_raw(-payload.as_raw()), Signal::SIGKILL);
            for _ in 0..50 {
                let kids = children_of(nix::unistd::getpid());
                if kids.is_empty() {
                    break;
                }
                for k in kids {
                    let _ = kill(k, Signal::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(10));
                let _ = reap(payload);
            }
        }
    }
}

fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(e.path().join("stat")).ok()?;
        // Fields after the parenthesised command: state, ppid, ...
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split(' ');
        let state = fields.next()?;
        let parent_pid: i32 = fields.next()?.parse().ok()?;
        (parent_pid == parent.as_raw() && state != "Z").then_some(Pid::from_raw(pid))
    })
    .collect()
}

fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    // SAFETY: a non-negative return is a fresh fd owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags of the interface named in ifr into ifr.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds flags.
    unsafe {
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads ifr, which names "lo" and holds valid flags.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
