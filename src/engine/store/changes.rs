//! The change feed: lets a front-end in another process learn of new or changed rows quickly
//! without busy polling.
//!
//! Triggers append every insert, update and delete to the `changes` table (a chunk of log lines
//! is announced as `log_lines` with the run's id). A reader keeps a high-water mark and sleeps
//! on inotify events for the database's files, so it wakes within milliseconds of a commit and
//! costs nothing while idle. It still checks once a second in case a wake-up was missed (file
//! systems without inotify, such as NFS). Reading never writes to the database.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::Serialize;

use super::runs::text_enum;
use super::{Result, Store, StoreConfig};

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
}

text_enum!(ChangeOp { Insert => "insert", Update => "update", Delete => "delete" });

/// One changed row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Position in the feed.
    pub id: i64,
    /// The table, or `log_lines` for new log lines (then `row_id` is the run).
    pub table: String,
    pub row_id: i64,
    pub op: ChangeOp,
}

/// What a wait produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "changes", rename_all = "snake_case")]
pub enum FeedEvent {
    Changes(Vec<Change>),
    /// The reader fell behind the feed's retained window: reload everything.
    Resync,
}

/// Longest sleep without checking the database, for file systems that miss inotify events.
const SAFETY_CHECK: Duration = Duration::from_secs(1);
/// Changes read per query.
const PAGE: i64 = 1_000;

/// A reader of the change feed with its own read-only connection.
pub struct ChangeFeed {
    store: Store,
    last_id: i64,
    data_version: i64,
    watcher: Option<Inotify>,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("last_id", &self.last_id)
            .finish_non_exhaustive()
    }
}

impl ChangeFeed {
    /// Starts a feed at the current end: only changes committed after this call are reported.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Self> {
        let store = Store::open_read_only(path, config)?;
        let last_id = store
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))
            .map_err(|e| store.err(e))?;
        let data_version = data_version(&store)?;
        let watcher = watch_dir(path);
        if watcher.is_none() {
            tracing::warn!("inotify unavailable; the change feed checks the database every second");
        }
        Ok(Self {
            store,
            last_id,
            data_version,
            watcher,
        })
    }

    /// Whether the feed is woken by file events (otherwise it checks once a second).
    pub fn is_event_driven(&self) -> bool {
        self.watcher.is_some()
    }

    /// Changes committed since the last call, without waiting.
    pub fn poll(&mut self) -> Result<FeedEvent> {
        let version = data_version(&self.store)?;
        if version == self.data_version {
            return Ok(FeedEvent::Changes(Vec::new()));
        }
        self.data_version = version;
        self.read_new()
    }

    /// Waits up to `timeout` for changes; returns as soon as there are any (or on timeout with
    /// an empty list).
    pub fn wait(&mut self, timeout: Duration) -> Result<FeedEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let event = self.poll()?;
            if !matches!(&event, FeedEvent::Changes(c) if c.is_empty()) {
                return Ok(event);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(event);
            }
            self.sleep(left.min(SAFETY_CHECK));
        }
    }

    /// Sleeps until a file event on the database or `max` passes.
    fn sleep(&self, max: Duration) {
        let Some(watcher) = &self.watcher else {
            std::thread::sleep(max.min(Duration::from_millis(100)));
            return;
        };
        let mut fds = [PollFd::new(watcher.as_fd(), PollFlags::POLLIN)];
        let millis = PollTimeout::try_from(max.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        if matches!(poll(&mut fds, millis), Ok(n) if n > 0) {
            // Drain: which file changed matters less than that something did; the caller
            // asks the database (data_version) whether anything was committed.
            let _ = watcher.read_events();
        }
    }

    fn read_new(&mut self) -> Result<FeedEvent> {
        let conn = &self.store.conn;
        let oldest: Option<i64> = conn
            .query_row("SELECT min(id) FROM changes", [], |r| r.get(0))
            .map_err(|e| self.store.err(e))?;
        if oldest.is_some_and(|oldest| oldest > self.last_id + 1) {
            self.last_id = conn
                .query_row("SELECT max(id) FROM changes", [], |r| r.get(0))
                .map_err(|e| self.store.err(e))?;
            return Ok(FeedEvent::Resync);
        }
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, tbl, row_id, op FROM changes WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.store.err(e))?;
        let mut changes = Vec::new();
        loop {
            let page: Vec<Change> = stmt
                .query_map([self.last_id, PAGE], |r| {
                    let op: String = r.get(3)?;
                    Ok(Change {
                        id: r.get(0)?,
                        table: r.get(1)?,
                        row_id: r.get(2)?,
                        op: op.parse().unwrap_or(ChangeOp::Update),
                    })
                })
                .and_then(Iterator::collect)
                .map_err(|e| self.store.err(e))?;
            let Some(last) = page.last() else { break };
            self.last_id = last.id;
            let full = page.len() as i64 == PAGE;
            changes.extend(page);
            if !full {
                break;
            }
        }
        Ok(FeedEvent::Changes(changes))
    }
}

impl Store {
    /// The id of the newest row of the change feed (0 when empty): a writer reads it around its
    /// own commits to tell its changes from other processes'.
    pub fn last_change_id(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

/// `PRAGMA data_version` changes whenever another connection commits.
fn data_version(store: &Store) -> Result<i64> {
    store
        .conn
        .pragma_query_value(None, "data_version", |r| r.get(0))
        .map_err(|e| store.err(e))
}

/// Watches the database's directory: the WAL file is written on every commit, and may be
/// created or removed as connections come and go.
fn watch_dir(path: &Path) -> Option<Inotify> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
    let flags = AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE;
    inotify.add_watch(dir, flags).ok()?;
    Some(inotify)
}
