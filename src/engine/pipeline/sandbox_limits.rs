//! Per-run sandbox limits over the configured `[sandbox]` ones: what a front-end's settings
//! ask for one run (an editor's `kiln.sandbox.memoryMb` / `timeoutSecs`). Stored with the run's
//! options, so a retry or resume keeps them. Unset fields leave the config's value.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::sandbox::{ByteSize, HumanDuration, SandboxConfig};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxLimits {
    /// Memory of the whole sandboxed run, in MiB.
    pub memory_mb: Option<u64>,
    /// Wall-clock time before the sandboxed run is killed, in seconds.
    pub timeout_secs: Option<u64>,
}

impl SandboxLimits {
    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.memory_mb.is_none() && self.timeout_secs.is_none()
    }

    /// `config` with these limits applied (zero is ignored: it would forbid every run).
    pub fn apply(&self, config: &SandboxConfig) -> SandboxConfig {
        let mut c = config.clone();
        if let Some(mb) = self.memory_mb.filter(|mb| *mb > 0) {
            c.memory = ByteSize(mb.saturating_mul(1024 * 1024));
        }
        if let Some(secs) = self.timeout_secs.filter(|s| *s > 0) {
            c.timeout = HumanDuration(Duration::from_secs(secs));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_only_what_is_set() {
        let base = SandboxConfig::default();
        assert_eq!(SandboxLimits::default().apply(&base), base);
        let c = SandboxLimits {
            memory_mb: Some(256),
            timeout_secs: None,
        }
        .apply(&base);
        assert_eq!(c.memory, ByteSize(256 << 20));
        assert_eq!(c.timeout, base.timeout);
        let c = SandboxLimits {
            memory_mb: Some(0),
            timeout_secs: Some(7),
        }
        .apply(&base);
        assert_eq!(c.memory, base.memory);
        assert_eq!(c.timeout, HumanDuration(Duration::from_secs(7)));
    }
}
