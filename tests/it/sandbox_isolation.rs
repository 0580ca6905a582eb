//! Isolation layers of `kiln sandbox run`, each verified from inside with a real program.

use std::os::unix::fs::PermissionsExt;

use crate::support::sandbox::*;

fn kv(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn check_reports_every_layer_ok() {
    if !isolation_available("sandbox check") {
        return;
    }
    let out = Home::new()
        .kiln()
        .args(["--format", "json", "sandbox", "check"])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for row in &rows {
        let layer = row["layer"].as_str().unwrap();
        let ok = row["ok"].as_bool().unwrap();
        let optional = ["landlock", "memory cgroup", "pids cgroup"].contains(&layer);
        // This machine (and CI) has Landlock; cgroups only when root.
        let supported = !optional || layer == "landlock" || is_root();
        if supported {
            assert!(ok, "layer {layer} not ok: {row}");
        } else if !ok {
            eprintln!("note: {layer} unavailable as non-root: {}", row["detail"]);
        }
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn namespaces_uid_and_hostname() {
    if !isolation_available("namespaces") {
        return;
    }
    let r = run(
        &[],
        &[
            "/bin/sh",
            "-c",
            "echo uid_map=$(cat /proc/self/uid_map | tr -s ' ' ' '); echo pid=$$; echo host=$(cat /proc/sys/kernel/hostname); \
             echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '); \
             for ns in user mnt pid net ipc uts cgroup; do echo ns_$ns=$(readlink /proc/self/ns/$ns); done",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let outside: u32 = kv(&r.stdout, "uid_map")
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    if is_root() {
        assert_eq!(
            outside, 65534,
            "root must not map to host root: {}",
            r.stdout
        );
    } else {
        assert_eq!(outside, nix::unistd::getuid().as_raw());
    }
    assert_eq!(
        kv(&r.stdout, "pid"),
        "2",
        "program is not in a fresh pid namespace"
    );
    assert_eq!(kv(&r.stdout, "host"), "kiln-sandbox");
    assert_eq!(kv(&r.stdout, "ifaces"), "lo", "only loopback expected");
    for ns in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(
            kv(&r.stdout, &format!("ns_{ns}")),
            host.to_string_lossy(),
            "{ns} namespace shared with the host"
        );
    }
}

#[test]
fn network_has_no_route_no_host_loopback_no_abstract_sockets() {
    if !isolation_available("network") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let name = format!("kiln-test-abstract-{}", std::process::id());
    let abs = std::os::unix::net::UnixListener::bind_addr(
        &<std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name.as_bytes()).unwrap(),
    )
    .unwrap();
    abs.set_nonblocking(true).unwrap();
    let code = format!(
        r#"
import socket
def tcp(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close(); return "connected"
    except OSError as e: return type(e).__name__ + str(e.errno)
print("host_loopback=" + tcp("127.0.0.1", {port}))
print("internet=" + tcp("1.1.1.1", 53))
s = socket.socket(socket.AF_UNIX)
try: s.connect("\0{name}"); print("abstract=connected")
except OSError as e: print("abstract=refused")
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname()); print("own_loopback=ok")
"#
    );
    let r = py(&[], &code);
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(kv(&r.stdout, "host_loopback"), "connected");
    assert!(listener.accept().is_err(), "host listener got a connection");
    assert!(
        kv(&r.stdout, "internet").contains("101"),
        "expected ENETUNREACH: {}",
        r.stdout
    );
    assert_eq!(kv(&r.stdout, "abstract"), "refused");
    assert!(
        abs.accept().is_err(),
        "host abstract socket got a connection"
    );
    assert_eq!(
        kv(&r.stdout, "own_loopback"),
        "ok",
        "loopback inside should work"
    );
}

#[test]
fn fresh_root_hides_home_database_and_secrets() {
    if !isolation_available("fresh root") {
        return;
    }
    let home = Home::new();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/id_rsa"), "SECRET-KEY").unwrap();
    // Make sure the database exists before the run.
    let _ = run_in(&home, &[], &["/bin/true"]);
    assert!(home.db().exists());
    let script = format!(
        "for p in '{}' '{}' '{}' /etc/shadow /root /home /sys/kernel /var /proc/1/root/etc; do test -e \"$p\" && echo visible=$p; done; \
         ls / | tr '\\n' ' '; echo; ls /dev | tr '\\n' ' '; echo",
        home.path().join(".ssh/id_rsa").display(),
        home.db().display(),
        home.path().display(),
    );
    let r = run_in(&home, &[], &["/bin/sh", "-c", &script]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("visible="), "{}", r.stdout);
    let dev: Vec<&str> = r
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    for node in ["null", "zero", "full", "random", "urandom"] {
        assert!(dev.contains(&node), "/dev/{node} missing: {dev:?}");
    }
    assert!(
        !dev.iter()
            .any(|d| d.starts_with("sd") || d.starts_with("vd") || *d == "mem" || *d == "kmsg")
    );
}

#[test]
fn writes_outside_workdir_and_tmp_fail() {
    if !isolation_available("read-only root") {
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let ro = outside.path().display().to_string();
    let code = format!(
        r#"
import os
for p in ["/usr/kiln-x", "/etc/kiln-x", "/kiln-x", "/bin/kiln-x", "{ro}/kiln-x", "/proc/sysrq-trigger"]:
    try: open(p, "w").write("x"); print("wrote", p)
    except OSError: pass
open("/tmp/in-tmp", "w").write("x")
open("in-workdir", "w").write("x")
print("cwd=" + os.getcwd())
"#
    );
    let r = py(&["--ro", &ro], &code);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("wrote"), "{}", r.stdout);
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    assert!(
        !std::path::Path::new("/tmp/in-tmp").exists(),
        "sandbox /tmp is the host's"
    );
}

#[test]
fn workdir_is_bound_read_write() {
    if !isolation_available("workdir") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // As root the program is uid 65534 on the host: it needs write permission.
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(work.path().join("input.txt"), "from host").unwrap();
    let w = work.path().display().to_string();
    let r = run(
        &["--workdir", &w],
        &["/bin/sh", "-c", "pwd; cat input.txt; echo out > output.txt"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    // Byte-exact: the file has no final newline, and none is added.
    assert_eq!(r.stdout, format!("{w}\nfrom host"));
    assert_eq!(
        std::fs::read_to_string(work.path().join("output.txt")).unwrap(),
        "out\n"
    );
}

#[test]
fn proc_sys_is_read_only_and_host_unchanged() {
    if !isolation_available("/proc/sys") {
        return;
    }
    let before = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let r = run(
        &[],
        &[
            "/bin/sh",
            "-c",
            "for f in /proc/sys/vm/swappiness /proc/sys/kernel/hostname /proc/sys/kernel/ns_last_pid /proc/sysrq-trigger; do \
               if (echo 7 > $f) 2>/dev/null; then echo wrote $f; fi; done; echo done",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        "done",
        "a /proc/sys write succeeded: {}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        hostname
    );
    if is_root() {
        eprintln!("checked as root: host settings unchanged");
    }
}

#[test]
fn seccomp_denies_dangerous_calls() {
    if !isolation_available("seccomp") {
        return;
    }
    // x86_64 syscall numbers; TIOCSTI on /dev/null would be ENOTTY without the filter.
    let code = r#"
import ctypes, os, fcntl
libc = ctypes.CDLL(None, use_errno=True)
def sc(name, nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    print(f"{name}={'ok' if r >= 0 else os.strerror(ctypes.get_errno())}")
sc("ptrace", 101, 16, os.getppid(), 0, 0)
sc("mount", 165, 0, 0, 0, 0, 0)
sc("umount2", 166, 0, 0)
sc("pivot_root", 155, 0, 0)
sc("unshare", 272, 0x10000000)
sc("setns", 308, 0, 0)
sc("keyctl", 250, 0, 0)
sc("add_key", 248, 0, 0, 0, 0, 0)
sc("request_key", 249, 0, 0, 0, 0)
sc("bpf", 321, 0, 0, 0)
sc("perf_event_open", 298, 0, 0, -1, -1, 0)
sc("kexec_load", 246, 0, 0, 0, 0)
sc("init_module", 175, 0, 0, 0)
sc("finit_module", 313, -1, 0, 0)
sc("clone_newuser", 56, 0x10000000 | 17, 0, 0, 0, 0)
try:
    fcntl.ioctl(0, 0x5412, b"x"); print("tiocsti=ok")
except OSError as e: print("tiocsti=" + os.strerror(e.errno))
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print("Seccomp=" + status["Seccomp"].strip())
print("NoNewPrivs=" + status["NoNewPrivs"].strip())
print("CapEff=" + status["CapEff"].strip())
print("CapBnd=" + status["CapBnd"].strip())
print("CapAmb=" + status["CapAmb"].strip())
"#;
    let r = py(&[], code);
    assert_eq!(r.code, 0, "{r:?}");
    for name in [
        "ptrace",
        "mount",
        "umount2",
        "pivot_root",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "kexec_load",
        "init_module",
        "finit_module",
        "clone_newuser",
        "tiocsti",
    ] {
        assert_eq!(
            kv(&r.stdout, name),
            "Operation not permitted",
            "{name}: {}",
            r.stdout
        );
    }
    assert_eq!(kv(&r.stdout, "Seccomp"), "2");
    assert_eq!(kv(&r.stdout, "NoNewPrivs"), "1");
    for cap in ["CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(kv(&r.stdout, cap), "0000000000000000", "{cap}");
    }
}

#[test]
fn seccomp_denies_io_uring_and_what_the_battery_cannot_see() {
    if !isolation_available("seccomp review") {
        return;
    }
    // x86_64 numbers; arguments that fail differently (EFAULT, EBADF, EINVAL) without the filter.
    let code = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "io_uring_setup": (425, 1, 0), "io_uring_enter": (426, -1, 0, 0, 0, 0, 0),
    "io_uring_register": (427, -1, 0, 0, 0), "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0), "userfaultfd": (323, 0),
    "keyctl": (250, 0, 0), "add_key": (248, 0, 0, 0, 0, 0), "request_key": (249, 0, 0, 0, 0),
    "kexec_load": (246, 0, 0, 0, 0), "kexec_file_load": (320, -1, -1, 0, 0, 0),
    "init_module": (175, 0, 0, 0), "finit_module": (313, -1, 0, 0), "delete_module": (176, 0, 0),
    "open_by_handle_at": (304, -1, 0, 0), "name_to_handle_at": (303, -1, 0, 0, 0, 0),
    "process_vm_readv": (310, os.getppid(), 0, 0, 0, 0, 0),
    "process_vm_writev": (311, os.getppid(), 0, 0, 0, 0, 0),
    "fsopen": (430, 0, 0), "fsmount": (432, -1, 0, 0), "move_mount": (429, -1, 0, -1, 0, 0),
    "open_tree": (428, -1, 0, 0), "fsconfig": (431, -1, 0, 0, 0, 0), "fspick": (433, -1, 0, 0),
    "mount_setattr": (442, -1, 0, 0, 0, 0), "clock_settime": (227, 0, 0),
    "settimeofday": (164, 0, 0), "kcmp": (312, 1, 1, 0, 0, 0),
}
for name, (nr, *args) in calls.items():
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    print(f"{name}={'ok' if r >= 0 else ctypes.get_errno()}")
"#;
    let r = py(&[], code);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 28, "{}", r.stdout);
    for line in lines {
        let (name, errno) = line.split_once('=').unwrap();
        let denied = errno == libc::EPERM.to_string() || errno == libc::ENOSYS.to_string();
        assert!(denied, "{name} was not denied: errno {errno}");
        if name.starts_with("io_uring") {
            // The filter's answer, not the kernel's (without it: EFAULT / EBADF).
            assert_eq!(errno, libc::EPERM.to_string(), "{name}");
        }
    }
}

#[test]
fn secrets_are_refused_unless_allowed_by_name() {
    let home = Home::new();
    for opts in [
        &["--pass-env", "OPENAI_API_KEY"][..],
        &["--env", "GITHUB_TOKEN=x"],
        &["--env", "APP_SECRET=x"],
    ] {
        let r = run_in(&home, opts, &["/usr/bin/env"]);
        assert_eq!(r.code, 2, "{opts:?}: {r:?}");
        assert!(r.stderr.contains("--allow-secret"), "{}", r.stderr);
        assert!(!r.stdout.contains(FAKE_KEY));
    }
    // A model's key variable, whatever its name, and sandbox.env in the config.
    home.kiln.config(
        "[models.named.m]\nprovider = \"openai\"\nmodel = \"x\"\napi_key_env = \"KILN_FAKE_API_KEY\"\n[sandbox]\nenv = [\"KILN_FAKE_API_KEY\"]\n",
    );
    let r = run_in(&home, &[], &["/usr/bin/env"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("'KILN_FAKE_API_KEY'"), "{}", r.stderr);
    if !isolation_available("allowed secret") {
        return;
    }
    let r = run_in(
        &home,
        &["--allow-secret", "KILN_FAKE_API_KEY"],
        &["/usr/bin/env"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("KILN_FAKE_API_KEY={FAKE_KEY}")));
}

#[test]
fn landlock_restricts_writes() {
    if !isolation_available("landlock") {
        return;
    }
    // /proc/self/comm is writable by its owner (DAC allows it, as --unsafe-no-isolation shows);
    // only Landlock, which grants writes under /tmp, /dev, the work dir and --rw paths only,
    // refuses it inside the sandbox.
    let code = "try:\n    open('/proc/self/comm', 'w').write('x'); print('comm=written')\nexcept OSError as e: print('comm=' + str(e.errno))";
    let plain = py(&["--unsafe-no-isolation"], code);
    assert_eq!(plain.stdout.trim(), "comm=written", "{plain:?}");
    let r = py(&[], code);
    let landlock = r.summary["landlock"].as_str().unwrap_or("none").to_owned();
    if !require(landlock != "none", "landlock", "the kernel has no Landlock") {
        return;
    }
    assert!(landlock.starts_with("abi "), "{landlock}");
    assert_eq!(
        r.stdout.trim(),
        "comm=13",
        "expected EACCES from Landlock: {r:?}"
    );
}

#[test]
fn only_std_fds_session_and_no_terminal() {
    if !isolation_available("fds") {
        return;
    }
    let code = r#"
import os
print("fds=" + ",".join(sorted(os.listdir("/proc/self/fd"))))
print("sid_is_pid=" + str(os.getsid(0) == os.getpid()))
try: open("/dev/tty"); print("tty=yes")
except OSError: print("tty=no")
print("stdin_is_null=" + str(os.readlink("/proc/self/fd/0") == "/dev/null"))
"#;
    // Default signal dispositions (kiln's Rust runtime ignores SIGPIPE; that must not leak).
    let r = run(
        &[],
        &["/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"],
    );
    assert_eq!(
        r.stdout, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "{r:?}"
    );
    // Open a file in kiln's process that must not leak: the database is open during the run.
    let r = py(&[], code);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        kv(&r.stdout, "fds"),
        "0,1,2,3",
        "only 0-2 (+ listdir's own fd): {}",
        r.stdout
    );
    assert_eq!(kv(&r.stdout, "sid_is_pid"), "True");
    assert_eq!(kv(&r.stdout, "tty"), "no");
    assert_eq!(kv(&r.stdout, "stdin_is_null"), "True");
}

#[test]
fn environment_is_scrubbed() {
    if !isolation_available("environment") {
        return;
    }
    let r = run(
        &["--env", "EXTRA=yes", "--pass-env", "NO_COLOR"],
        &["/usr/bin/env"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains(FAKE_KEY), "API key leaked: {}", r.stdout);
    let mut names: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|p| p.0))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "EXTRA",
            "HOME",
            "KILN_NETWORK",
            "KILN_SANDBOX",
            "NO_COLOR",
            "PATH"
        ]
    );
    assert!(r.stdout.contains("KILN_SANDBOX=1\n"));
    assert!(r.stdout.contains("KILN_NETWORK=off\n"));
    assert!(r.stdout.contains("HOME=/tmp\n"));
}

#[test]
fn unprivileged_user_gets_the_same_isolation() {
    if !is_root() {
        // Already unprivileged: every other test covers this case.
        return;
    }
    if !isolation_available("unprivileged run") {
        return;
    }
    let (_bin_dir, bin) = public_kiln();
    let home = tempfile::Builder::new()
        .prefix("kiln-test-nobody-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(setpriv) = setpriv else {
        assert!(
            !in_ci(),
            "setpriv missing: tests/setup/sandbox.sh installs util-linux"
        );
        eprintln!("SKIP unprivileged run: setpriv missing");
        return;
    };
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["--format", "json", "sandbox", "check"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("OPENAI_API_KEY", FAKE_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(require(
        out.status.code() == Some(0),
        "unprivileged user namespaces",
        &format!("{stdout} {}", String::from_utf8_lossy(&out.stderr))
    ),);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let ok = |layer: &str| rows.iter().any(|r| r["layer"] == layer && r["ok"] == true);
    for layer in [
        "user namespace",
        "pid namespace",
        "network namespace",
        "fresh root",
        "/proc/sys read-only",
        "seccomp",
        "capabilities",
        "environment",
    ] {
        assert!(ok(layer), "{layer} as uid 65534: {stdout}");
    }
    // Without a writable cgroup the limits fall back to rlimits, and the summary says so.
    let run = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["--format", "json", "sandbox", "run", "--pids", "8", "--", PY, "-c"])
        .arg("import os\nn=0\ntry:\n    for i in range(50):\n        if os.fork()==0:\n            import time; time.sleep(2); os._exit(0)\n        n+=1\nexcept OSError: pass\nprint('forked', n)")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .output()
        .unwrap();
    let r = Run::from_output(run);
    assert_eq!(r.summary["pids_enforcement"], "rlimit", "{r:?}");
    let forked: u32 = r
        .stdout
        .trim()
        .strip_prefix("forked ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(forked < 8, "forked {forked} with --pids 8");
}

#[test]
fn program_cannot_reach_its_supervisor() {
    if !isolation_available("supervisor") {
        return;
    }
    // Pid 1 is kiln's supervisor: it keeps capabilities in the namespace, so the program (which
    // has none) may not read its memory, environment or root, nor signal it.
    let code = "import os, signal\nfor p in ['/proc/1/mem', '/proc/1/environ', '/proc/1/root/etc/passwd']:\n    try: open(p, 'rb').read(1); print('read', p)\n    except OSError: pass\ntry: os.kill(1, signal.SIGKILL)\nexcept OSError: pass\nprint('done')";
    let r = py(&[], code);
    assert_eq!(r.stdout, "done\n", "{r:?}");
    assert_eq!(r.code, 0, "pid 1 must survive and report: {r:?}");
}
