//! `--git-branch NAME`: commits the exported files on a new branch with git's plumbing and a
//! temporary index (`read-tree`, `hash-object`, `update-index`, `write-tree`, `commit-tree`,
//! `update-ref` that requires the branch not to exist), so the user's worktree, index, `HEAD`
//! and current branch are exactly as they were. The commit's parent is `HEAD`.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Error, ExportPlan, PlannedFile, message};
use crate::engine::env::Env;

pub(super) fn commit_on_branch(
    plan: &ExportPlan,
    files: &[&PlannedFile],
    branch: &str,
    env: &Env,
) -> Result<String, Error> {
    let fail = |message: String| Error::Git {
        branch: branch.to_owned(),
        message,
    };
    let index_dir = tempfile::tempdir().map_err(|e| fail(format!("temporary index: {e}")))?;
    let index = index_dir.path().join("index");
    let git = Git {
        root: &plan.root,
        env,
        index: &index,
        branch,
    };
    git.run(&["check-ref-format", "--branch", branch], None)
        .map_err(|_| fail("not a valid branch name".into()))?;
    let top = git
        .run(&["rev-parse", "--show-toplevel"], None)
        .map_err(|e| {
            fail(format!(
                "'{}' is not in a git repository ({e})",
                plan.root.display()
            ))
        })?;
    let top = std::fs::canonicalize(top.trim()).map_err(|e| fail(e.to_string()))?;
    let prefix = plan.root.strip_prefix(&top).unwrap_or(Path::new(""));
    if git
        .run(
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
            None,
        )
        .is_ok()
    {
        return Err(fail("the branch already exists; pick a new name".into()));
    }
    let head = git
        .run(&["rev-parse", "--verify", "--quiet", "HEAD"], None)
        .ok();
    if head.is_some() {
        git.run(&["read-tree", "HEAD"], None)?;
    }
    for f in files {
        let blob = git.run(&["hash-object", "-w", "--stdin"], Some(f.content()))?;
        let executable =
            std::fs::metadata(&f.target).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        let mode = if executable { "100755" } else { "100644" };
        let path = prefix.join(&f.path);
        git.run(
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("{mode},{},{}", blob.trim(), path.display()),
            ],
            None,
        )?;
    }
    let tree = git.run(&["write-tree"], None)?;
    let msg = message(plan, files);
    let mut args = vec!["commit-tree", tree.trim(), "-m", &msg];
    let parent = head
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if !parent.is_empty() {
        args.extend(["-p", &parent]);
    }
    let commit = git.run(&args, None)?;
    let commit = commit.trim().to_owned();
    // An empty old value: the update fails if the branch appeared meanwhile.
    git.run(
        &["update-ref", &format!("refs/heads/{branch}"), &commit, ""],
        None,
    )?;
    Ok(commit)
}

struct Git<'a> {
    root: &'a Path,
    env: &'a Env,
    index: &'a Path,
    branch: &'a str,
}

impl Git<'_> {
    /// Runs `git ARGS` in the root with the temporary index; stdout on success.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String, Error> {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(self.root)
            .args(args)
            .env_clear()
            .env("GIT_INDEX_FILE", self.index)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in ["PATH", "HOME", "XDG_CONFIG_HOME", "LANG"] {
            if let Some(v) = self.env.get(name) {
                cmd.env(name, v);
            }
        }
        // A commit needs an identity; when none is configured, kiln signs as itself.
        for (name, value) in [
            ("GIT_AUTHOR_NAME", "kiln"),
            ("GIT_AUTHOR_EMAIL", "kiln@localhost"),
            ("GIT_COMMITTER_NAME", "kiln"),
            ("GIT_COMMITTER_EMAIL", "kiln@localhost"),
        ] {
            match self.env.get(name) {
                Some(v) => cmd.env(name, v),
                None if !self.has_identity() => cmd.env(name, value),
                None => &mut cmd,
            };
        }
        let fail = |message: String| Error::Git {
            branch: self.branch.to_owned(),
            message,
        };
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot run git (is it installed?): {e}")))?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(data).map_err(|e| fail(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(fail(format!(
                "git {} failed: {err}",
                args.first().unwrap_or(&"")
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn has_identity(&self) -> bool {
        let ask = |key: &str| {
            let mut cmd = Command::new("git");
            cmd.arg("-C")
                .arg(self.root)
                .args(["config", key])
                .env_clear();
            for name in ["PATH", "HOME", "XDG_CONFIG_HOME"] {
                if let Some(v) = self.env.get(name) {
                    cmd.env(name, v);
                }
            }
            cmd.output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        };
        ask("user.name") && ask("user.email")
    }
}
