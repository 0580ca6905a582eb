//! Forwards what other processes commit to the bus as [`Event::StoreChanged`], read from the
//! store's change feed on a thread of its own (the feed sleeps on inotify, so this costs
//! nothing while the database is quiet). Changes this process's writer made are left out:
//! their own events already said what happened.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::context::{Bus, Event};
use crate::engine::store::OwnChanges;
use crate::engine::store::{self, ChangeFeed, FeedEvent, StoreConfig};

/// How long a wait lasts before the thread checks whether it should stop.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// The forwarding thread; stops when dropped or on [`FeedForwarder::stop`].
#[derive(Debug)]
pub(crate) struct FeedForwarder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FeedForwarder {
    pub(crate) fn start(
        db: &Path,
        config: &StoreConfig,
        own: OwnChanges,
        bus: Bus,
    ) -> store::Result<Self> {
        // Before the feed's first read, so every commit it sees from then on is sorted.
        own.watch();
        let mut feed = ChangeFeed::open(db, config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-change-feed".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    match feed.wait(STOP_CHECK) {
                        Ok(FeedEvent::Changes(changes)) => {
                            let foreign: Vec<_> =
                                changes.into_iter().filter(|c| !own.take(c.id)).collect();
                            if !foreign.is_empty() {
                                bus.emit(None, None, Event::StoreChanged { changes: foreign });
                            }
                        }
                        Ok(FeedEvent::Resync) => bus.emit(None, None, Event::Resync { missed: 0 }),
                        Err(e) => {
                            tracing::warn!("change feed: {e}; retrying in a second");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
            })
            .map_err(|e| store::Error::Io {
                path: db.to_owned(),
                source: e,
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FeedForwarder {
    fn drop(&mut self) {
        self.stop();
    }
}
