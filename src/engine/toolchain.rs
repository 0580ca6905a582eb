//! Finds the test toolchain of a project the way its user would, and turns it into a sandbox
//! plan: the command, the read-only binds (toolchain directories), the environment and a scratch
//! copy of the files under test that kiln owns.
//!
//! Python: the project's `.venv`, then `$VIRTUAL_ENV`, then each `python3` on `PATH`; the first
//! interpreter that can import pytest *inside the sandbox* wins (the probe runs sandboxed too:
//! a project's venv may hold code, and nothing of the project runs outside the sandbox). Rust:
//! `cargo` with the toolchain and `CARGO_HOME` bound read-only, `--offline`. JavaScript:
//! `node --test`. `[languages.<name>] test = [...]` in `kiln.toml` replaces the command.
//!
//! Invariants: the project directory is only read (the scratch copy is what the sandbox
//! writes); when kiln runs as root the scratch copy belongs to the sandbox's uid, so nothing asks
//! the user to chmod their project; when no toolchain is found the error says what to install.

mod javascript;
mod python;
mod rust;
mod scratch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::env::Env;
use crate::engine::sandbox::{HumanDuration, RunSpec, Sandbox, SandboxConfig};

pub use scratch::{SANDBOX_UID, Scratch};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable toolchain: `tried` lists what was looked at, `install` says what to do.
    #[error("no {language} test toolchain found for '{}': {tried}. {install}", root.display())]
    NotFound {
        language: TestLanguage,
        root: PathBuf,
        tried: String,
        install: String,
    },
    #[error(
        "cannot tell the language of '{}': no pyproject.toml, setup.py, test_*.py, Cargo.toml or package.json; pass the language explicitly",
        root.display()
    )]
    UnknownLanguage { root: PathBuf },
    #[error("'{}' is not a directory; pass a project directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("the project '{}' is too big to copy for a test run ({what}); exclude it or raise the limit", root.display())]
    TooBig { root: PathBuf, what: String },
    #[error("unsafe path '{path}' in the files under test: {reason}")]
    BadPath { path: String, reason: String },
    #[error("cannot prepare the test run: {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sandbox(#[from] crate::engine::sandbox::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// A language kiln can run tests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestLanguage {
    Python,
    Rust,
    JavaScript,
}

impl TestLanguage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Rust => "rust",
            Self::JavaScript => "javascript",
        }
    }

    /// `python`/`py`, `rust`/`rs`, `javascript`/`js`/`node`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "py" | "python3" => Some(Self::Python),
            "rust" | "rs" => Some(Self::Rust),
            "javascript" | "js" | "node" => Some(Self::JavaScript),
            _ => None,
        }
    }

    /// The language of the project at `root`, from its manifest files.
    pub fn detect(root: &Path) -> Option<Self> {
        let has = |name: &str| root.join(name).exists();
        if has("Cargo.toml") {
            return Some(Self::Rust);
        }
        if [
            "pyproject.toml",
            "setup.py",
            "setup.cfg",
            "pytest.ini",
            "conftest.py",
        ]
        .iter()
        .any(|f| has(f))
        {
            return Some(Self::Python);
        }
        if has("package.json") {
            return Some(Self::JavaScript);
        }
        let has_ext = |dir: &Path, exts: &[&str]| {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    Path::new(&e.file_name())
                        .extension()
                        .is_some_and(|x| exts.iter().any(|want| x == *want))
                })
        };
        if has_ext(root, &["py"]) || has_ext(&root.join("tests"), &["py"]) {
            return Some(Self::Python);
        }
        if has_ext(root, &["js", "mjs", "cjs"]) || has_ext(&root.join("test"), &["js", "mjs"]) {
            return Some(Self::JavaScript);
        }
        None
    }
}

impl std::fmt::Display for TestLanguage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[languages]` section of the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LanguagesConfig {
    pub python: LanguageConfig,
    pub rust: LanguageConfig,
    pub javascript: LanguageConfig,
}

impl LanguagesConfig {
    pub fn get(&self, language: TestLanguage) -> &LanguageConfig {
        match language {
            TestLanguage::Python => &self.python,
            TestLanguage::Rust => &self.rust,
            TestLanguage::JavaScript => &self.javascript,
        }
    }
}

/// `[languages.<name>]`: how to run one language's tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LanguageConfig {
    /// The test command, run in the scratch copy inside the sandbox (replaces kiln's choice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Extra host paths bound read-only for this language's test runs.
    pub ro: Vec<PathBuf>,
    /// Wall-clock and CPU limit of a test run (at least the language's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// Where the per-test results come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportSource {
    /// A JUnit XML file pytest writes (host path, inside the scratch copy).
    JunitXml(PathBuf),
    /// `cargo test`'s libtest output on stdout/stderr.
    CargoText,
    /// node's TAP reporter on stdout.
    Tap,
}

/// Everything needed to run a project's tests in the sandbox.
#[derive(Debug)]
pub struct TestPlan {
    pub language: TestLanguage,
    /// What was found, for the log and the summary (e.g. `python3 '/p/.venv/bin/python'`).
    pub toolchain: String,
    /// The whole sandbox run: argv, read-only binds, environment, limits, the scratch workdir.
    pub spec: RunSpec,
    pub report: ReportSource,
    /// The copy of the files under test; removed when the plan is dropped.
    pub scratch: Scratch,
    /// Maps the scratch copy's paths back to the project's (`file` of a test result).
    pub root: PathBuf,
}

/// What to plan for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// The project directory (read only: copied into the scratch directory).
    pub root: PathBuf,
    /// Detected from `root` when `None`.
    pub language: Option<TestLanguage>,
    /// Files written over the project's in the scratch copy (generated code), relative paths.
    pub overlay: Vec<(String, Vec<u8>)>,
    pub languages: LanguagesConfig,
    pub sandbox: SandboxConfig,
    pub env: Env,
    /// Where the scratch copy is made (kiln's runtime directory, e.g. `$TMPDIR`).
    pub scratch_parent: PathBuf,
}

/// A candidate toolchain: argv prefix, binds and environment, before the scratch exists.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) description: String,
    pub(crate) argv: Vec<String>,
    pub(crate) ro: Vec<PathBuf>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) report: Report,
    /// The smallest limits this toolchain needs (compilers need more than the defaults).
    pub(crate) minimum: Minimum,
    /// Links made in the scratch copy (relative path, target), e.g. `node_modules`.
    pub(crate) links: Vec<(String, PathBuf)>,
}

/// How the report is produced, before the scratch path is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Junit,
    Cargo,
    Tap,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Minimum {
    pub(crate) timeout: Duration,
    pub(crate) memory: u64,
    pub(crate) pids: u64,
    pub(crate) disk: u64,
}

/// Where pytest writes its report, relative to the scratch copy.
pub const JUNIT_FILE: &str = ".kiln-junit.xml";

/// Finds the toolchain, makes the scratch copy and returns the plan.
pub async fn plan(sandbox: &Sandbox, req: &PlanRequest) -> Result<TestPlan, Error> {
    let language = match req.language {
        Some(l) => l,
        None => TestLanguage::detect(&req.root).ok_or_else(|| Error::UnknownLanguage {
            root: req.root.clone(),
        })?,
    };
    let config = req.languages.get(language);
    let found = match (&config.test, language) {
        (Some(argv), _) if !argv.is_empty() => custom(language, argv),
        (_, TestLanguage::Python) => python::find(sandbox, req).await?,
        (_, TestLanguage::Rust) => rust::find(req).await?,
        (_, TestLanguage::JavaScript) => javascript::find(req)?,
    };
    let root = req.root.clone();
    let overlay = req.overlay.clone();
    let parent = req.scratch_parent.clone();
    let links = found.links.clone();
    let scratch =
        tokio::task::spawn_blocking(move || Scratch::copy(&root, &overlay, &parent, &links))
            .await
            .map_err(|e| Error::Io {
                what: "copy the files under test".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
    Ok(assemble(req, language, found, config, scratch))
}

fn custom(language: TestLanguage, argv: &[String]) -> Found {
    Found {
        description: format!("[languages.{language}] test = {argv:?}"),
        argv: argv.to_vec(),
        ro: Vec::new(),
        env: Vec::new(),
        report: match language {
            TestLanguage::Python => Report::Junit,
            TestLanguage::Rust => Report::Cargo,
            TestLanguage::JavaScript => Report::Tap,
        },
        minimum: default_minimum(language),
        links: Vec::new(),
    }
}

pub(crate) fn default_minimum(language: TestLanguage) -> Minimum {
    match language {
        TestLanguage::Python | TestLanguage::JavaScript => Minimum {
            timeout: Duration::from_secs(120),
            memory: 1 << 30,
            pids: 64,
            disk: 256 << 20,
        },
        TestLanguage::Rust => Minimum {
            timeout: Duration::from_secs(600),
            memory: 4 << 30,
            pids: 512,
            disk: 4 << 30,
        },
    }
}

fn assemble(
    req: &PlanRequest,
    language: TestLanguage,
    found: Found,
    config: &LanguageConfig,
    scratch: Scratch,
) -> TestPlan {
    let work = scratch.path().to_path_buf();
    let mut argv = found.argv;
    let report = match found.report {
        Report::Junit => {
            let file = work.join(JUNIT_FILE);
            let mentions_pytest = argv.iter().any(|a| a.contains("pytest"));
            if mentions_pytest && !argv.iter().any(|a| a.starts_with("--junitxml")) {
                argv.push(format!("--junitxml={}", file.display()));
                argv.extend(["-o".into(), "junit_family=xunit1".into()]);
            }
            ReportSource::JunitXml(file)
        }
        Report::Cargo => ReportSource::CargoText,
        Report::Tap => ReportSource::Tap,
    };
    let mut spec = RunSpec::new(argv, &req.sandbox, &req.env);
    spec.env = RunSpec::scrubbed_env(&req.env, &req.sandbox.env, &found.env);
    spec.workdir = Some(work);
    for p in found.ro.into_iter().chain(config.ro.iter().cloned()) {
        if !spec.ro.contains(&p) {
            spec.ro.push(p);
        }
    }
    let min = found.minimum;
    let timeout = config.timeout.map_or(min.timeout, |t| t.0);
    spec.timeout = spec.timeout.max(timeout);
    spec.cpu = spec.cpu.max(timeout);
    spec.memory = spec.memory.max(min.memory);
    spec.pids = spec.pids.max(min.pids);
    spec.disk = spec.disk.max(min.disk);
    TestPlan {
        language,
        toolchain: found.description,
        spec,
        report,
        scratch,
        root: req.root.clone(),
    }
}

/// Whether `dir` is already in every sandbox's root (`/usr`, `/bin`, `/lib*`...).
pub(crate) fn in_base_root(dir: &Path) -> bool {
    [
        "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
    ]
    .iter()
    .any(|base| dir.starts_with(base))
}

/// Every `name` executable on `PATH`, in order, without duplicates.
pub(crate) fn on_path(env: &Env, name: &str) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env.get("PATH").unwrap_or("/usr/local/bin:/usr/bin:/bin");
    let mut out: Vec<PathBuf> = Vec::new();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable && !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_languages_from_manifests() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(TestLanguage::detect(dir.path()), None);
        std::fs::write(dir.path().join("test_x.py"), "").unwrap();
        assert_eq!(TestLanguage::detect(dir.path()), Some(TestLanguage::Python));
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(TestLanguage::detect(dir.path()), Some(TestLanguage::Rust));
    }

    #[test]
    fn config_section_parses_and_rejects_unknown_keys() {
        let c: LanguagesConfig = toml::from_str(
            "[python]\ntest = [\"python3\", \"-m\", \"pytest\", \"-x\"]\ntimeout = \"5m\"\n",
        )
        .unwrap();
        assert_eq!(c.python.test.as_ref().unwrap().len(), 4);
        assert_eq!(c.python.timeout.unwrap().0, Duration::from_secs(300));
        assert!(toml::from_str::<LanguagesConfig>("[python]\nnope = 1").is_err());
    }
}
