//! Running the real `kiln` binary in a temp world: HOME and the XDG directories inside one temp
//! dir, a clean environment (no API keys or config leak in from the machine running the tests),
//! `NO_COLOR=1`, and the temp dir as the working directory. Tests never mutate this process's
//! environment; extra variables go through [`Kiln::env`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Kiln {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Kiln {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kiln-test-")
            .tempdir()
            .expect("create a temp home");
        let root = dir.path();
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let env = vec![
            ("HOME".into(), root.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                root.join("config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".into(),
                root.join("data").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".into(),
                root.join("state").display().to_string(),
            ),
            ("NO_COLOR".into(), "1".into()),
            ("PATH".into(), path),
        ];
        Self { dir, env }
    }

    /// The temp world's root: HOME and the working directory of every command.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Adds an environment variable for every later run.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The environment every command gets (for tools that start kiln themselves, like tmux).
    pub fn vars(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home().join("config/kiln")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home().join("state/kiln")
    }

    /// The same world for an in-process engine: its environment snapshot (this world's
    /// variables plus `extra`) and the paths it resolves to, the data directory created.
    pub fn engine_world(
        &self,
        extra: &[(&str, &str)],
    ) -> (kiln::engine::env::Env, kiln::engine::paths::Paths) {
        let env = kiln::engine::env::Env::from_pairs(
            self.env.iter().map(|(k, v)| (k.clone(), v.clone())).chain(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            ),
        );
        let paths = kiln::engine::paths::Paths::resolve(&env, None).expect("resolve the paths");
        std::fs::create_dir_all(&paths.data_dir).expect("create the data directory");
        (env, paths)
    }

    /// Where the database lands by default.
    pub fn db(&self) -> PathBuf {
        self.home().join("data/kiln/kiln.db")
    }

    /// Writes the user's `config.toml`.
    pub fn config(&self, toml: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("config dir");
        std::fs::write(self.config_dir().join("config.toml"), toml).expect("write config");
    }

    /// A `kiln` command with the temp world's environment and no arguments yet.
    pub fn cmd(&self) -> Command {
        self.cmd_of(env!("CARGO_BIN_EXE_kiln"))
    }

    /// Like [`Kiln::cmd`] for another copy of the binary (e.g. one every user may execute).
    pub fn cmd_of(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.home());
        cmd
    }

    /// `kiln ARGS`, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.cmd();
        cmd.args(args);
        cmd
    }

    /// Runs `kiln ARGS` to completion.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run kiln")
    }

    /// Runs `kiln ARGS` to completion, with its output decoded.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.output(args))
    }

    /// Runs `kiln ARGS`, asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed: {}",
            describe(&out)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `kiln ARGS`, asserts it failed with exit code 2 and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "kiln {args:?} should fail: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
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

pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// SHA-256 of a file, to prove it was not modified.
pub fn digest(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        std::fs::read(path).expect("read file"),
    ))
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
