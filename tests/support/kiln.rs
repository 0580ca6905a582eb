//! Running the real `kiln` binary with HOME and the XDG directories in a temp dir and a clean
//! environment (no API keys leak in from the machine running the tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Kiln {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Kiln {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let env = vec![
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                dir.path().join("config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".into(),
                dir.path().join("data").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".into(),
                dir.path().join("state").display().to_string(),
            ),
            ("NO_COLOR".into(), "1".into()),
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ];
        Self { dir, env }
    }

    /// Adds an environment variable for every later run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config/kiln")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/kiln")
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data/kiln/kiln.db")
    }

    /// Writes `config.toml`.
    pub fn config(&self, toml: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("config dir");
        std::fs::write(self.config_dir().join("config.toml"), toml).expect("write config");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run kiln");
        Run::from(output)
    }
}

/// A finished kiln process.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}
