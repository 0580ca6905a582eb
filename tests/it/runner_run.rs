//! `kiln run [PATH]`: the model-free run for real — analysis, the project's tests in the real
//! sandbox with the real pytest / node / cargo, the results recorded and the exit code; the
//! toolchain-not-found messages; a root-owned 0700 project as root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::kiln::{Kiln, digest, files_under};
use crate::support::require;
use kiln::engine::store::{RunKind, Status, Store, StoreConfig};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tempconv")
}

/// Whether the sandbox starts here and pytest is installed (tests/setup/runner.sh).
fn ready(kiln: &Kiln, what: &str) -> bool {
    let sandbox = kiln.run(&["sandbox", "run", "--", "/bin/true"]);
    if !require(
        sandbox.code == 0,
        what,
        &format!("the sandbox cannot start here: {}", sandbox.stderr.trim()),
    ) {
        return false;
    }
    let pytest = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import pytest"])
        .status()
        .is_ok_and(|s| s.success());
    require(
        pytest,
        what,
        "python3-pytest is not installed (tests/setup/runner.sh installs it)",
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "__pycache__" && e.file_name() != ".pytest_cache" {
                copy_dir(&e.path(), &dest);
            }
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn tempconv_fails_one_test_names_it_and_records_the_run() {
    let kiln = Kiln::new();
    if !ready(&kiln, "kiln run examples/tempconv") {
        return;
    }
    let project = kiln.home().join("tempconv");
    copy_dir(&example(), &project);
    kiln.ok(&["project", "add", "tempconv"]);
    let before: Vec<_> = files_under(&project).iter().map(|p| digest(p)).collect();

    let out = kiln.run(&["--format", "json", "run", "tempconv"]);
    assert_eq!(
        out.code, 1,
        "one test fails: {}\n{}",
        out.stdout, out.stderr
    );
    let report = json(&out.stdout);
    let tests = &report["tests"];
    assert_eq!(tests["passed"], 4, "{report:#}");
    assert_eq!(tests["failed"], 1, "{report:#}");
    let failed: Vec<_> = tests["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["name"],
        "tests/test_tempconv.py::test_boiling_point_in_celsius"
    );
    assert_eq!(failed[0]["file"], "tests/test_tempconv.py");
    assert_eq!(failed[0]["line"], 20);
    assert!(
        failed[0]["message"].as_str().unwrap().contains("194.2"),
        "{report:#}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "PY109"),
        "the unused import is found: {report:#}"
    );
    let fixes = report["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), 1, "{report:#}");
    assert!(fixes[0]["diff"].as_str().unwrap().contains("-import math"));
    let after: Vec<_> = files_under(&project).iter().map(|p| digest(p)).collect();
    assert_eq!(before, after, "kiln run never writes the project");

    // Recorded: a failed check run in the project, its tests and their output.
    let run = report["run"].as_i64().unwrap();
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let row = store.run(run).unwrap();
    assert_eq!(row.kind, RunKind::Check);
    assert_eq!(row.status, Status::Failed);
    assert!(row.project_id.is_some(), "the run belongs to the project");
    assert!(row.error.unwrap().contains("test_boiling_point_in_celsius"));
    assert_eq!(store.test_results_of_run(run).unwrap().len(), 5);
    let log = store.log_tail(run, 1000).unwrap();
    assert!(
        log.iter().any(|l| l.text.contains("1 failed, 4 passed")),
        "pytest's output is in the run's log"
    );

    // The human summary names the failing test and where it is.
    let human = kiln.run(&["run", "tempconv"]);
    assert_eq!(human.code, 1);
    assert!(
        human.stdout.contains(
            "FAILED tests/test_tempconv.py::test_boiling_point_in_celsius (tests/test_tempconv.py:20)"
        ),
        "{}",
        human.stdout
    );
}

#[test]
fn a_passing_project_exits_zero() {
    let kiln = Kiln::new();
    if !ready(&kiln, "kiln run on a passing project") {
        return;
    }
    let project = kiln.home().join("ok");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("calc.py"),
        "def add(a, b):\n    return a + b\n",
    )
    .unwrap();
    std::fs::write(
        project.join("test_calc.py"),
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
    )
    .unwrap();
    let out = kiln.run(&["run", "ok"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("tests: 1 passed, 0 failed"),
        "{}",
        out.stdout
    );
}

#[test]
fn no_toolchain_says_what_to_install() {
    let mut kiln = Kiln::new();
    let empty = kiln.home().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    kiln.env("PATH", &empty.display().to_string());
    let project = kiln.home().join("p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("test_x.py"), "def test_x():\n    pass\n").unwrap();
    let out = kiln.run(&["run", "p"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("no python test toolchain found"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no python3 on PATH"), "{}", out.stderr);
    assert!(out.stderr.contains("Install pytest"), "{}", out.stderr);
}

#[test]
fn a_project_venv_without_pytest_is_named() {
    let kiln = Kiln::new();
    let sandbox = kiln.run(&["sandbox", "run", "--", "/bin/true"]);
    if !require(
        sandbox.code == 0,
        "venv without pytest",
        "the sandbox cannot start here",
    ) {
        return;
    }
    let project = kiln.home().join("p");
    let bin = project.join(".venv/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", bin.join("python")).unwrap();
    std::fs::write(
        project.join(".venv/pyvenv.cfg"),
        "home = /usr/bin\ninclude-system-site-packages = false\n",
    )
    .unwrap();
    std::fs::write(project.join("test_x.py"), "def test_x():\n    pass\n").unwrap();
    let out = kiln.run(&["run", "p"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("the project's .venv") && out.stderr.contains("cannot import pytest"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(".venv/bin/pip install pytest"),
        "{}",
        out.stderr
    );
}

#[test]
fn root_owned_private_project_works_as_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP root-owned 0700 project: not running as root");
        return;
    }
    let kiln = Kiln::new();
    if !ready(&kiln, "root-owned 0700 project") {
        return;
    }
    let private = kiln.home().join("private");
    let project = private.join("tempconv");
    copy_dir(&example(), &project);
    for dir in [&private, &project, &project.join("tests")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    for f in files_under(&project) {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = kiln.run(&["--format", "json", "run", &project.display().to_string()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = json(&out.stdout);
    assert_eq!(report["tests"]["passed"], 4, "{report:#}");
    assert_eq!(report["tests"]["failed"], 1, "{report:#}");
    // Nothing was chmodded or chowned in the project.
    let meta = std::fs::metadata(&project).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), 0);
    for f in files_under(&project) {
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!((m.mode() & 0o777, m.uid()), (0o600, 0), "{}", f.display());
    }
}

#[test]
fn node_tests_run_in_the_sandbox() {
    let kiln = Kiln::new();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(
        node,
        "kiln run on a node project",
        "node is not installed (tests/setup/runner.sh)",
    ) {
        return;
    }
    let project = kiln.home().join("js");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        "{\"name\": \"js\", \"private\": true}\n",
    )
    .unwrap();
    std::fs::write(
        project.join("math.test.js"),
        "const test = require('node:test');\nconst assert = require('node:assert');\n\ntest('adds', () => { assert.strictEqual(1 + 1, 2); });\ntest('subtracts wrongly', () => { assert.strictEqual(5 - 3, 3); });\n",
    )
    .unwrap();
    let out = kiln.run(&["--format", "json", "run", "js"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = json(&out.stdout);
    let cases = report["tests"]["cases"].as_array().unwrap();
    let failed: Vec<_> = cases.iter().filter(|c| c["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["name"], "subtracts wrongly");
    assert_eq!(
        failed[0]["file"], "math.test.js",
        "scratch paths map back to the project"
    );
    assert_eq!(failed[0]["line"], 5);
    assert_eq!(report["tests"]["passed"], 1);
}

#[test]
fn cargo_tests_run_offline_in_the_sandbox() {
    let kiln = Kiln::new();
    let sandbox = kiln.run(&["sandbox", "run", "--", "/bin/true"]);
    if !require(
        sandbox.code == 0,
        "kiln run on a crate",
        "the sandbox cannot start here",
    ) {
        return;
    }
    let mut kiln = kiln;
    // The cargo that built these tests, and the machine's cargo home (read-only inside).
    let cargo_bin = Path::new(env!("CARGO"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{cargo_bin}:{}", std::env::var("PATH").unwrap_or_default());
    kiln.env("PATH", &path);
    let cargo_home = std::env::var("CARGO_HOME")
        .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
    kiln.env("CARGO_HOME", &cargo_home);
    if let Ok(rustup) = std::env::var("RUSTUP_HOME") {
        kiln.env("RUSTUP_HOME", &rustup);
    }
    let project = kiln.home().join("crate");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() { assert_eq!(super::add(2, 2), 4); }\n\n    #[test]\n    fn adds_wrongly() { assert_eq!(super::add(2, 2), 5); }\n}\n",
    )
    .unwrap();
    let out = kiln.run(&["--format", "json", "run", "crate"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = json(&out.stdout);
    let cases = report["tests"]["cases"].as_array().unwrap();
    let failed: Vec<_> = cases.iter().filter(|c| c["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["name"], "tests::adds_wrongly");
    assert_eq!(failed[0]["file"], "src/lib.rs");
    assert_eq!(failed[0]["line"], 9);
    assert!(
        !project.join("target").exists(),
        "the build happened in the scratch copy"
    );
}

/// Makes a venv (without pip, seeing the system's pytest) at `dir`; false when venv is missing.
fn venv(dir: &Path) -> bool {
    std::process::Command::new("/usr/bin/python3")
        .args(["-m", "venv", "--without-pip", "--system-site-packages"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_project_venv_then_virtual_env_are_used() {
    let mut kiln = Kiln::new();
    if !ready(&kiln, "venv toolchains") {
        return;
    }
    let project = kiln.home().join("tempconv");
    copy_dir(&example(), &project);
    let outside = kiln.home().join("outside-venv");
    if !require(
        venv(&outside) && venv(&project.join(".venv")),
        "venv toolchains",
        "python3 -m venv does not work here (apt install python3-venv)",
    ) {
        return;
    }
    let toolchain_line = |kiln: &Kiln| {
        let out = kiln.run(&["--format", "json", "run", "tempconv"]);
        assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
        let run = json(&out.stdout)["run"].as_i64().unwrap();
        let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
        store
            .log_tail(run, 10_000)
            .unwrap()
            .into_iter()
            .find(|l| l.text.starts_with("running python tests with"))
            .unwrap()
            .text
    };
    kiln.env("VIRTUAL_ENV", &outside.display().to_string());
    let line = toolchain_line(&kiln);
    assert!(line.contains("the project's .venv"), "{line}");
    std::fs::remove_dir_all(project.join(".venv")).unwrap();
    let line = toolchain_line(&kiln);
    assert!(line.contains("$VIRTUAL_ENV"), "{line}");
    assert!(line.contains("outside-venv"), "{line}");
}

#[test]
fn a_directory_without_tests_is_analysed_only() {
    let kiln = Kiln::new();
    let dir = kiln.home().join("notes");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "# notes\n").unwrap();
    let out = kiln.run(&["run", "notes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no tests:"), "{}", out.stderr);
    let missing = kiln.run(&["run", "nope"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("is not a directory"),
        "{}",
        missing.stderr
    );
}
