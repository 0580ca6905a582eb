//! Counts the SQL statements this process's store connections run (SQLite's statement trace),
//! so a front-end can show what a command cost in database round trips (`kiln sandbox run
//! --format json` prints `db_statements`; tests bound it). One relaxed atomic add per statement.

#![allow(unsafe_code)] // one FFI call installing SQLite's trace callback

use std::os::raw::{c_int, c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, ffi};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// Statements run so far by every store connection of this process (triggers' included).
pub fn statements_run() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

unsafe extern "C" fn on_statement(
    _kind: c_uint,
    _context: *mut c_void,
    _statement: *mut c_void,
    _sql: *mut c_void,
) -> c_int {
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
    0
}

/// Counts `conn`'s statements from now on.
pub(super) fn count_statements(conn: &Connection) {
    // SAFETY: `handle` is this live connection's pointer, used only for this call; the
    // callback reads none of its arguments (the context pointer is null) and touches no
    // SQLite state, so it is sound for as long as SQLite calls it.
    unsafe {
        ffi::sqlite3_trace_v2(
            conn.handle(),
            ffi::SQLITE_TRACE_STMT as c_uint,
            Some(on_statement),
            std::ptr::null_mut(),
        );
    }
}
