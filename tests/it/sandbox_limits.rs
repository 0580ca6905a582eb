//! Limits, exit codes and clean-up of `kiln sandbox run`, with real programs.

use std::time::{Duration, Instant};

use crate::support::sandbox::*;

#[test]
fn exit_codes_and_signals() {
    if !isolation_available("exit codes") {
        return;
    }
    let r = run(&[], &["/bin/sh", "-c", "exit 7"]);
    assert_eq!(r.code, 7);
    assert_eq!(r.summary["termination"]["kind"], "exited");
    let r = run(&[], &["/bin/sh", "-c", "kill -TERM $$"]);
    assert_eq!(r.code, 128 + 15, "{r:?}");
    assert_eq!(
        r.summary["termination"],
        serde_json::json!({"kind": "signaled", "value": 15})
    );
    let r = run(&[], &["no-such-program-kiln"]);
    assert_eq!(r.code, 127, "{r:?}");
    assert!(r.stderr.contains("cannot run 'no-such-program-kiln'"));
    let r = run(&[], &["/etc/hostname"]);
    assert_eq!(r.code, 126, "{r:?}");
}

#[test]
fn wall_clock_timeout() {
    if !isolation_available("timeout") {
        return;
    }
    let t = Instant::now();
    let r = run(&["--timeout", "1s"], &["/bin/sleep", "30"]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(r.code, 201, "{r:?}");
    assert_eq!(r.limit(), Some("timeout"));
}

#[test]
fn cpu_time_limit() {
    if !isolation_available("cpu") {
        return;
    }
    let r = py(&["--cpu", "1s", "--timeout", "20s"], "while True: pass");
    assert_eq!(r.code, 202, "{r:?}");
    assert_eq!(r.limit(), Some("cpu"));
    let cpu_ms = r.summary["user_ms"].as_u64().unwrap() + r.summary["sys_ms"].as_u64().unwrap();
    // rusage splits CPU time by sampling, so it may read a little under the 1 s RLIMIT_CPU.
    assert!(cpu_ms >= 500, "{}", r.summary);
    assert_eq!(
        r.summary["termination"]["value"],
        libc::SIGXCPU,
        "{}",
        r.summary
    );
}

#[test]
fn memory_limit() {
    if !isolation_available("memory") {
        return;
    }
    let code = "import sys\nchunks=[]\nfor i in range(64):\n    chunks.append(bytearray(b'x') * (8 << 20)); print(i * 8 + 8, flush=True)\n";
    let r = py(&["--memory", "64M"], code);
    let reached: u64 = r.stdout.lines().last().map_or(0, |l| l.parse().unwrap());
    assert!(
        reached < 80,
        "allocated {reached} MiB under a 64 MiB limit: {r:?}"
    );
    match r.summary["memory_enforcement"].as_str().unwrap() {
        "cgroup_v1" | "cgroup_v2" => {
            assert_eq!(r.code, 203, "{r:?}");
            assert_eq!(r.limit(), Some("memory"));
            assert!(r.summary["max_rss_kb"].as_u64().unwrap() < 80 << 10);
        }
        other => {
            assert!(
                !is_root() || !in_ci(),
                "root in CI must get a memory cgroup, got {other}"
            );
            assert_eq!(other, "rlimit");
            assert_ne!(r.code, 0, "MemoryError expected under RLIMIT_AS: {r:?}");
        }
    }
}

#[test]
fn process_limit() {
    if !isolation_available("pids") {
        return;
    }
    let code = "import os, time\nn=0\ntry:\n    for i in range(100):\n        if os.fork() == 0:\n            time.sleep(2); os._exit(0)\n        n += 1\nexcept OSError as e: pass\nprint(n)";
    let r = py(&["--pids", "10"], code);
    assert_eq!(r.code, 0, "{r:?}");
    let n: u32 = r.stdout.trim().parse().unwrap();
    assert!((1..10).contains(&n), "forked {n} with --pids 10");
    if r.summary["pids_enforcement"] != "rlimit" {
        assert_eq!(r.limit(), Some("pids"), "{}", r.summary);
    }
}

#[test]
fn open_files_limit_and_no_core_dumps() {
    if !isolation_available("open files") {
        return;
    }
    let code = "import resource\nfs=[]\ntry:\n    for i in range(100): fs.append(open('/dev/null'))\nexcept OSError: pass\nprint(len(fs), resource.getrlimit(resource.RLIMIT_CORE)[1])";
    let r = py(&["--open-files", "20"], code);
    assert_eq!(r.code, 0, "{r:?}");
    let mut it = r.stdout.split_whitespace();
    let opened: u32 = it.next().unwrap().parse().unwrap();
    assert!(opened < 20, "opened {opened} files with --open-files 20");
    assert_eq!(it.next(), Some("0"), "core dumps must be off");
}

#[test]
fn disk_limit_holds_across_many_files() {
    if !isolation_available("disk") {
        return;
    }
    // 8 files of 8 MiB each: a per-file limit alone would allow all 64 MiB.
    let code = "import os\ntotal=0\ntry:\n    for n in range(8):\n        with open(f'f{n}', 'wb') as f:\n            for _ in range(8):\n                f.write(b'x' * (1 << 20)); f.flush(); total += 1\nexcept OSError as e: print('error', e.errno)\nprint('total', total)";
    let r = py(&["--disk", "16M"], code);
    let total: u32 = r
        .stdout
        .lines()
        .last()
        .unwrap()
        .strip_prefix("total ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(total <= 16, "wrote {total} MiB with --disk 16M: {r:?}");
    assert!(r.stdout.contains("error 28"), "expected ENOSPC: {r:?}");
    assert_eq!(r.limit(), Some("disk"), "{}", r.summary);
    // /tmp is capped the same way.
    let r = py(
        &["--disk", "16M"],
        "import os\nos.chdir('/tmp')\ntry:\n    open('big','wb').write(b'x' * (32 << 20))\nexcept OSError as e: print('error', e.errno)",
    );
    assert!(r.stdout.contains("error 2"), "{r:?}"); // EFBIG (27) or ENOSPC (28)
}

#[test]
fn output_limits_kill_the_run() {
    if !isolation_available("output") {
        return;
    }
    let r = py(
        &["--output", "1K"],
        "import sys\nfor i in range(100000): print('x' * 50)",
    );
    assert_eq!(r.code, 204, "{r:?}");
    assert_eq!(r.limit(), Some("output"));
    assert!(
        r.stdout.len() <= 1024,
        "{} bytes passed the 1K cap",
        r.stdout.len()
    );
    assert!(r.summary["bytes_dropped"].as_u64().unwrap() > 0);
    let r = py(
        &["--output-lines", "10"],
        "for i in range(1000): print(i, flush=True)",
    );
    assert_eq!(r.code, 204, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 10);
}

#[test]
fn nothing_survives_the_run() {
    if !isolation_available("clean-up") {
        return;
    }
    let marker = format!("kiln-test-daemon-{}", std::process::id());
    // A daemon (new session, double fork, stdio closed) and a zombie-making child.
    let code = format!(
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        fd = os.open('/dev/null', os.O_RDWR)\n        for f in (0, 1, 2): os.dup2(fd, f)\n        os.execv(sys.executable, [sys.executable, '-c', 'import time; open(\"alive\", \"w\").write(\"y\"); time.sleep(60)', '{marker}'])\n    os._exit(0)\ntime.sleep(0.5)\nprint('spawned')"
    );
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        work.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let w = work.path().display().to_string();
    let r = py(&["--workdir", &w], &code);
    assert_eq!(r.stdout.trim(), "spawned", "{r:?}");
    assert!(
        work.path().join("alive").exists(),
        "the daemon never ran: {r:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        host_processes_with(&marker),
        Vec::<i32>::new(),
        "daemon survived"
    );
    // Same after a timeout kill.
    let code = format!(
        "import os, sys\nif os.fork() == 0:\n    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\nos.execv('/bin/sleep', ['/bin/sleep', '60'])"
    );
    let r = py(&["--timeout", "1s"], &code);
    assert_eq!(r.code, 201, "{r:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        host_processes_with(&marker),
        Vec::<i32>::new(),
        "child survived the timeout"
    );
    // The run directory and the run's cgroups are gone too.
    let workdir = std::path::Path::new(r.summary["workdir"].as_str().unwrap());
    let rundir = workdir.parent().unwrap().to_owned();
    assert!(!rundir.exists(), "{} left behind", rundir.display());
    let name = rundir.file_name().unwrap().to_string_lossy().into_owned();
    for hierarchy in ["pids", "memory"] {
        let leftover = std::process::Command::new("find")
            .args([
                &format!("/sys/fs/cgroup/{hierarchy}"),
                "-maxdepth",
                "3",
                "-name",
                &name,
            ])
            .output()
            .unwrap();
        assert!(
            leftover.stdout.is_empty(),
            "cgroup left: {}",
            String::from_utf8_lossy(&leftover.stdout)
        );
    }
}

#[test]
fn sigterm_to_kiln_cancels_and_cleans_up() {
    if !isolation_available("cancellation") {
        return;
    }
    let marker = format!("kiln-test-cancel-{}", std::process::id());
    let home = Home::new();
    let mut child = home
        .kiln()
        .args([
            "--format",
            "json",
            "sandbox",
            "run",
            "--timeout",
            "30s",
            "--",
            "/bin/sh",
            "-c",
        ])
        .arg(format!(
            "/bin/sh -c 'sleep 60; : {marker}' & echo started; wait"
        ))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "started\n");
    let t = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let r = Run::from_output(out);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(r.code, 130, "{r:?}");
    assert_eq!(r.summary["cancelled"], true);
    assert_eq!(host_processes_with(&marker), Vec::<i32>::new());
}

#[test]
fn sigkill_to_kiln_still_cleans_up() {
    if !isolation_available("lifeline") {
        return;
    }
    let marker = format!("kiln-test-kill9-{}", std::process::id());
    // Bound to a name: the home must outlive the child, not just the spawn statement.
    let home = Home::new();
    let mut child = home
        .kiln()
        .args(["sandbox", "run", "--timeout", "30s", "--", "/bin/sh", "-c"])
        .arg(format!("sleep 60; : {marker}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while host_processes_with(&marker).is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !host_processes_with(&marker).is_empty(),
        "program never started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    while !host_processes_with(&marker).is_empty() && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        host_processes_with(&marker),
        Vec::<i32>::new(),
        "program outlived kiln"
    );
}

#[test]
fn runs_are_recorded() {
    if !isolation_available("recording") {
        return;
    }
    let home = Home::new();
    let r = run_in(
        &home,
        &["--timeout", "1s"],
        &["/bin/sh", "-c", "echo hello; echo oops >&2; exec sleep 5"],
    );
    let id = r.summary["process_id"].as_i64().unwrap();
    let store = kiln::engine::store::Store::open_read_only(
        &home.db(),
        &kiln::engine::store::StoreConfig::default(),
    )
    .unwrap();
    let p = store.get_process(id).unwrap().unwrap();
    assert_eq!(p.argv[0], "/bin/sh");
    assert_eq!(p.status, kiln::engine::store::ProcessStatus::Limit);
    assert_eq!(p.limit_hit.as_deref(), Some("timeout"));
    assert!(p.wall_ms.unwrap() >= 1000);
    assert_eq!(p.limits["timeout_ms"], 1000);
    let lines = store.log_tail(p.run_id.unwrap(), 10).unwrap();
    let texts: Vec<(String, String)> = lines
        .iter()
        .map(|l| (format!("{:?}", l.stream), l.text.clone()))
        .collect();
    assert!(
        texts.contains(&("Stdout".into(), "hello".into())),
        "{texts:?}"
    );
    assert!(
        texts.contains(&("Stderr".into(), "oops".into())),
        "{texts:?}"
    );
    let run = store.run(p.run_id.unwrap()).unwrap();
    assert_eq!(run.kind, kiln::engine::store::RunKind::Sandbox);
    assert_eq!(run.status, kiln::engine::store::Status::Failed);
}

#[test]
fn unsafe_no_isolation_warns_and_applies_rlimits() {
    let r = py(
        &["--unsafe-no-isolation", "--cpu", "1s"],
        "import os\nprint(os.getppid() != 0)\nwhile True: pass",
    );
    assert!(r.stderr.contains("WARNING: --unsafe-no-isolation"), "{r:?}");
    assert_eq!(r.code, 202, "{r:?}");
    assert_eq!(r.summary["isolation"], "unsafe_none");
    let r = run(&["--unsafe-no-isolation"], &["/usr/bin/env"]);
    assert!(!r.stdout.contains(FAKE_KEY));
    // Even without a pid namespace, a daemon is found (kiln's init is a subreaper) and killed.
    let marker = format!("kiln-test-unsafe-daemon-{}", std::process::id());
    let code = format!(
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\n    os._exit(0)\ntime.sleep(0.3)\nprint('spawned', flush=True)"
    );
    let r = py(&["--unsafe-no-isolation"], &code);
    assert_eq!(r.stdout, "spawned\n", "{r:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        host_processes_with(&marker),
        Vec::<i32>::new(),
        "daemon survived"
    );
}

#[test]
fn refuses_without_user_namespaces_unless_unsafe() {
    // bwrap --disable-userns gives kiln a world where user namespaces cannot be created.
    let bwrap = ["/usr/bin/bwrap", "/bin/bwrap"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bwrap) = bwrap else {
        require(
            false,
            "no-namespace refusal",
            "bwrap is not installed (tests/setup/sandbox.sh installs bubblewrap)",
        );
        return;
    };
    let home = Home::new();
    let h = home.path().display().to_string();
    let bin = kiln_bin().display().to_string();
    let bin_dir = kiln_bin().parent().unwrap().display().to_string();
    let outer = |extra: &[&str]| {
        let base = home.kiln();
        let mut args: Vec<String> = [
            "--unshare-user",
            "--disable-userns",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--bind",
            &h,
            &h,
            "--ro-bind",
            &bin_dir,
            &bin_dir,
            "--",
            &bin,
            "--format",
            "json",
            "sandbox",
            "run",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let out = std::process::Command::new(bwrap)
            .args(&args)
            .env_clear()
            .envs(
                base.get_envs()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
            )
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        Run::from_output(out)
    };
    let probe = outer(&["--unsafe-no-isolation", "--", "/bin/true"]);
    if !require(
        probe.code == 0,
        "no-namespace refusal",
        &format!("bwrap cannot run here: {}", probe.stderr.trim()),
    ) {
        return;
    }
    let r = outer(&["--", "/bin/echo", "must not run"]);
    assert_eq!(r.code, 125, "{r:?}");
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("cannot isolate generated code"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("docs/sandbox.md") && r.stderr.contains("--unsafe-no-isolation"),
        "{}",
        r.stderr
    );
    let r = outer(&["--unsafe-no-isolation", "--", "/bin/echo", "ran"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "ran\n");
    assert!(r.stderr.contains("WARNING"), "{}", r.stderr);
    assert_eq!(r.summary["memory_enforcement"], "rlimit");
}

#[test]
fn cpu_limit_covers_the_whole_run() {
    if !isolation_available("whole-run cpu") {
        return;
    }
    // Four busy workers: with a per-process limit only they would use 4 x 2 s and the run
    // would exit 0 once each had hit its own RLIMIT_CPU.
    let code = "import os\nfor _ in range(4):\n    if os.fork() == 0:\n        while True: pass\nfor _ in range(4): os.wait()\nprint('all workers ended')";
    let t = Instant::now();
    let r = py(&["--cpu", "2s", "--timeout", "60s", "--pids", "16"], code);
    let cpu_ms = r.summary["user_ms"].as_u64().unwrap() + r.summary["sys_ms"].as_u64().unwrap();
    eprintln!("4 workers: cpu {cpu_ms} ms, wall {:?}", t.elapsed());
    assert_eq!(r.code, 202, "{r:?}");
    assert_eq!(r.limit(), Some("cpu"));
    assert!(!r.stdout.contains("all workers ended"), "{r:?}");
    assert!(cpu_ms >= 1500, "{}", r.summary);
    assert!(cpu_ms < 5000, "far under 4 x 2 s: {}", r.summary);
}

#[test]
fn impossible_limits_are_refused_before_anything_starts() {
    let home = Home::new();
    for (flag, value, says) in [
        ("--memory", "0", "limit 'memory' is 0 bytes"),
        ("--timeout", "0s", "limit 'timeout' is 0"),
        ("--pids", "0", "limit 'pids' is 0"),
        ("--cpu", "0s", "limit 'cpu' is 0"),
        ("--output", "0", "limit 'output' is 0"),
        ("--disk", "0", "limit 'disk' is 0"),
    ] {
        let r = run_in(&home, &[flag, value], &["/bin/true"]);
        assert_eq!(r.code, 2, "{flag} {value}: {r:?}");
        assert!(r.stderr.contains(says), "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "names the flag: {}", r.stderr);
    }
    home.kiln.config("[sandbox]\nmemory = 0\n");
    let r = run_in(&home, &[], &["/bin/true"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("sandbox.memory"), "{}", r.stderr);
    if home.db().exists() {
        let db = rusqlite::Connection::open(home.db()).unwrap();
        let runs: i64 = db
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 0, "nothing was recorded");
    }
}
