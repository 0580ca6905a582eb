//! `kiln export`: the refusals (paths outside the root, `..`, a symlink out, a file changed
//! since the run read it: refused and nothing written), atomic writes that keep the mode, a git
//! branch that leaves the worktree alone, and the zip archive. Runs are made through the real
//! store API in the test's database, then exported by the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::kiln::{Kiln, files_under};
use kiln::engine::store::{NewArtifact, NewRun, RunKind, Store, StoreConfig};

fn sha(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A finished run on `root` with these artifacts and reads (path, content read or `None`).
fn run_with(
    kiln: &Kiln,
    root: &Path,
    artifacts: &[(&str, &str)],
    reads: &[(&str, Option<&str>)],
) -> String {
    std::fs::create_dir_all(kiln.db().parent().unwrap()).unwrap();
    let store = Store::open(&kiln.db(), &StoreConfig::default()).unwrap();
    let run = store
        .start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Check,
        })
        .unwrap();
    store.set_run_root(run.id, root).unwrap();
    for (path, content) in reads {
        store
            .record_read(run.id, path, content.map(sha).as_deref())
            .unwrap();
    }
    for (path, content) in artifacts {
        store
            .put_artifact(&NewArtifact {
                run_id: run.id,
                stage_id: None,
                path,
                content: content.as_bytes(),
            })
            .unwrap();
    }
    run.id.to_string()
}

fn project(kiln: &Kiln) -> std::path::PathBuf {
    let p = kiln.home().join("proj");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("a.py"), "v1\n").unwrap();
    p
}

#[test]
fn paths_out_of_the_root_are_refused_and_nothing_is_written() {
    let kiln = Kiln::new();
    let root = project(&kiln);
    let outside = kiln.home().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let abs = outside.join("abs.py").display().to_string();
    for bad in [
        "../escape.py",
        abs.as_str(),
        "link/x.py",
        "sub/../../escape.py",
        ".git/hooks/x",
    ] {
        // A good file in the same run must not be written either.
        let run = run_with(&kiln, &root, &[("good.py", "x"), (bad, "evil")], &[]);
        let out = kiln.run(&["export", &run, "--yes"]);
        assert_eq!(out.code, 2, "{bad}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains("refused"), "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
        assert!(!root.join("good.py").exists(), "{bad}");
    }
    assert!(!kiln.home().join("escape.py").exists());
    assert!(
        files_under(&outside).is_empty(),
        "nothing written through the link"
    );
}

#[test]
fn a_file_changed_since_the_run_read_it_is_not_overwritten_unless_forced() {
    let kiln = Kiln::new();
    let root = project(&kiln);
    let run = run_with(
        &kiln,
        &root,
        &[("a.py", "v2\n"), ("b.py", "new\n")],
        &[("a.py", Some("v1\n")), ("b.py", None)],
    );
    std::fs::write(root.join("a.py"), "the user's edit\n").unwrap();
    let out = kiln.run(&["export", &run, "--yes"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("CONFLICT"), "{}", out.stdout);
    assert!(
        out.stderr.contains("'a.py'") && out.stderr.contains("--force"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(root.join("a.py")).unwrap(),
        "the user's edit\n"
    );
    assert!(!root.join("b.py").exists(), "nothing at all is written");

    // A file created in the project after the run noted it absent is a conflict too.
    let run2 = run_with(&kiln, &root, &[("c.py", "run\n")], &[("c.py", None)]);
    std::fs::write(root.join("c.py"), "mine\n").unwrap();
    assert_eq!(kiln.run(&["export", &run2, "--yes"]).code, 2);
    assert_eq!(
        std::fs::read_to_string(root.join("c.py")).unwrap(),
        "mine\n"
    );

    let forced = kiln.run(&["export", &run, "--yes", "--force"]);
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    assert_eq!(std::fs::read_to_string(root.join("a.py")).unwrap(), "v2\n");
    assert_eq!(std::fs::read_to_string(root.join("b.py")).unwrap(), "new\n");
}

#[test]
fn export_writes_atomically_keeps_the_mode_and_asks_without_yes() {
    let kiln = Kiln::new();
    let root = project(&kiln);
    std::fs::set_permissions(root.join("a.py"), std::fs::Permissions::from_mode(0o751)).unwrap();
    let run = run_with(
        &kiln,
        &root,
        &[("a.py", "v2\n"), ("pkg/new.py", "n\n")],
        &[("a.py", Some("v1\n"))],
    );
    // No terminal and no --yes: the diff is shown, nothing is written.
    let asked = kiln.run(&["export", &run]);
    assert_eq!(asked.code, 1);
    assert!(asked.stdout.contains("-v1\n+v2"), "{}", asked.stdout);
    assert!(
        asked.stdout.contains("+++ b/pkg/new.py"),
        "{}",
        asked.stdout
    );
    assert_eq!(std::fs::read_to_string(root.join("a.py")).unwrap(), "v1\n");

    let out = kiln.run(&["--format", "json", "export", &run, "--yes"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["written"], serde_json::json!(["a.py", "pkg/new.py"]));
    assert_eq!(std::fs::read_to_string(root.join("a.py")).unwrap(), "v2\n");
    assert_eq!(
        std::fs::read_to_string(root.join("pkg/new.py")).unwrap(),
        "n\n"
    );
    let mode = std::fs::metadata(root.join("a.py"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o751, "the mode is kept");
    let leftovers: Vec<_> = files_under(&root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".kiln-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Exporting again changes nothing.
    let again = kiln.run(&["export", &run, "--yes"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("nothing to export"),
        "{}",
        again.stdout
    );
}

fn git(root: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn git_branch_commits_the_files_and_leaves_the_worktree_alone() {
    let has_git = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !crate::support::require(has_git, "export --git-branch", "git is not installed") {
        return;
    }
    let kiln = Kiln::new();
    let root = project(&kiln);
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-qm", "start"]);
    std::fs::write(root.join("wip.txt"), "uncommitted work\n").unwrap();
    let run = run_with(
        &kiln,
        &root,
        &[("a.py", "v2\n"), ("lib/b.py", "b\n")],
        &[("a.py", Some("v1\n"))],
    );
    let out = kiln.run(&["export", &run, "--yes", "--git-branch", "kiln/fix"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("on branch 'kiln/fix'"),
        "{}",
        out.stdout
    );
    assert_eq!(
        git(&root, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "main"
    );
    assert_eq!(std::fs::read_to_string(root.join("a.py")).unwrap(), "v1\n");
    assert!(!root.join("lib").exists());
    assert_eq!(git(&root, &["status", "--porcelain"]).trim(), "?? wip.txt");
    assert_eq!(git(&root, &["show", "kiln/fix:a.py"]), "v2\n");
    assert_eq!(git(&root, &["show", "kiln/fix:lib/b.py"]), "b\n");
    let message = git(&root, &["log", "-1", "--format=%B", "kiln/fix"]);
    assert!(message.contains(&format!("export run {run}")), "{message}");
    // The branch exists now: refused, nothing changes.
    let again = kiln.run(&["export", &run, "--yes", "--git-branch", "kiln/fix"]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn zip_holds_the_final_files() {
    let kiln = Kiln::new();
    let root = project(&kiln);
    let run = run_with(
        &kiln,
        &root,
        &[("a.py", "v2\n"), ("pkg/c.py", "c\n")],
        &[("a.py", Some("v1\n"))],
    );
    let out = kiln.run(&["export", &run, "--yes", "--zip", "out.zip"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join("a.py")).unwrap(),
        "v1\n",
        "--zip alone does not write the project"
    );
    let file = std::fs::File::open(kiln.home().join("out.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["a.py", "pkg/c.py"]);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("a.py").unwrap(), &mut text).unwrap();
    assert_eq!(text, "v2\n");
}
