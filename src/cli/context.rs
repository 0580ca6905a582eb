//! What every subcommand gets: the environment snapshot, resolved paths, the effective config
//! and the output format. Resolved once here, passed down everywhere.

use std::path::PathBuf;

use anyhow::Context as _;
use kiln::engine::config::{self, Loaded, ProjectFile, Trust};
use kiln::engine::env::Env;
use kiln::engine::paths::Paths;
use kiln::engine::store::Store;
use kiln::engine::{Engine, EngineHandle, EngineOptions};

use super::{Format, GlobalArgs};
use crate::logging::{self, LogGuard};

#[allow(dead_code)] // some fields serve subcommands that land with later issues
pub(crate) struct Context {
    pub(crate) env: Env,
    pub(crate) cwd: PathBuf,
    pub(crate) paths: Paths,
    pub(crate) config: Loaded,
    pub(crate) format: Format,
    /// -q is negative, -v positive.
    pub(crate) verbosity: i8,
    /// The project config file in effect, if any.
    pub(crate) project_file: Option<PathBuf>,
    pub(crate) log: LogGuard,
}

impl Context {
    /// The CLI's one look at the process: its environment and working directory.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn new(global: &GlobalArgs) -> anyhow::Result<Self> {
        let env = Env::capture();
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let paths = Paths::resolve(&env, global.db.as_deref())?;
        let verbosity = global.verbose.min(3) as i8 - global.quiet.min(3) as i8;
        let log = logging::init(&paths.state_dir, env.get("KILN_LOG"), verbosity);
        let project_file = config::find_project_file(&cwd);
        let sources = config::Sources {
            user_file: Some(paths.user_config()),
            project_file: project_file.clone(),
            env: env.clone(),
            flags: global.set.clone(),
            uid: Some(nix::unistd::geteuid().as_raw()),
        };
        let db = paths.db.clone();
        let config = config::load_with(&sources, &mut |file| is_trusted(&db, file))?;
        tracing::debug!(db = %paths.db.display(), "starting");
        Ok(Self {
            env,
            cwd,
            paths,
            config,
            format: global.format,
            verbosity,
            project_file,
            log,
        })
    }

    /// Opens (creating on first use) the database. Only the default location gets its
    /// directory created: a missing directory in an explicit --db/KILN_DB path is an error.
    pub(crate) fn open_store(&self) -> anyhow::Result<Store> {
        self.create_data_dir()?;
        let store = Store::open(&self.paths.db, &self.config.config.store)?;
        self.say_interrupted(store.interrupted_at_open());
        Ok(store)
    }

    /// Starts the engine on the current tokio runtime (opening the database as
    /// [`Context::open_store`] does), for the subcommands that are front-ends of the engine API.
    pub(crate) fn start_engine(&self) -> anyhow::Result<EngineHandle> {
        self.start_engine_with(Engine::start)
    }

    /// The engine for one command that watches no other process's commits (no change feed).
    pub(crate) fn start_engine_without_feed(&self) -> anyhow::Result<EngineHandle> {
        self.start_engine_with(Engine::start_without_feed)
    }

    fn start_engine_with(
        &self,
        start: fn(EngineOptions) -> kiln::engine::Result<EngineHandle>,
    ) -> anyhow::Result<EngineHandle> {
        self.create_data_dir()?;
        let init_program = std::env::current_exe().context("cannot find the kiln executable")?;
        let engine = start(EngineOptions {
            paths: self.paths.clone(),
            config: self.config.config.clone(),
            env: self.env.clone(),
            init_program,
        })?;
        let ids: Vec<i64> = engine
            .interrupted_at_start()
            .iter()
            .map(|id| id.get())
            .collect();
        self.say_interrupted(&ids);
        Ok(engine)
    }

    fn create_data_dir(&self) -> anyhow::Result<()> {
        if self.paths.db == self.paths.data_dir.join("kiln.db") {
            std::fs::create_dir_all(&self.paths.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory '{}'",
                    self.paths.data_dir.display()
                )
            })?;
        }
        Ok(())
    }

    /// Opening the database for writing marked these runs interrupted: say so once.
    fn say_interrupted(&self, ids: &[i64]) {
        if !ids.is_empty() && self.verbosity >= 0 {
            let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
            eprintln!(
                "kiln: marked {} run{} interrupted (the kiln process running {} is gone): {}",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" },
                if ids.len() == 1 { "it" } else { "them" },
                list.join(", ")
            );
        }
    }

    /// Reads `path` as this directory's project file would be read, trusting nothing: what it
    /// sets that needs trust. `None` when it does not exist.
    pub(crate) fn inspect_project_file(
        &self,
        path: &std::path::Path,
    ) -> anyhow::Result<Option<ProjectFile>> {
        let sources = config::Sources {
            user_file: Some(self.paths.user_config()),
            project_file: Some(path.to_owned()),
            env: kiln::engine::env::Env::default(),
            flags: Vec::new(),
            uid: Some(nix::unistd::geteuid().as_raw()),
        };
        Ok(config::load(&sources)?.project)
    }

    /// Says once, on stderr, that the project file was not read or which of its keys were
    /// ignored, and how to change that. Quiet (`-q`) keeps it to the log.
    pub(crate) fn warn_about_project_file(&self) {
        let Some(file) = &self.config.project else {
            return;
        };
        if self.verbosity < 0 {
            return;
        }
        let path = kiln::engine::untrusted::inert(&file.path.to_string_lossy()).into_owned();
        match &file.trust {
            Trust::Foreign { owner, user } => eprintln!(
                "kiln: warning: not reading '{path}': it belongs to uid {owner}, not to you (uid {user}) or root, and kiln never reads another user's kiln.toml. If you trust it, take ownership (chown {user} '{path}')"
            ),
            Trust::Untrusted { keys } => {
                let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
                eprintln!(
                    "kiln: warning: ignoring {} setting{} of the untrusted project config '{path}': {}\n  they apply once you trust the file: review it, then run `kiln trust '{path}'` (`kiln config show` lists them)",
                    keys.len(),
                    if keys.len() == 1 { "" } else { "s" },
                    kiln::engine::untrusted::inert(&names.join(", ")),
                );
            }
            Trust::NotNeeded | Trust::Trusted { .. } => {}
        }
    }

    /// Whether progress bars and prompts may be shown.
    #[allow(dead_code)] // progress bars arrive with the long-running commands
    pub(crate) fn interactive(&self) -> bool {
        use std::io::IsTerminal;
        self.verbosity >= 0 && std::io::stderr().is_terminal() && self.format == Format::Human
    }
}

/// Whether the store records `file` as trusted with this content. Missing or unreadable
/// databases trust nothing (and are not created here: most commands never need one).
fn is_trusted(db: &std::path::Path, file: &ProjectFile) -> bool {
    if !db.exists() {
        return false;
    }
    match Store::open_read_only(db, &kiln::engine::store::StoreConfig::default())
        .and_then(|s| s.is_config_trusted(&file.canonical, &file.sha256))
    {
        Ok(trusted) => trusted,
        Err(e) => {
            tracing::warn!("cannot look up the trust of '{}': {e}", file.path.display());
            false
        }
    }
}
