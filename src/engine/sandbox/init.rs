//! The sandbox init: the process the engine spawns, its pid-1 child and the program's last steps
//! before `execve`.
//!
//! It runs single-threaded in a fresh process (`kiln __sandbox-init`), so `fork` is safe and
//! ordinary Rust may run in the children. Protocol: the spec arrives as one JSON line on stdin,
//! which then stays open as a lifeline (EOF or any byte = cancel); the report leaves on fd 3.
//! Stdout and stderr are the engine's output pipes and pass straight to the program.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, UsageWho, getrusage, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork};

use super::seccomp;
use super::spec::{InitSpec, Mode, Report, WorkdirKind};

/// The hidden first argument that makes the `kiln` binary act as the sandbox init.
pub const INIT_ARG: &str = "__sandbox-init";

/// The fd the report is written to.
const REPORT_FD: RawFd = 3;

/// Unprivileged host uid/gid the program runs as when kiln itself runs as root.
const NOBODY: u32 = 65534;

/// System directories bound read-only into every sandbox (symlinks are recreated as symlinks).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The subset of `/etc` programs need; `passwd`, `group`, `hosts` and `hostname` are written fresh.
const ETC_ENTRIES: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "protocols",
    "services",
    "ssl",
    "timezone",
    "debian_version",
];

/// Runs the sandbox init and exits. Call it first thing in `main` (before any thread starts)
/// when the first argument is [`INIT_ARG`].
pub fn init_main() -> ! {
    // SAFETY: the engine dup2()s the report pipe onto fd 3 before exec; nothing else in this
    // fresh process owns fd 3. If fd 3 is not open (someone ran us by hand), writes just fail.
    let report_fd = unsafe { OwnedFd::from_raw_fd(REPORT_FD) };
    let code = match outer(&report_fd) {
        Ok(code) => code,
        Err((msg, no_namespaces)) => {
            send_report(
                &report_fd,
                &Report {
                    error: Some(msg),
                    no_namespaces,
                    ..Report::default()
                },
            );
            125
        }
    };
    std::process::exit(code)
}

type SetupResult<T> = Result<T, (String, bool)>;

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> (String, bool) + '_ {
    move |e| (format!("{what}: {e}"), false)
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
        staged = stage_host_paths(&spec)?;
        match drop_root() {
            Ok(()) => {}
            // Root of a container's user namespace is not host root: when that namespace cannot
            // switch to 65534, going on as its root still maps to an unprivileged host uid.
            Err(e) if !in_initial_user_namespace() => {
                tracing::debug!("staying namespace root: {e}");
            }
            Err(e) => return Err(fail("drop root to uid 65534")(e)),
        }
    }
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| {
        (
            format!("cannot create a user namespace as uid {uid}: {e}"),
            true,
        )
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
    .map_err(|e| (format!("cannot create namespaces: {e}"), true))?;

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

/// Whether this process is in the host's user namespace (identity map of every uid).
fn in_initial_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
}

/// Pid 1 of the new pid namespace: builds the root, starts the program, supervises it.
fn pid1(
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

/// Waits for the program, enforcing the wall-clock timeout and the lifeline, then kills and
/// reaps everything left and collects resource usage.
fn supervise(payload: Pid, spec: &InitSpec, lifeline: BorrowedFd<'_>, mode: Mode) -> Report {
    let mut report = Report::default();
    let deadline = Instant::now() + Duration::from_millis(spec.timeout_ms);
    let pidfd = pidfd_open(payload);
    let mut status = None;
    while status.is_none() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            report.timed_out = true;
            break;
        }
        let wait_ms = remaining.min(Duration::from_millis(250)).as_millis() as u16;
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

/// The Landlock ABI version the kernel offers, if any.
pub(super) fn landlock_abi() -> Option<i64> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attr, size 0 and the VERSION flag the call only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v)
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

// ------------------------------------------------------------------------------ the new root

fn inside(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn mnt(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(src, dst, fstype, flags, data).map_err(|e| {
        format!(
            "mount {} on '{}': {e}",
            src.map_or_else(
                || fstype.unwrap_or("-").to_owned(),
                |s| s.display().to_string()
            ),
            dst.display()
        )
    })
}

/// Flags a bind remount must keep: the kernel refuses to clear locked ones in a user namespace.
fn locked_flags(p: &Path) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(s) = statvfs(p) {
        let have = s.flags();
        for (st, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if have.contains(st) {
                f |= ms;
            }
        }
    }
    f
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadOnly,
    ReadWrite,
}

/// Binds host path `src` at `dst`, creating the mount point; skips a missing `src`.
fn bind(src: &Path, dst: &Path, access: Access) -> Result<(), String> {
    let Ok(meta) = fs::metadata(src) else {
        return Ok(());
    };
    if meta.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dst)
            .map_err(|e| format!("mkdir '{}': {e}", dst.display()))?;
    } else if !dst.exists() {
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("mkdir '{}': {e}", parent.display()))?;
        }
        File::create(dst).map_err(|e| format!("create '{}': {e}", dst.display()))?;
    }
    mnt(Some(src), dst, None, MsFlags::MS_BIND, None)?;
    if access == Access::ReadOnly {
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | locked_flags(dst);
        mnt(None, dst, None, flags, None)?;
    }
    Ok(())
}

fn tmpfs(dst: &Path, mode: u32, size: u64, flags: MsFlags) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .create(dst)
        .map_err(|e| format!("mkdir '{}': {e}", dst.display()))?;
    let data = format!("mode={mode:o},size={size}");
    mnt(
        Some(Path::new("tmpfs")),
        dst,
        Some("tmpfs"),
        flags,
        Some(&data),
    )
}

/// As root, before dropping to uid 65534: binds every host path the run needs under the run
/// directory (in a private mount namespace), so the unprivileged init can reach paths that only
/// root may traverse, such as a toolchain under `/root`. Returns (host path, staged path) pairs.
fn stage_host_paths(spec: &InitSpec) -> SetupResult<Vec<(PathBuf, PathBuf)>> {
    let mut paths: Vec<&PathBuf> = spec.ro.iter().chain(&spec.rw).collect();
    if spec.workdir_kind == WorkdirKind::HostBind {
        paths.push(&spec.workdir);
    }
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    unshare(CloneFlags::CLONE_NEWNS).map_err(fail("unshare mount namespace"))?;
    let none: Option<&Path> = None;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(|e| (e, false))?;
    let stage = spec.root_dir.with_file_name("stage");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&stage)
        .map_err(fail("create the staging directory"))?;
    let mut staged = Vec::new();
    for (i, p) in paths.into_iter().enumerate() {
        let dst = stage.join(i.to_string());
        if fs::metadata(p).is_ok_and(|m| m.is_dir()) {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&dst)
                .map_err(fail("create a staging directory"))?;
        } else {
            File::create(&dst).map_err(fail("create a staging file"))?;
        }
        mnt(
            Some(p),
            &dst,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(|e| (e, false))?;
        staged.push((p.clone(), dst));
    }
    Ok(staged)
}

fn build_root(spec: &InitSpec, staged: &[(PathBuf, PathBuf)]) -> Result<(), String> {
    let source = |p: &Path| -> PathBuf {
        staged
            .iter()
            .find(|(host, _)| host == p)
            .map_or_else(|| p.to_path_buf(), |(_, s)| s.clone())
    };
    let none: Option<&Path> = None;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    let root = spec.root_dir.as_path();
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    tmpfs(root, 0o755, 16 << 20, safe)?;

    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        match fs::symlink_metadata(host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(host).map_err(|e| format!("readlink {dir}: {e}"))?;
                symlink(&target, inside(root, host)).map_err(|e| format!("symlink {dir}: {e}"))?;
            }
            Ok(_) => bind(host, &inside(root, host), Access::ReadOnly)?,
            Err(_) => {}
        }
    }

    let etc = root.join("etc");
    fs::create_dir_all(&etc).map_err(|e| format!("mkdir etc: {e}"))?;
    for entry in ETC_ENTRIES {
        bind(
            &Path::new("/etc").join(entry),
            &etc.join(entry),
            Access::ReadOnly,
        )?;
    }
    if let Ok(dir) = fs::read_dir("/etc") {
        for e in dir.flatten() {
            let name = e.file_name();
            if name.to_str().is_some_and(|n| n.starts_with("python3")) {
                bind(&e.path(), &etc.join(&name), Access::ReadOnly)?;
            }
        }
    }
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let files = [
        (
            "passwd",
            format!(
                "root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{gid}:kiln sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            ),
        ),
        (
            "group",
            format!("root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n"),
        ),
        (
            "hosts",
            "127.0.0.1 localhost kiln-sandbox\n::1 localhost\n".to_owned(),
        ),
        ("hostname", "kiln-sandbox\n".to_owned()),
    ];
    for (name, content) in files {
        fs::write(etc.join(name), content).map_err(|e| format!("write /etc/{name}: {e}"))?;
    }

    let dev = root.join("dev");
    tmpfs(
        &dev,
        0o755,
        64 << 10,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
    )?;
    for node in ["null", "zero", "full", "random", "urandom"] {
        bind(
            &Path::new("/dev").join(node),
            &dev.join(node),
            Access::ReadWrite,
        )?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).map_err(|e| format!("symlink /dev/{link}: {e}"))?;
    }
    tmpfs(&dev.join("shm"), 0o1777, spec.disk_bytes, safe)?;

    let proc = root.join("proc");
    fs::create_dir_all(&proc).map_err(|e| format!("mkdir proc: {e}"))?;
    mnt(
        Some(Path::new("proc")),
        &proc,
        Some("proc"),
        safe | MsFlags::MS_NOEXEC,
        None,
    )?;
    // Kernel settings stay read-only even where the namespace's root could write them.
    for p in ["sys", "sysrq-trigger"] {
        let p = proc.join(p);
        if p.exists() {
            mnt(Some(&p), &p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
            let flags = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | locked_flags(&p)
                | safe
                | MsFlags::MS_NOEXEC;
            mnt(none, &p, None, flags, None)?;
        }
    }

    tmpfs(&root.join("tmp"), 0o1777, spec.disk_bytes, safe)?;

    // Parents before children, so a nested path is mounted on top of its parent's mount.
    let mut binds: Vec<(&Path, Option<Access>)> = Vec::new();
    binds.extend(
        spec.ro
            .iter()
            .map(|p| (p.as_path(), Some(Access::ReadOnly))),
    );
    binds.extend(
        spec.rw
            .iter()
            .map(|p| (p.as_path(), Some(Access::ReadWrite))),
    );
    binds.push((
        spec.workdir.as_path(),
        match spec.workdir_kind {
            WorkdirKind::HostBind => Some(Access::ReadWrite),
            WorkdirKind::FreshTmpfs => None,
        },
    ));
    binds.sort_by_key(|(p, _)| p.components().count());
    for (p, access) in binds {
        let dst = inside(root, p);
        match access {
            Some(access) => bind(&source(p), &dst, access)?,
            None => tmpfs(&dst, 0o755, spec.disk_bytes, safe)?,
        }
    }

    nix::unistd::chdir(root).map_err(|e| format!("chdir new root: {e}"))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach old root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | safe,
        None,
    )?;
    Ok(())
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

// ------------------------------------------------------------------------------ the program

/// Last steps in the program's process, then `execve`. Never returns: on failure it prints why
/// on stderr and exits 127 (not found) or 126 (cannot run), like a shell.
fn exec_program(spec: &InitSpec, mode: Mode) -> ! {
    let err = prepare_and_exec(spec, mode);
    let code = if err.0 == Errno::ENOENT { 127 } else { 126 };
    let _ = writeln!(
        std::io::stderr(),
        "kiln sandbox: cannot run '{}': {}",
        spec.argv.first().map_or("", String::as_str),
        err.1
    );
    // SAFETY: _exit skips atexit handlers and stdio flushing, which belong to the parent image.
    unsafe { libc::_exit(code) }
}

fn prepare_and_exec(spec: &InitSpec, mode: Mode) -> (Errno, String) {
    macro_rules! tri {
        ($e:expr, $what:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => return (e, format!("{}: {}", $what, e)),
            }
        };
    }
    tri!(nix::unistd::setsid(), "setsid");
    // Ignored signals stay ignored across execve, and the Rust runtime of this binary ignores
    // SIGPIPE: give the program default dispositions and an empty signal mask.
    // The raw call also reaches the real-time signals glibc reserves (32, 33).
    let default_action = [0u64; 4]; // SIG_DFL, no flags, no restorer, empty mask
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction reads a zeroed kernel sigaction (SIG_DFL) that outlives the
            // call and writes nothing (null old action); sigset size is 8 bytes.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default_action.as_ptr(),
                    std::ptr::null::<u64>(),
                    8usize,
                );
            }
        }
    }
    tri!(
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None
        ),
        "sigprocmask"
    );
    let cpu = spec.cpu_secs.max(1);
    let mut limits = vec![
        (Resource::RLIMIT_CORE, 0, 0),
        (Resource::RLIMIT_CPU, cpu, cpu + 1),
        (Resource::RLIMIT_NOFILE, spec.open_files, spec.open_files),
        (Resource::RLIMIT_FSIZE, spec.disk_bytes, spec.disk_bytes),
    ];
    if let Some(n) = spec.rlimit_as {
        limits.push((Resource::RLIMIT_AS, n, n));
    }
    if let Some(n) = spec.rlimit_nproc {
        limits.push((Resource::RLIMIT_NPROC, n, n));
    }
    for (res, soft, hard) in limits {
        tri!(setrlimit(res, soft, hard), format!("setrlimit {res:?}"));
    }
    tri!(
        nix::unistd::chdir(&spec.workdir),
        format!("chdir '{}'", spec.workdir.display())
    );
    // SAFETY: close_range only closes fds; nothing in this process uses fds >= 3 after this
    // point except the ones opened below (Landlock, seccomp), which are opened afterwards.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            REPORT_FD as libc::c_uint,
            libc::c_uint::MAX,
            0,
        );
    }
    let cstr = |s: &str| CString::new(s).map_err(|_| Errno::EINVAL);
    let argv: Vec<CString> = tri!(
        spec.argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>(),
        "argument with a NUL byte"
    );
    let env: Vec<CString> = tri!(
        spec.env
            .iter()
            .map(|(k, v)| cstr(&format!("{k}={v}")))
            .collect::<Result<_, _>>(),
        "environment with a NUL byte"
    );
    let path_var = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("/usr/local/bin:/usr/bin:/bin", |(_, v)| v.as_str());
    let Some(program) = resolve(&spec.argv[0], path_var) else {
        return (Errno::ENOENT, "not found in PATH".to_owned());
    };
    let program = tri!(cstr(&program.to_string_lossy()), "program path");
    tri!(nix::sys::prctl::set_no_new_privs(), "no_new_privs");
    if mode == Mode::Isolated {
        let mut writable: Vec<&Path> = vec![Path::new("/tmp"), Path::new("/dev")];
        writable.push(&spec.workdir);
        writable.extend(spec.rw.iter().map(PathBuf::as_path));
        if let Err(e) = apply_landlock(&writable) {
            return (Errno::EPERM, format!("landlock: {e}"));
        }
        tri!(drop_capabilities(), "drop capabilities");
        if let Err(e) = seccomp::apply() {
            return (Errno::EPERM, format!("seccomp: {e}"));
        }
    }
    match nix::unistd::execve(&program, &argv, &env) {
        Err(e) => (e, e.desc().to_owned()),
        Ok(never) => match never {},
    }
}

fn resolve(program: &str, path_var: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| {
            fs::metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
}

fn apply_landlock(writable: &[&Path]) -> Result<(), landlock::RulesetError> {
    use landlock::{
        ABI, Access as _, AccessFs, Ruleset, RulesetAttr as _, RulesetCreatedAttr as _,
        path_beneath_rules,
    };
    let abi = ABI::V5;
    Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))?
        .add_rules(path_beneath_rules(writable, AccessFs::from_all(abi)))?
        .restrict_self()?;
    Ok(())
}

fn drop_capabilities() -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only; EINVAL past the last capability is fine.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let mut header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a v3 header and two data structs, which live for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
    if rc < 0 { Err(Errno::last()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_searches_path() {
        assert_eq!(resolve("/x/y", ""), Some(PathBuf::from("/x/y")));
        assert_eq!(
            resolve("sh", "/nonexistent:/bin"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(resolve("no-such-program-kiln", "/bin"), None);
    }
}
