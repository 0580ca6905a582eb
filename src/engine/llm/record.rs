//! Recording model calls: inserts and cache lookups go through a [`StoreWriter`], so async
//! callers never block on SQLite. In an engine that is the engine's own writer (one write
//! connection per engine, [`Recorder::from_writer`]); a caller without an engine (tests, tools)
//! opens one of its own with [`Recorder::open`].
//!
//! In an engine the rows are the writer's own changes, so the change feed does not report them
//! again as another process's (the engine's events tell of its model calls).
//! [`Recorder::close`] closes the writer and waits for it, so the database connection is closed
//! (and its write-ahead log checkpointed) before a short-lived process exits.

use std::path::Path;

use super::Error;
use crate::engine::store::{
    CachedResponse, NewGeneration, Store, StoreConfig, StoreWriter, WriteError,
};

/// A cheap, cloneable handle on the writer that records model calls.
#[derive(Debug, Clone)]
pub struct Recorder {
    writer: StoreWriter,
}

impl Recorder {
    /// Opens the database at `path` and starts a writer of its own.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Self, Error> {
        let store = Store::open(path, config).map_err(Error::Record)?;
        let writer = StoreWriter::start(store)
            .map_err(|e| Error::Recorder(format!("cannot start the recording thread: {e}")))?;
        Ok(Self::from_writer(writer))
    }

    /// Records through `writer` (the engine's).
    pub fn from_writer(writer: StoreWriter) -> Self {
        Self { writer }
    }

    /// Records a call; resolves once the row is written.
    pub async fn insert(&self, g: NewGeneration) -> Result<i64, Error> {
        self.writer
            .call(move |s| s.insert_generation(&g))
            .await
            .map_err(from_write)
    }

    /// The cached reply for `key`, if any.
    pub async fn cached(&self, key: &str) -> Result<Option<CachedResponse>, Error> {
        let key = key.to_owned();
        self.writer
            .call(move |s| s.cached_response(&key))
            .await
            .map_err(from_write)
    }

    /// Finishes the queued work, closes the writer's database and waits for its thread
    /// (blocking). Later calls on any clone fail with "the recording thread has stopped".
    pub fn close(&self) {
        self.writer.close();
    }
}

fn from_write(e: WriteError) -> Error {
    match e {
        WriteError::Store(e) => Error::Record(e),
        WriteError::Stopped => Error::Recorder("the recording thread has stopped".into()),
    }
}
