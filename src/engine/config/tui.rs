//! The `[tui]` section: the dashboard's preferences. Plain data; the dashboard interprets it
//! (the engine never draws).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuiConfig {
    /// A theme name from `themes/` (dark, light, high-contrast, 16-color); `--theme` wins.
    pub theme: Option<String>,
    /// Capture the mouse (off by default: it breaks selecting text over SSH); `--mouse` wins.
    pub mouse: bool,
    /// The ASCII symbol set even on a UTF-8 locale.
    pub ascii: bool,
    /// Action name to key, e.g. `quit = "ctrl-q"`, `next_error = "x"` (see docs/dashboard.md).
    pub keys: BTreeMap<String, String>,
}
