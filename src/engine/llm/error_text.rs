//! Text for error messages built from outside sources: an error's causes on one line, API keys
//! scrubbed out, long text shortened.
//!
//! Every message the model layer builds from a provider's words or an HTTP library's error goes
//! through [`redact`], so a key a provider echoes back never reaches the database or the logs.

/// An error and its causes, one line: reqwest's own message alone says little.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Scrubs a key from text that came from outside (a provider's error body may echo it).
pub(crate) fn redact(text: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 && text.contains(k) => text.replace(k, "[redacted]"),
        _ => text.to_owned(),
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), with `...` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// `1 attempt`, `2 attempts`.
pub(crate) fn count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scrubbed_and_text_cut_on_char_boundaries() {
        assert_eq!(
            redact("bad key sk-1234", Some("sk-1234")),
            "bad key [redacted]"
        );
        assert_eq!(redact("short k", Some("k")), "short k");
        assert_eq!(truncate("ééé", 3), "é...");
        assert_eq!(count(1, "attempt"), "1 attempt");
        assert_eq!(count(4, "attempt"), "4 attempts");
    }
}
