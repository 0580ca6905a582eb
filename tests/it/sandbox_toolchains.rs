//! Real toolchains inside the sandbox: `python3 -m pytest` on a small project, and `cargo test`
//! on a small crate with a registry dependency (the cargo home mounted read-only, offline).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::sandbox::*;

/// A project directory the sandboxed program may write (as root it runs as uid 65534).
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kiln-test-project-")
        .tempdir()
        .unwrap();
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
    for entry in walk(dir.path()) {
        let mode = if entry.is_dir() { 0o777 } else { 0o666 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    dir
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            out.extend(walk(&e.unwrap().path()));
        }
    }
    out
}

#[test]
fn pytest_runs_inside() {
    if !isolation_available("pytest") {
        return;
    }
    let has_pytest = std::process::Command::new(PY)
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !require(
        has_pytest,
        "pytest",
        "python3-pytest is not installed (tests/setup/sandbox.sh installs it)",
    ) {
        return;
    }
    let dir = project(&[
        ("calc.py", "def add(a, b):\n    return a + b\n"),
        (
            "test_calc.py",
            "import os, socket\nfrom calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n\ndef test_sandboxed():\n    assert os.environ['KILN_SANDBOX'] == '1'\n    assert os.environ['KILN_NETWORK'] == 'off'\n",
        ),
    ]);
    let w = dir.path().display().to_string();
    let r = run(
        &["--workdir", &w, "--timeout", "60s", "--cpu", "60s"],
        &[PY, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("2 passed"), "{}", r.stdout);
}

#[test]
fn cargo_test_runs_inside_offline() {
    if !isolation_available("cargo test") {
        return;
    }
    // The toolchain that built these tests: <toolchain>/bin/cargo.
    let cargo = PathBuf::from(env!("CARGO"));
    let toolchain = cargo.parent().and_then(Path::parent).unwrap().to_path_buf();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    let dir = project(&[
        (
            "Cargo.toml",
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nlibc = \"0.2\"\n",
        ),
        (
            "src/lib.rs",
            "pub fn add(a: i32, b: i32) -> i32 { a + b }\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() { assert_eq!(super::add(2, 2), 4); assert!(unsafe { libc::getpid() } > 0); }\n}\n",
        ),
    ]);
    let w = dir.path().display().to_string();
    let tc = toolchain.display().to_string();
    let home = cargo_home.display().to_string();
    let r = run(
        &[
            "--workdir",
            &w,
            "--ro",
            &tc,
            "--ro",
            &home,
            "--pids",
            "256",
            "--memory",
            "2G",
            "--timeout",
            "150s",
            "--cpu",
            "150s",
            "--disk",
            "1G",
            "--env",
            &format!("CARGO_HOME={home}"),
            "--env",
            "CARGO_TARGET_DIR=/tmp/target",
            "--env",
            "CARGO_NET_OFFLINE=true",
            "--env",
            &format!("PATH={tc}/bin:/usr/bin:/bin"),
            "--env",
            &format!("RUSTC={tc}/bin/rustc"),
        ],
        &[&cargo.display().to_string(), "test", "--offline"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("test tests::adds ... ok"), "{}", r.stdout);
    // The cargo home is read-only inside.
    let probe = cargo_home.join("kiln-sandbox-probe");
    let r = run(
        &["--ro", &home],
        &["/bin/sh", "-c", &format!("touch '{}'", probe.display())],
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert!(!probe.exists());
}
