//! Counts the SQL statements this process's store connections run (SQLite's statement trace),
//! so a front-end can show what a command cost in database round trips (`kiln sandbox run
//! --format json` prints `db_statements`; tests bound it). One relaxed atomic add per statement;
//! each statement's text goes to the `kiln::sql` tracing target at trace level.

use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use rusqlite::trace::{TraceEvent, TraceEventCodes};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Statements run so far by every store connection of this process (triggers' included).
pub fn statements_run() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// Counts `conn`'s statements from now on.
pub(super) fn count_statements(conn: &mut Connection) {
    let counted = conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_STMT,
        Some(|event: TraceEvent<'_>| {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
            if let TraceEvent::Stmt(_, sql) = event {
                tracing::trace!(target: "kiln::sql", "{sql}");
            }
        }),
    );
    if let Err(e) = counted {
        tracing::debug!("cannot count SQL statements: {e}");
    }
}
