//! The repository's `.pre-commit-hooks.yaml` through the real `pre-commit` tool (from PyPI,
//! installed by tests/setup/analysis.sh) on a temp git repository: the check hook fails on a
//! finding, the fix hook rewrites the file and pre-commit reports the modification.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::kiln::{Kiln, describe};

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

#[test]
fn pre_commit_runs_the_kiln_hooks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pre_commit = root.join("target/analysis-venv/bin/pre-commit");
    let git = Command::new("git").arg("--version").output().is_ok();
    if !crate::support::require(
        pre_commit.exists() && git,
        "pre-commit hooks",
        "run tests/setup/analysis.sh first (and install git)",
    ) {
        return;
    }
    let kiln = Kiln::new();
    let repo = kiln.home().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("m.py"), "import os, sys\n\nprint(sys.argv)\n").unwrap();
    let bin: PathBuf = Path::new(env!("CARGO_BIN_EXE_kiln"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cmd = |program: &Path, args: &[&str]| {
        let mut c = kiln.cmd();
        c.env("PATH", &path)
            .env("PRE_COMMIT_HOME", kiln.home().join("pre-commit-cache"))
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .current_dir(&repo);
        let mut c2 = Command::new(program);
        c2.args(args)
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir(&repo);
        c2
    };
    let git = Path::new("git");
    for args in [&["init", "-q"][..], &["add", "m.py"][..]] {
        let out = run(&mut cmd(git, args));
        assert!(out.status.success(), "{}", describe(&out));
    }
    let root_s = root.to_str().unwrap();
    let check = run(&mut cmd(
        &pre_commit,
        &["try-repo", root_s, "kiln-check", "--files", "m.py"],
    ));
    let text = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    assert!(text.contains("PY109"), "kiln's findings shown: {text}");
    let fix = run(&mut cmd(
        &pre_commit,
        &["try-repo", root_s, "kiln-check-fix", "--files", "m.py"],
    ));
    let text = String::from_utf8_lossy(&fix.stdout);
    assert_eq!(fix.status.code(), Some(1), "{}", describe(&fix));
    assert!(text.contains("files were modified by this hook"), "{text}");
    assert_eq!(
        std::fs::read_to_string(repo.join("m.py")).unwrap(),
        "import sys\n\nprint(sys.argv)\n"
    );
    // Clean now: both hooks pass.
    let again = run(&mut cmd(
        &pre_commit,
        &["try-repo", root_s, "kiln-check", "--files", "m.py"],
    ));
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}
