//! Typed ids: a run id cannot be passed where a stage id is meant.
//!
//! Row ids are the store's `INTEGER PRIMARY KEY`s; [`OpId`] numbers the operations one engine
//! handle accepted (unique within a process, never stored). All serialize as bare numbers.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident($inner:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl From<$inner> for $name {
            fn from(id: $inner) -> Self {
                Self(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim_start_matches('#').parse().map(Self)
            }
        }
    )*};
}

id_type! {
    /// An operation submitted to an engine handle.
    OpId(u64);
    /// A row of `runs`.
    RunId(i64);
    /// A row of `stages`.
    StageId(i64);
    /// A row of `processes`: one sandboxed program.
    ProcessId(i64);
    /// A row of `projects`.
    ProjectId(i64);
    /// A row of `generations`: one model call.
    GenerationId(i64);
    /// A row of `artifacts`: one version of one file.
    ArtifactId(i64);
    /// A row of `findings`.
    FindingId(i64);
}
