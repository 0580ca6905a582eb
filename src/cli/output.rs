//! Output helpers: `--format`, JSON printing and plain-text tables.

use serde::Serialize;

/// How listings and reports are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for people
    Human,
    /// One JSON document on stdout
    Json,
}

/// The exit status when the reader of stdout went away (`kiln rules | head -1`): what a
/// process killed by SIGPIPE reports, as coreutils and git do.
pub(crate) const BROKEN_PIPE_EXIT: i32 = 128 + 13;

/// Makes a write to a closed stdout or stderr end the process quietly, for every command at
/// once. Rust ignores SIGPIPE, so such a write fails with EPIPE, and `println!` (or a library's
/// `expect`, as clap_complete's) turns that into a panic; this hook recognises those panics
/// and exits with [`BROKEN_PIPE_EXIT`] instead of printing a report. Other panics are reported
/// as before.
pub(crate) fn exit_quietly_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_broken_pipe_message(payload) {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        report(info);
    }));
}

/// Whether a panic or error message is about EPIPE (the io::Error's Display or Debug form).
pub(crate) fn is_broken_pipe_message(message: &str) -> bool {
    message.contains("Broken pipe (os error 32)") || message.contains("kind: BrokenPipe")
}

/// Whether `e` (or one of its causes) is a write to a closed pipe.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows as left-aligned columns with a header.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells.zip(&widths).map(|(c, w)| pad(c, *w)).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// `text` padded with spaces to `width` characters. Not `format!("{text:<width$}")`: format
/// widths above 65,535 panic, and a cell may be as long as any config value or file name.
pub(crate) fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    let mut out = String::with_capacity(text.len() + width.saturating_sub(len));
    out.push_str(text);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(len)));
    out
}

/// A timestamp in microseconds as `YYYY-MM-DD HH:MM:SS` UTC.
#[allow(dead_code)] // used by listings that land with later issues
pub(crate) fn time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.trim_end_matches('Z').replace('T', " ")
}
