//! The hidden `--bench-frames FILE` timing log (for `bench/tui.sh`, not for users): one line per
//! startup phase (`phase NAME MICROS`, since the dashboard started) and one per drawn frame
//! (`frame MICROS`, the time `render` plus the terminal write took). Off unless asked, and then
//! only a buffered write per line, so it does not change what it measures.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

pub(crate) struct BenchLog {
    start: Instant,
    out: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
}

impl BenchLog {
    /// Logs to `path` when given; `start` is when the dashboard began.
    pub(crate) fn new(start: Instant, path: Option<&Path>) -> anyhow::Result<Self> {
        let out = match path {
            Some(p) => Some(Mutex::new(std::io::BufWriter::new(
                std::fs::File::create(p).map_err(|e| {
                    anyhow::anyhow!("cannot create the frame log '{}': {e}", p.display())
                })?,
            ))),
            None => None,
        };
        Ok(Self { start, out })
    }

    pub(crate) fn enabled(&self) -> bool {
        self.out.is_some()
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        if let Some(out) = &self.out
            && let Ok(mut out) = out.lock()
        {
            let _ = out.write_fmt(text);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    }

    /// A startup phase ended now.
    pub(crate) fn phase(&self, name: &str) {
        if self.enabled() {
            self.line(format_args!(
                "phase {name} {}",
                self.start.elapsed().as_micros()
            ));
        }
    }

    /// A frame took `micros` to draw.
    pub(crate) fn frame(&self, micros: u128) {
        self.line(format_args!("frame {micros}"));
    }
}
