//! The `test_run` stage's toolchains and output parsers: where the tests of a run execute
//! (a scratch copy kiln owns, run in the sandbox) and how their output becomes per-test results.
//!
//! The toolchain is found the way a user expects: Python uses the project's `.venv`, then
//! `$VIRTUAL_ENV`, then a `python3` on `PATH` that has pytest; Rust uses the active toolchain's
//! `cargo` offline with the cargo home read-only; JavaScript uses `node --test`. What was found is
//! bound read-only into the sandbox. The scratch copy is world-writable because the sandbox drops
//! host root to an unprivileged uid; nothing asks the user to chmod their project.
//!
//! (The runner helper's `engine::testing` module replaces the finders and parsers here when
//! it lands; the stage only needs [`prepare`] and [`parse_output`].)

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Error;
use super::language::Lang;
use super::state::{TestCase, TestReport};
use crate::engine::env::Env;
use crate::engine::sandbox::{RunSpec, SandboxConfig};

/// A scratch copy of the run's files and the sandbox spec that runs their tests.
#[derive(Debug)]
pub struct Prepared {
    pub dir: tempfile::TempDir,
    pub spec: RunSpec,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Writes `files` into a fresh scratch directory under `tmp` and builds the spec.
pub fn prepare(
    lang: Lang,
    files: &BTreeMap<String, String>,
    project_root: Option<&Path>,
    tmp: &Path,
    config: &SandboxConfig,
    env: &Env,
) -> Result<Prepared, Error> {
    let dir = tempfile::Builder::new()
        .prefix("kiln-run-")
        .tempdir_in(tmp)
        .map_err(io("cannot create the test scratch directory"))?;
    let world =
        |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    world(dir.path(), 0o777).map_err(io("cannot open the scratch directory to the sandbox"))?;
    for (rel, content) in files {
        let path =
            crate::engine::llm::parse::safe_path(dir.path(), rel).map_err(|e| Error::Stage {
                stage: "test_run".into(),
                message: e.to_string(),
            })?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("cannot create '{rel}'")))?;
            let mut d = parent;
            while d != dir.path() {
                let _ = world(d, 0o777);
                d = d.parent().unwrap_or(dir.path());
            }
        }
        std::fs::write(&path, content).map_err(io(format!("cannot write '{rel}'")))?;
        let _ = world(&path, 0o666);
    }
    let mut spec = RunSpec::new(Vec::new(), config, env);
    spec.workdir = Some(dir.path().to_path_buf());
    match lang {
        Lang::Python => python(&mut spec, project_root, env)?,
        Lang::Rust => rust(&mut spec, env)?,
        Lang::Javascript => node(&mut spec, env)?,
    }
    Ok(Prepared { dir, spec })
}

fn missing(lang: Lang, what: &str) -> Error {
    Error::Stage {
        stage: "test_run".into(),
        message: format!("no {} test toolchain found: {what}", lang.as_str()),
    }
}

/// `name` on the snapshot's `PATH`.
fn which(env: &Env, name: &str) -> Option<PathBuf> {
    env.get("PATH")
        .unwrap_or("/usr/local/bin:/usr/bin:/bin")
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn set_env(spec: &mut RunSpec, key: &str, value: &str) {
    spec.env.retain(|(k, _)| k != key);
    spec.env.push((key.to_owned(), value.to_owned()));
}

fn python(spec: &mut RunSpec, root: Option<&Path>, env: &Env) -> Result<(), Error> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(root) = root {
        candidates.push(root.join(".venv/bin/python"));
    }
    if let Some(venv) = env.get("VIRTUAL_ENV") {
        candidates.push(Path::new(venv).join("bin/python"));
    }
    candidates.extend(which(env, "python3"));
    candidates.push("/usr/bin/python3".into());
    for python in candidates.iter().filter(|p| p.is_file()) {
        // A host Python (not generated code) tells us whether it has pytest and where it lives.
        let Ok(out) = std::process::Command::new(python)
            .args([
                "-c",
                "import pytest, sys; print(sys.prefix); print(sys.base_prefix)",
            ])
            .env_clear()
            .output()
        else {
            continue;
        };
        if !out.status.success() {
            continue;
        }
        for prefix in String::from_utf8_lossy(&out.stdout).lines() {
            let p = PathBuf::from(prefix.trim());
            if p.is_dir() && !p.starts_with("/usr") && !spec.ro.contains(&p) {
                spec.ro.push(p);
            }
        }
        spec.argv = vec![
            python.display().to_string(),
            "-m".into(),
            "pytest".into(),
            "-q".into(),
            "-rA".into(),
            "-p".into(),
            "no:cacheprovider".into(),
            "--color=no".into(),
        ];
        set_env(spec, "PYTHONDONTWRITEBYTECODE", "1");
        spec.timeout = spec.timeout.max(Duration::from_secs(60));
        spec.cpu = spec.cpu.max(Duration::from_secs(60));
        return Ok(());
    }
    Err(missing(
        Lang::Python,
        "no Python with pytest (looked at the project's .venv, $VIRTUAL_ENV and python3 on PATH); install pytest there (`pip install pytest`, or `apt install python3-pytest`)",
    ))
}

fn rust(spec: &mut RunSpec, env: &Env) -> Result<(), Error> {
    let rustc = which(env, "rustc").ok_or_else(|| {
        missing(
            Lang::Rust,
            "no rustc on PATH; install Rust with rustup (https://rustup.rs)",
        )
    })?;
    let sysroot = std::process::Command::new(&rustc)
        .args(["--print", "sysroot"])
        .env_clear()
        .envs(env.get("HOME").map(|h| ("HOME", h)))
        .envs(env.get("RUSTUP_HOME").map(|h| ("RUSTUP_HOME", h)))
        .envs(env.get("RUSTUP_TOOLCHAIN").map(|h| ("RUSTUP_TOOLCHAIN", h)))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .ok_or_else(|| missing(Lang::Rust, "`rustc --print sysroot` failed"))?;
    let cargo = sysroot.join("bin/cargo");
    if !cargo.is_file() {
        return Err(missing(Lang::Rust, "the toolchain has no cargo"));
    }
    let cargo_home = env
        .get("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cargo")))
        .filter(|p| p.is_dir());
    spec.ro.push(sysroot.clone());
    if let Some(home) = &cargo_home {
        spec.ro.push(home.clone());
        set_env(spec, "CARGO_HOME", &home.display().to_string());
    }
    let tc = sysroot.display().to_string();
    set_env(spec, "PATH", &format!("{tc}/bin:/usr/bin:/bin"));
    set_env(spec, "RUSTC", &format!("{tc}/bin/rustc"));
    set_env(spec, "CARGO_TARGET_DIR", "/tmp/target");
    set_env(spec, "CARGO_NET_OFFLINE", "true");
    spec.argv = vec![
        cargo.display().to_string(),
        "test".into(),
        "--offline".into(),
        "--color".into(),
        "never".into(),
    ];
    spec.timeout = spec.timeout.max(Duration::from_secs(300));
    spec.cpu = spec.cpu.max(Duration::from_secs(300));
    spec.memory = spec.memory.max(2 << 30);
    spec.pids = spec.pids.max(256);
    spec.disk = spec.disk.max(1 << 30);
    Ok(())
}

fn node(spec: &mut RunSpec, env: &Env) -> Result<(), Error> {
    let node = which(env, "node").ok_or_else(|| {
        missing(
            Lang::Javascript,
            "no node on PATH; install Node.js 18 or newer",
        )
    })?;
    let real = node.canonicalize().unwrap_or_else(|_| node.clone());
    if let Some(prefix) = real.parent().and_then(Path::parent)
        && !prefix.starts_with("/usr")
    {
        spec.ro.push(prefix.to_path_buf());
    }
    spec.argv = vec![
        real.display().to_string(),
        "--test".into(),
        "--test-reporter=tap".into(),
    ];
    spec.timeout = spec.timeout.max(Duration::from_secs(60));
    spec.cpu = spec.cpu.max(Duration::from_secs(60));
    Ok(())
}

/// Per-test results from the tool's output.
pub fn parse_output(lang: Lang, lines: &[String], exit_code: u8) -> TestReport {
    let mut tests = match lang {
        Lang::Python => pytest(lines),
        Lang::Rust => cargo(lines),
        Lang::Javascript => tap(lines),
    };
    tests.dedup_by(|a, b| a.name == b.name);
    let count = |o: &str| tests.iter().filter(|t| t.outcome == o).count() as u32;
    let tail_from = lines.len().saturating_sub(60);
    TestReport {
        passed: count("passed"),
        failed: count("failed"),
        skipped: count("skipped"),
        errors: count("error"),
        exit_code,
        tail: lines[tail_from..]
            .iter()
            .map(|l| without_durations(l))
            .collect::<Vec<_>>()
            .join("\n"),
        tests,
    }
}

/// `l` with timings (`in 0.12s`, `(0.3ms)`, `duration_ms: 1.2`) blanked, so an unchanged
/// failure renders the same prompt (and hits the stage cache) every time.
fn without_durations(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut chars = l.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let prev_is_digit = out
            .chars()
            .last()
            .is_some_and(|p: char| p.is_ascii_digit() || p == '.');
        if c.is_ascii_digit() && !prev_is_digit {
            let start = i;
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let number = &l[start..end];
            let rest = &l[end..];
            if number.contains('.') && (rest.starts_with('s') || rest.starts_with("ms")) {
                out.push('…');
            } else {
                out.push_str(number);
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// pytest `-rA` short summary: `PASSED f.py::t`, `FAILED f.py::t - msg`, `SKIPPED [1] f.py:3: why`.
fn pytest(lines: &[String]) -> Vec<TestCase> {
    let mut out = Vec::new();
    for line in lines {
        for (word, outcome) in [
            ("PASSED ", "passed"),
            ("FAILED ", "failed"),
            ("ERROR ", "error"),
            ("SKIPPED ", "skipped"),
            ("XFAIL ", "skipped"),
        ] {
            let Some(rest) = line.strip_prefix(word) else {
                continue;
            };
            let (name, message) = match rest.split_once(" - ") {
                Some((n, m)) => (n.trim(), Some(m.trim().to_owned())),
                None => (rest.trim(), None),
            };
            let name = name
                .trim_start_matches(|c: char| c == '[' || c.is_ascii_digit() || c == ']')
                .trim();
            out.push(TestCase {
                name: name.to_owned(),
                outcome: outcome.to_owned(),
                message,
            });
        }
    }
    out
}

/// `test path::name ... ok | FAILED | ignored`.
fn cargo(lines: &[String]) -> Vec<TestCase> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("test ")?;
            let (name, result) = rest.rsplit_once(" ... ")?;
            let outcome = match result.trim() {
                "ok" => "passed",
                "FAILED" => "failed",
                r if r.starts_with("ignored") => "skipped",
                _ => return None,
            };
            Some(TestCase {
                name: name.trim().to_owned(),
                outcome: outcome.to_owned(),
                message: None,
            })
        })
        .collect()
}

/// TAP: `ok 1 - name`, `not ok 2 - name`, `# SKIP` / `# TODO` directives. Subtests are
/// indented; the suites that group them are counted too, like node does.
fn tap(lines: &[String]) -> Vec<TestCase> {
    lines
        .iter()
        .filter_map(|l| {
            let t = l.trim_start();
            let (ok, rest) = if let Some(r) = t.strip_prefix("not ok ") {
                (false, r)
            } else {
                (true, t.strip_prefix("ok ")?)
            };
            let rest = rest
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            let rest = rest.strip_prefix("- ").unwrap_or(rest);
            let (name, directive) = rest.split_once(" # ").unwrap_or((rest, ""));
            let d = directive.to_uppercase();
            let outcome = if d.starts_with("SKIP") || d.starts_with("TODO") {
                "skipped"
            } else if ok {
                "passed"
            } else {
                "failed"
            };
            Some(TestCase {
                name: name.trim().to_owned(),
                outcome: outcome.to_owned(),
                message: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_owned).collect()
    }

    #[test]
    fn parses_pytest_cargo_and_tap() {
        let r = parse_output(
            Lang::Python,
            &lines(
                ".F\n=== short test summary info ===\nPASSED test_c.py::test_a\nFAILED test_c.py::test_b - assert 1 == 2\nSKIPPED [1] test_c.py:9: later\n1 failed, 1 passed",
            ),
            1,
        );
        assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 1));
        assert_eq!(r.failing(), ["test_c.py::test_b"]);
        assert_eq!(
            without_durations("1 failed, 2 passed in 0.12s"),
            "1 failed, 2 passed in …s"
        );
        assert_eq!(
            without_durations("# duration_ms 3.5ms test 12"),
            "# duration_ms …ms test 12"
        );
        let r = parse_output(
            Lang::Rust,
            &lines("test adds ... ok\ntest subs ... FAILED\ntest later ... ignored\n"),
            101,
        );
        assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 1));
        let r = parse_output(
            Lang::Javascript,
            &lines(
                "TAP version 13\n# Subtest: adds\nok 1 - adds\n  ---\nnot ok 2 - subs\nok 3 - later # SKIP\n1..3\n",
            ),
            1,
        );
        assert_eq!((r.passed, r.failed, r.skipped), (1, 1, 1));
        assert_eq!(r.failing(), ["subs"]);
    }
}
