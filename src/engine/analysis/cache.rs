//! The findings cache of `kiln check`: per file path, its mtime, size and content hash with the
//! findings, valid only for the rule-set fingerprint it was written with. A file whose mtime and
//! size are unchanged is not even read.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::note::Note;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub mtime_ns: u128,
    pub size: u64,
    pub hash: u64,
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Cache {
    pub fingerprint: u64,
    pub entries: HashMap<String, Entry>,
}

impl Cache {
    pub(crate) fn new(fingerprint: u64) -> Self {
        Self {
            fingerprint,
            entries: HashMap::new(),
        }
    }

    /// The cache at `path` if it was written for `fingerprint`; otherwise an empty one.
    pub(crate) fn load(path: &Path, fingerprint: u64) -> Self {
        let Ok(bytes) = std::fs::read(path) else {
            return Self::new(fingerprint);
        };
        match serde_json::from_slice::<Self>(&bytes) {
            Ok(c) if c.fingerprint == fingerprint => c,
            Ok(_) => Self::new(fingerprint),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unreadable analysis cache: {e}");
                Self::new(fingerprint)
            }
        }
    }

    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::engine::fs::write_atomic(path, &bytes).map_err(std::io::Error::other)
    }
}
