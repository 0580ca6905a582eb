//! Runs the real `kiln` binary with HOME and the XDG directories inside a temp dir, so tests
//! never touch the user's files and never mutate this process's environment.

#![allow(dead_code, unreachable_pub)] // each test crate uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Kiln {
    pub home: tempfile::TempDir,
}

impl Kiln {
    pub fn new() -> Self {
        Self {
            home: tempfile::tempdir().expect("create a temp home"),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Where the database lands by default.
    pub fn db(&self) -> PathBuf {
        self.home().join("data/kiln/kiln.db")
    }

    /// A `kiln` command with a clean environment rooted in the temp home.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_DATA_HOME", self.home().join("data"))
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env("XDG_STATE_HOME", self.home().join("state"))
            .env("NO_COLOR", "1")
            .current_dir(self.home());
        cmd
    }

    /// Runs `kiln ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run kiln")
    }

    /// Runs `kiln ARGS`, asserts success and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed: {}",
            describe(&out)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `kiln ARGS`, asserts it failed with exit code 2 and returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "kiln {args:?} should fail: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
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
