//! The event bus: every subscriber gets every event, in order. A subscriber that falls more
//! than [`CAPACITY`] events behind loses the oldest ones and is told so with
//! [`Event::Resync`]; it never slows the engine down.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use super::event::{Envelope, Event};
use crate::engine::ids::{OpId, RunId};

/// Events a subscriber may fall behind by before it must resync.
pub const CAPACITY: usize = 8_192;

/// The sending side, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Bus {
    tx: broadcast::Sender<Envelope>,
    seq: Arc<AtomicU64>,
}

impl Bus {
    pub(crate) fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends `event`; with no subscriber it is simply dropped.
    pub(crate) fn emit(&self, op: Option<OpId>, run: Option<RunId>, event: Event) {
        // The sequence number is taken under no lock, so two tasks emitting at once may
        // deliver seq 7 before 6; per run and per operation the order is the emitting order.
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self.tx.send(Envelope {
            seq,
            op,
            run,
            event,
        });
    }

    pub(crate) fn subscribe(&self) -> Events {
        Events {
            rx: self.tx.subscribe(),
        }
    }
}

/// A subscription: every event sent after it was made.
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<Envelope>,
}

impl Events {
    /// The next event; `None` once the engine has stopped and every event was read.
    pub async fn next(&mut self) -> Option<Envelope> {
        match self.rx.recv().await {
            Ok(envelope) => Some(envelope),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(resync(missed)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is queued, without waiting (for draining before a redraw).
    pub fn try_next(&mut self) -> Option<Envelope> {
        match self.rx.try_recv() {
            Ok(envelope) => Some(envelope),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => Some(resync(missed)),
            Err(_) => None,
        }
    }

    /// Blocks the thread for the next event (for front-ends without a runtime on this thread).
    pub fn blocking_next(&mut self) -> Option<Envelope> {
        match self.rx.blocking_recv() {
            Ok(envelope) => Some(envelope),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(resync(missed)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

fn resync(missed: u64) -> Envelope {
    Envelope {
        seq: 0,
        op: None,
        run: None,
        event: Event::Resync { missed },
    }
}
