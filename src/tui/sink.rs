//! Where the dashboard's engine operations go: the engine handle in the app, a recording fake
//! in tests (the UI ↔ engine contract is asserted on what keys submit).

use kiln::engine::api::{EngineHandle, Op};

pub(crate) trait OpSink {
    /// Submits `op`; returns its id.
    fn submit(&mut self, op: Op) -> u64;
}

impl OpSink for EngineHandle {
    fn submit(&mut self, op: Op) -> u64 {
        EngineHandle::submit(self, op).0
    }
}

/// Records operations instead of running them.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct RecordingSink {
    pub(crate) ops: Vec<Op>,
}

#[cfg(test)]
impl OpSink for RecordingSink {
    fn submit(&mut self, op: Op) -> u64 {
        self.ops.push(op);
        self.ops.len() as u64
    }
}
