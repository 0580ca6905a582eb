//! Symbol sets: Unicode by default, ASCII with `--ascii`, `[tui] ascii = true`, or when the
//! locale is not UTF-8 (so a Latin-1 console shows no mojibake).

use kiln::engine::store::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Symbols {
    pub(crate) ok: &'static str,
    pub(crate) failed: &'static str,
    pub(crate) queued: &'static str,
    pub(crate) cancelled: &'static str,
    pub(crate) skipped: &'static str,
    pub(crate) spinner: &'static [&'static str],
    pub(crate) bar: &'static str,
    pub(crate) spark: &'static [&'static str],
    pub(crate) hit_mark: &'static str,
    pub(crate) error_mark: &'static str,
    pub(crate) thumb: &'static str,
    pub(crate) track: &'static str,
    pub(crate) follow: &'static str,
}

pub(crate) const UNICODE: Symbols = Symbols {
    ok: "✓",
    failed: "✗",
    queued: "·",
    cancelled: "⊘",
    skipped: "↷",
    spinner: &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"],
    bar: "█",
    spark: &["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
    hit_mark: "◆",
    error_mark: "●",
    thumb: "┃",
    track: "│",
    follow: "⇣",
};

pub(crate) const ASCII: Symbols = Symbols {
    ok: "+",
    failed: "x",
    queued: ".",
    cancelled: "-",
    skipped: ">",
    spinner: &["|", "/", "-", "\\"],
    bar: "#",
    spark: &["_", ".", ":", "-", "=", "+", "*", "#"],
    hit_mark: "*",
    error_mark: "!",
    thumb: "#",
    track: "|",
    follow: "v",
};

impl Symbols {
    /// The status symbol; running shows spinner frame `tick`.
    pub(crate) fn status(&self, status: Status, tick: usize) -> &'static str {
        match status {
            Status::Succeeded => self.ok,
            Status::Failed => self.failed,
            Status::Queued => self.queued,
            Status::Cancelled | Status::Interrupted => self.cancelled,
            Status::Skipped => self.skipped,
            Status::Running => self.spinner[tick % self.spinner.len()],
        }
    }
}

/// Whether a locale (`LC_ALL`, else `LC_CTYPE`, else `LANG`) is UTF-8.
pub(crate) fn locale_is_utf8(
    lc_all: Option<&str>,
    lc_ctype: Option<&str>,
    lang: Option<&str>,
) -> bool {
    let locale = [lc_all, lc_ctype, lang]
        .into_iter()
        .flatten()
        .find(|v| !v.is_empty())
        .unwrap_or("");
    let lower = locale.to_ascii_lowercase();
    lower.contains("utf-8") || lower.contains("utf8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_locale_detection() {
        assert!(locale_is_utf8(None, None, Some("en_US.UTF-8")));
        assert!(locale_is_utf8(Some("C.utf8"), None, Some("C")));
        assert!(!locale_is_utf8(Some("C"), None, Some("en_US.UTF-8")));
        assert!(!locale_is_utf8(None, None, None));
        assert!(!locale_is_utf8(None, Some("POSIX"), None));
        assert!(
            ASCII
                .spinner
                .iter()
                .chain(ASCII.spark)
                .all(|s| s.is_ascii())
        );
    }
}
