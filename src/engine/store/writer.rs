//! The store writer: one thread owns the engine's write connection and applies commands in
//! order (`llm::Recorder` records model calls through it). Async tasks send a closure and await its
//! result on a oneshot channel, so no task ever holds a `&Store` across an `.await` and SQLite
//! never blocks the runtime.
//!
//! The writer also notes the change-feed ids its own commits produced, so the engine can tell
//! them from what other processes commit ([`OwnChanges`]).

use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::{Error as StoreError, Result as StoreResult, Store};

type Command = Box<dyn FnOnce(&Store) + Send>;

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store writer has stopped")]
    Stopped,
}

/// A cheap, cloneable handle on the writer thread. The thread ends once every handle is
/// dropped or [`StoreWriter::close`] is called.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::Sender<Option<Command>>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
    own: OwnChanges,
}

impl StoreWriter {
    /// Moves `store` to a new writer thread.
    pub fn start(store: Store) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Option<Command>>();
        let own = OwnChanges::default();
        let thread_own = own.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-store-writer".into())
            .spawn(move || {
                while let Ok(Some(command)) = rx.recv() {
                    // Two reads of the feed's head around each command, only while a change-feed
                    // reader needs to tell our commits from other processes'.
                    if !thread_own.is_watched() {
                        command(&store);
                        continue;
                    }
                    let before = store.last_change_id().unwrap_or(i64::MAX);
                    command(&store);
                    if let Ok(after) = store.last_change_id()
                        && after > before
                    {
                        thread_own.add(before, after);
                    }
                }
                drop(store);
            })?;
        Ok(Self {
            tx,
            thread: Arc::new(Mutex::new(Some(thread))),
            own,
        })
    }

    /// Runs `f` on the writer thread and returns its result once committed.
    pub async fn call<R, F>(&self, f: F) -> Result<R, WriteError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> StoreResult<R> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.send(f, reply)?;
        rx.await
            .map_err(|_| WriteError::Stopped)?
            .map_err(Into::into)
    }

    /// Like [`call`](Self::call), blocking this thread (not for use on the runtime's threads).
    pub fn blocking_call<R, F>(&self, f: F) -> Result<R, WriteError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> StoreResult<R> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.send(f, reply)?;
        rx.blocking_recv()
            .map_err(|_| WriteError::Stopped)?
            .map_err(Into::into)
    }

    fn send<R, F>(&self, f: F, reply: oneshot::Sender<StoreResult<R>>) -> Result<(), WriteError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> StoreResult<R> + Send + 'static,
    {
        let command: Command = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        self.tx.send(Some(command)).map_err(|_| WriteError::Stopped)
    }

    /// The change-feed ids this writer produced.
    pub fn own_changes(&self) -> &OwnChanges {
        &self.own
    }

    /// Finishes the queued commands, closes the connection (checkpointing the WAL) and waits
    /// for the thread. Later calls fail with [`WriteError::Stopped`].
    pub fn close(&self) {
        let _ = self.tx.send(None);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Ranges `(after, upto]` of change-feed ids this process's writer committed. Another process
/// committing between the writer's two reads would be counted as ours; SQLite's single writer
/// makes that impossible inside one transaction, and each command is one transaction or a few.
#[derive(Debug, Clone, Default)]
pub struct OwnChanges {
    ranges: Arc<Mutex<Vec<(i64, i64)>>>,
    watched: Arc<std::sync::atomic::AtomicBool>,
}

impl OwnChanges {
    /// From now on the writer records which change ids are its own (a feed reader calls this
    /// before it reads; without one, nothing is recorded and nothing accumulates).
    pub fn watch(&self) {
        self.watched
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn is_watched(&self) -> bool {
        self.watched.load(std::sync::atomic::Ordering::Acquire)
    }

    fn add(&self, after: i64, upto: i64) {
        let mut ranges = self.lock();
        match ranges.last_mut() {
            Some(last) if last.1 == after => last.1 = upto,
            _ => ranges.push((after, upto)),
        }
    }

    /// Whether change `id` was ours. Ranges below `id` are forgotten: the feed reads in order.
    pub fn take(&self, id: i64) -> bool {
        let mut ranges = self.lock();
        ranges.retain(|&(_, upto)| upto >= id);
        ranges.iter().any(|&(after, upto)| id > after && id <= upto)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(i64, i64)>> {
        self.ranges
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_ranges_merge_and_are_forgotten_in_order() {
        let own = OwnChanges::default();
        own.add(0, 3);
        own.add(3, 5);
        own.add(9, 10);
        assert!(!own.take(0));
        assert!(own.take(1));
        assert!(own.take(5));
        assert!(!own.take(7));
        assert!(own.take(10));
        assert!(!own.take(11));
        assert!(own.lock().is_empty());
    }
}
