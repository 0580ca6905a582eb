//! Helpers for the sandbox tests: run the `kiln` binary in a [`Kiln`] temp world with a planted
//! fake API key, and parse the JSON summary it prints last on stderr.
//!
//! Skips: when the host cannot isolate (no user namespaces), a test prints why and returns
//! (through `support::require`, so in CI it fails instead).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::print_stderr,
    clippy::needless_pass_by_value
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::kiln::Kiln;

const BUILT_KILN: &str = env!("CARGO_BIN_EXE_kiln");

/// The kiln binary under test: the one cargo built, or `KILN_TEST_BIN` when
/// `tests/e2e/sandbox-unprivileged.sh` runs these tests as uid 65534 from a public copy.
pub fn kiln_bin() -> PathBuf {
    std::env::var_os("KILN_TEST_BIN").map_or_else(|| PathBuf::from(BUILT_KILN), PathBuf::from)
}
pub const PY: &str = "/usr/bin/python3";
pub const FAKE_KEY: &str = "sk-kiln-test-secret-0123456789";

/// A temp world ([`Kiln`]'s layout) with a planted fake API key and a fixed `PATH`.
pub struct Home {
    pub kiln: Kiln,
}

impl Home {
    pub fn new() -> Self {
        let mut kiln = Kiln::new();
        kiln.env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("KILN_FAKE_API_KEY", FAKE_KEY)
            .env("OPENAI_API_KEY", FAKE_KEY);
        Self { kiln }
    }

    pub fn path(&self) -> &Path {
        self.kiln.home()
    }

    pub fn db(&self) -> PathBuf {
        self.kiln.db()
    }

    /// A `kiln` command ([`kiln_bin`]) with only this world's environment and stdin closed.
    pub fn kiln(&self) -> Command {
        let mut cmd = self.kiln.cmd_of(kiln_bin());
        cmd.stdin(Stdio::null());
        cmd
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The JSON summary (null when kiln failed before printing one).
    pub summary: serde_json::Value,
}

impl Run {
    pub fn from_output(out: Output) -> Self {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let summary = stderr
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or(serde_json::Value::Null);
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr,
            summary,
        }
    }

    pub fn limit(&self) -> Option<&str> {
        self.summary["limit"].as_str()
    }
}

/// `kiln --format json sandbox run OPTS -- CMD...` in `home`.
pub fn run_in(home: &Home, opts: &[&str], cmd: &[&str]) -> Run {
    let out = home
        .kiln()
        .args(["--format", "json", "sandbox", "run"])
        .args(opts)
        .arg("--")
        .args(cmd)
        .output()
        .unwrap();
    Run::from_output(out)
}

pub fn run(opts: &[&str], cmd: &[&str]) -> Run {
    run_in(&Home::new(), opts, cmd)
}

/// Python code run in the sandbox.
pub fn py(opts: &[&str], code: &str) -> Run {
    run(opts, &[PY, "-c", code])
}

pub use super::{in_ci, require};

/// Whether this host can run isolated sandboxes at all.
pub fn isolation_available(what: &str) -> bool {
    let r = run(&[], &["/bin/true"]);
    require(
        r.code == 0,
        what,
        &format!("the sandbox cannot start here: {}", r.stderr.trim()),
    )
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A copy of the kiln binary every user may execute (the checkout may be private).
pub fn public_kiln() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("kiln-test-bin-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("kiln");
    std::fs::copy(kiln_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, bin)
}

/// Host processes whose command line contains `marker`.
pub fn host_processes_with(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // kiln's own command line carries the payload's arguments too.
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (pid != me && comm.trim() != "kiln" && cmdline.contains(marker)).then_some(pid)
        })
        .collect()
}
