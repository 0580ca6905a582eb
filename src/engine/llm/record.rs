//! The recording task: one thread owns a [`Store`] handle and applies inserts and cache lookups
//! in order, so async callers never block on SQLite.
//!
//! [`Recorder::close`] stops the thread and waits for it, so the database connection is closed
//! (and its write-ahead log checkpointed) before a short-lived process exits.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::Error;
use crate::engine::store::{self, CachedResponse, NewGeneration, Store, StoreConfig};

enum Command {
    Insert(Box<NewGeneration>, oneshot::Sender<store::Result<i64>>),
    Cached(
        String,
        oneshot::Sender<store::Result<Option<CachedResponse>>>,
    ),
    Close,
}

/// A cheap, cloneable handle on the recording thread; the thread exits on [`Recorder::close`]
/// or when the last handle drops.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Command>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Recorder {
    /// Opens the database at `path` and starts the thread.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Self, Error> {
        let store = Store::open(path, config).map_err(Error::Record)?;
        Self::from_store(store)
    }

    /// Moves `store` to a new recording thread.
    pub fn from_store(store: Store) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel::<Command>();
        let thread = std::thread::Builder::new()
            .name("kiln-llm-record".into())
            .spawn(move || {
                for command in rx {
                    match command {
                        Command::Insert(g, reply) => {
                            let _ = reply.send(store.insert_generation(&g));
                        }
                        Command::Cached(key, reply) => {
                            let _ = reply.send(store.cached_response(&key));
                        }
                        Command::Close => break,
                    }
                }
                drop(store);
            })
            .map_err(|e| Error::Recorder(format!("cannot start the recording thread: {e}")))?;
        Ok(Self {
            tx,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Records a call; resolves once the row is written.
    pub async fn insert(&self, g: NewGeneration) -> Result<i64, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Insert(Box::new(g), reply))?;
        rx.await.map_err(|_| gone())?.map_err(Error::Record)
    }

    /// The cached reply for `key`, if any.
    pub async fn cached(&self, key: &str) -> Result<Option<CachedResponse>, Error> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Cached(key.to_owned(), reply))?;
        rx.await.map_err(|_| gone())?.map_err(Error::Record)
    }

    /// Finishes the queued work, closes the database and waits for the thread (blocking).
    /// Later calls on any clone fail with "the recording thread has stopped".
    pub fn close(&self) {
        let _ = self.tx.send(Command::Close);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.tx.send(command).map_err(|_| gone())
    }
}

fn gone() -> Error {
    Error::Recorder("the recording thread has stopped".into())
}
