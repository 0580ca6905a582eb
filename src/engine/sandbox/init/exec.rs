//! The program's last steps before `execve`, in its own process: a new session, default signal
//! dispositions, rlimits, the working directory, closing every fd above 2, `no_new_privs`, then
//! (isolated runs) Landlock, dropping every capability and seccomp.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::resource::{Resource, setrlimit};

use super::super::seccomp;
use super::super::spec::{InitSpec, Mode};
use super::REPORT_FD;

/// Last steps in the program's process, then `execve`. Never returns: on failure it prints why
/// on stderr and exits 127 (not found) or 126 (cannot run), like a shell.
pub(super) fn exec_program(spec: &InitSpec, mode: Mode) -> ! {
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

/// The Landlock ABI version the kernel offers, if any.
pub(in super::super) fn landlock_abi() -> Option<i64> {
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
