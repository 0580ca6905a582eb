//! What every subcommand gets: the environment snapshot, resolved paths, the effective config
//! and the output format. Resolved once here, passed down everywhere.

use std::path::PathBuf;

use anyhow::Context as _;
use kiln::engine::config::{self, Loaded};
use kiln::engine::env::Env;
use kiln::engine::paths::Paths;
use kiln::engine::store::Store;

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
        };
        let config = config::load(&sources)?;
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
        if self.paths.db == self.paths.data_dir.join("kiln.db") {
            std::fs::create_dir_all(&self.paths.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory '{}'",
                    self.paths.data_dir.display()
                )
            })?;
        }
        Ok(Store::open(&self.paths.db, &self.config.config.store)?)
    }

    /// Whether progress bars and prompts may be shown.
    #[allow(dead_code)] // progress bars arrive with the long-running commands
    pub(crate) fn interactive(&self) -> bool {
        use std::io::IsTerminal;
        self.verbosity >= 0 && std::io::stderr().is_terminal() && self.format == Format::Human
    }
}
