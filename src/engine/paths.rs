//! Where kiln keeps its files, following the XDG base directory spec.
//!
//! `KILN_DATA_HOME`, `KILN_CONFIG_HOME` and `KILN_STATE_HOME` override the kiln directories
//! directly; otherwise `$XDG_*_HOME/kiln`, otherwise the XDG defaults under `$HOME`.

use std::path::{Path, PathBuf};

use super::env::Env;

/// The resolved kiln directories and database path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Holds the database (`kiln.db`).
    pub data_dir: PathBuf,
    /// Holds `config.toml` and user prompt overrides.
    pub config_dir: PathBuf,
    /// Holds log files.
    pub state_dir: PathBuf,
    /// The database file: `--db`, else `KILN_DB`, else `data_dir/kiln.db`.
    pub db: PathBuf,
}

/// Why the directories could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find a home directory: set HOME, or XDG_DATA_HOME, XDG_CONFIG_HOME and XDG_STATE_HOME"
)]
pub struct NoHomeError;

impl Paths {
    /// Resolves every path from the environment; `db_flag` is the `--db` command-line value.
    pub fn resolve(env: &Env, db_flag: Option<&Path>) -> Result<Self, NoHomeError> {
        let home = env.get("HOME").map(PathBuf::from);
        let dir = |kiln_var: &str, xdg_var: &str, fallback: &str| -> Result<PathBuf, NoHomeError> {
            if let Some(p) = env.get(kiln_var) {
                return Ok(PathBuf::from(p));
            }
            if let Some(p) = env.get(xdg_var).filter(|p| Path::new(p).is_absolute()) {
                return Ok(Path::new(p).join("kiln"));
            }
            home.as_ref()
                .map(|h| h.join(fallback).join("kiln"))
                .ok_or(NoHomeError)
        };
        let data_dir = dir("KILN_DATA_HOME", "XDG_DATA_HOME", ".local/share")?;
        let config_dir = dir("KILN_CONFIG_HOME", "XDG_CONFIG_HOME", ".config")?;
        let state_dir = dir("KILN_STATE_HOME", "XDG_STATE_HOME", ".local/state")?;
        let db = db_flag
            .map(Path::to_path_buf)
            .or_else(|| env.get("KILN_DB").map(PathBuf::from))
            .unwrap_or_else(|| data_dir.join("kiln.db"));
        Ok(Self {
            data_dir,
            config_dir,
            state_dir,
            db,
        })
    }

    /// The user's config file.
    pub fn user_config(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_vars_win_over_home_and_kiln_vars_win_over_xdg() {
        let env = Env::from_pairs([
            ("HOME", "/home/u"),
            ("XDG_DATA_HOME", "/xdg/data"),
            ("KILN_STATE_HOME", "/k/state"),
        ]);
        let p = Paths::resolve(&env, None).unwrap();
        assert_eq!(p.data_dir, PathBuf::from("/xdg/data/kiln"));
        assert_eq!(p.config_dir, PathBuf::from("/home/u/.config/kiln"));
        assert_eq!(p.state_dir, PathBuf::from("/k/state"));
        assert_eq!(p.db, PathBuf::from("/xdg/data/kiln/kiln.db"));
    }

    #[test]
    fn db_flag_beats_env() {
        let env = Env::from_pairs([("HOME", "/h"), ("KILN_DB", "/env.db")]);
        assert_eq!(
            Paths::resolve(&env, None).unwrap().db,
            PathBuf::from("/env.db")
        );
        let flag = Paths::resolve(&env, Some(Path::new("/flag.db"))).unwrap();
        assert_eq!(flag.db, PathBuf::from("/flag.db"));
    }

    #[test]
    fn relative_xdg_is_ignored_and_no_home_is_an_error() {
        let env = Env::from_pairs([("XDG_DATA_HOME", "rel")]);
        assert!(Paths::resolve(&env, None).is_err());
    }
}
