//! Python: the project's `.venv`, then `$VIRTUAL_ENV`, then each `python3` on `PATH`. Each
//! candidate is resolved without running it (the venv's `pyvenv.cfg`, symlinks), then probed
//! inside the sandbox with the binds the test run will get: the first that imports pytest wins.
//! A project venv without pytest is an error of its own (the user expects that venv to be used).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Error, Found, PlanRequest, Report, TestLanguage, default_minimum, in_base_root, on_path,
};
use crate::engine::sandbox::{RunSpec, Sandbox, Termination};

const INSTALL: &str = "Install pytest: 'python3 -m venv .venv && .venv/bin/pip install pytest' in the project, or 'apt install python3-pytest', or set [languages.python] test = [...] in kiln.toml";

/// One interpreter to try.
struct Candidate {
    what: String,
    python: PathBuf,
    ro: Vec<PathBuf>,
    venv: Option<PathBuf>,
    /// A failing probe ends the search (the project's own venv).
    decisive: bool,
}

pub(super) async fn find(sandbox: &Sandbox, req: &PlanRequest) -> Result<Found, Error> {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    let project_venv = req.root.join(".venv");
    if project_venv.join("bin/python").exists() {
        match venv(&project_venv, "the project's .venv") {
            Ok(mut c) => {
                c.decisive = true;
                candidates.push(c);
            }
            Err(why) => tried.push(why),
        }
    } else {
        tried.push("no .venv in the project".to_owned());
    }
    match req.env.get("VIRTUAL_ENV") {
        Some(v) => match venv(Path::new(v), "$VIRTUAL_ENV") {
            Ok(c) => candidates.push(c),
            Err(why) => tried.push(why),
        },
        None => tried.push("$VIRTUAL_ENV is not set".to_owned()),
    }
    let on_path = on_path(&req.env, "python3");
    if on_path.is_empty() {
        tried.push("no python3 on PATH".to_owned());
    }
    for exe in on_path {
        match interpreter(&exe) {
            Ok(c) => candidates.push(c),
            Err(why) => tried.push(why),
        }
    }
    for c in candidates {
        if probe(sandbox, req, &c).await? {
            let mut env = vec![
                ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
                ("PYTHONUNBUFFERED".to_owned(), "1".to_owned()),
            ];
            if let Some(venv) = &c.venv {
                let path = req
                    .env
                    .get("PATH")
                    .unwrap_or("/usr/local/bin:/usr/bin:/bin");
                env.push(("VIRTUAL_ENV".into(), venv.display().to_string()));
                env.push(("PATH".into(), format!("{}/bin:{path}", venv.display())));
            }
            return Ok(Found {
                description: format!("{} '{}'", c.what, c.python.display()),
                argv: vec![
                    c.python.display().to_string(),
                    "-m".into(),
                    "pytest".into(),
                    "-p".into(),
                    "no:cacheprovider".into(),
                ],
                ro: c.ro,
                env,
                report: Report::Junit,
                minimum: default_minimum(TestLanguage::Python),
                links: Vec::new(),
            });
        }
        tried.push(format!(
            "{} '{}' cannot import pytest",
            c.what,
            c.python.display()
        ));
        if c.decisive {
            return Err(Error::NotFound {
                language: TestLanguage::Python,
                root: req.root.clone(),
                tried: tried.join("; "),
                install: format!(
                    "Install pytest into the project's venv: '{}/bin/pip install pytest'",
                    project_venv.display()
                ),
            });
        }
    }
    Err(Error::NotFound {
        language: TestLanguage::Python,
        root: req.root.clone(),
        tried: tried.join("; "),
        install: INSTALL.to_owned(),
    })
}

/// A virtual environment: its interpreter, the venv and its base interpreter's prefix.
fn venv(dir: &Path, what: &str) -> Result<Candidate, String> {
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{what} '{}': {e}", dir.display()))?;
    let python = dir.join("bin/python");
    if !python.exists() {
        return Err(format!("{what} '{}' has no bin/python", dir.display()));
    }
    let mut ro = vec![dir.clone()];
    // The base interpreter: `home` in pyvenv.cfg, and wherever bin/python links to.
    let cfg = std::fs::read_to_string(dir.join("pyvenv.cfg")).unwrap_or_default();
    let home = cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "home").then(|| PathBuf::from(v.trim()))
    });
    let linked = std::fs::canonicalize(&python).ok();
    for bin in home
        .into_iter()
        .chain(linked.and_then(|p| p.parent().map(Path::to_path_buf)))
    {
        if let Some(prefix) = prefix_of(&bin)
            && !ro.iter().any(|r| prefix.starts_with(r))
        {
            ro.push(prefix);
        }
    }
    Ok(Candidate {
        what: what.to_owned(),
        python,
        ro,
        venv: Some(dir),
        decisive: false,
    })
}

/// A `python3` found on PATH, resolved to the real interpreter (not a shim script).
fn interpreter(exe: &Path) -> Result<Candidate, String> {
    let real = std::fs::canonicalize(exe).map_err(|e| format!("'{}': {e}", exe.display()))?;
    let mut head = [0u8; 2];
    if std::fs::File::open(&real)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"#!"
    {
        return Err(format!(
            "python3 on PATH '{}' is a script (a shim), not an interpreter",
            exe.display()
        ));
    }
    let ro = real
        .parent()
        .and_then(prefix_of)
        .into_iter()
        .collect::<Vec<_>>();
    Ok(Candidate {
        what: "python3 on PATH".into(),
        python: real,
        ro,
        venv: None,
        decisive: false,
    })
}

/// The installation prefix of a `bin` directory, when the sandbox's root lacks it.
fn prefix_of(bin: &Path) -> Option<PathBuf> {
    let bin = std::fs::canonicalize(bin).ok()?;
    let prefix = if bin.ends_with("bin") {
        bin.parent()?.to_path_buf()
    } else {
        bin
    };
    (!in_base_root(&prefix) && prefix != Path::new("/")).then_some(prefix)
}

/// Whether `python -I -c 'import pytest'` succeeds in the sandbox with the candidate's binds.
async fn probe(sandbox: &Sandbox, req: &PlanRequest, c: &Candidate) -> Result<bool, Error> {
    let argv = vec![
        c.python.display().to_string(),
        "-I".into(),
        "-c".into(),
        "import pytest".into(),
    ];
    let mut spec = RunSpec::new(argv, &req.sandbox, &req.env);
    spec.ro.extend(c.ro.iter().cloned());
    spec.timeout = spec.timeout.max(Duration::from_secs(30));
    spec.cpu = spec.cpu.max(Duration::from_secs(30));
    let outcome = sandbox.start(&spec)?.wait().await?;
    tracing::debug!(python = %c.python.display(), ?outcome.termination, "pytest probe");
    Ok(outcome.termination == Termination::Exited(0) && outcome.limit.is_none())
}
