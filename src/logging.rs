//! Logging with `tracing` to a file under the XDG state dir: the dashboard owns the terminal, and
//! CLI stdout is only for requested output. `KILN_LOG` sets the filter (e.g. `kiln=debug`);
//! `-v` raises the default level, `-q` lowers it.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Keeps the background log writer alive; drop it last so buffered lines are flushed.
pub(crate) struct LogGuard {
    _guard: Option<WorkerGuard>,
    pub(crate) file: Option<PathBuf>,
}

/// Starts logging into `state_dir/kiln.log`. Failing to create the log file never stops a
/// command: kiln then runs without a log and says so at debug level on stderr.
pub(crate) fn init(state_dir: &Path, filter: Option<&str>, verbosity: i8) -> LogGuard {
    let default = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    if std::fs::create_dir_all(state_dir).is_err() {
        return LogGuard {
            _guard: None,
            file: None,
        };
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state_dir.join("kiln.log"))
    else {
        return LogGuard {
            _guard: None,
            file: None,
        };
    };
    let (writer, guard) = tracing_appender::non_blocking(file);
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .is_ok();
    LogGuard {
        _guard: Some(guard),
        file: installed.then(|| state_dir.join("kiln.log")),
    }
}
