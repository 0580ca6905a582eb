//! `cargo test` output (libtest's default format): `test NAME ... ok|FAILED|ignored` lines, the
//! `---- NAME stdout ----` failure sections with `panicked at FILE:LINE:COL:` and the message,
//! and `Running TARGET` lines that say which target a test belongs to.

use std::collections::HashMap;

use crate::engine::store::{TestCase, TestOutcome};

/// Message lines kept per failure.
const MAX_MESSAGE_LINES: usize = 20;

/// Parses the whole output, in order (stdout and stderr interleaved as read).
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<TestCase> {
    let mut cases: Vec<TestCase> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut target: Option<String> = None;
    // The failure section being read: the test's index and whether its message has ended.
    let mut section: Option<(usize, bool)> = None;
    for line in lines {
        if let Some(rest) = line.trim_start().strip_prefix("Running ") {
            // `Running unittests src/lib.rs (target/...)` or `Running tests/api.rs (...)`.
            let file = rest
                .trim_start_matches("unittests ")
                .split(" (")
                .next()
                .unwrap_or_default();
            target = (!file.is_empty()).then(|| file.to_owned());
            section = None;
            continue;
        }
        if let Some(rest) = line.strip_prefix("test ")
            && let Some((name, result)) = rest.rsplit_once(" ... ")
        {
            let (outcome, message) = match result.split_once(", ") {
                _ if result == "ok" => (TestOutcome::Passed, None),
                _ if result.starts_with("FAILED") => (TestOutcome::Failed, None),
                Some(("ignored", reason)) => (TestOutcome::Skipped, Some(reason.to_owned())),
                None if result == "ignored" => (TestOutcome::Skipped, None),
                _ => continue,
            };
            index.insert(name.to_owned(), cases.len());
            cases.push(TestCase {
                name: name.to_owned(),
                outcome,
                duration_ms: None,
                message,
                file: target.clone(),
                line: None,
            });
            continue;
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            section = index.get(name).map(|&i| (i, false));
            continue;
        }
        if line == "failures:" || line.starts_with("test result:") {
            section = None;
            continue;
        }
        let Some((i, ended)) = section.as_mut() else {
            continue;
        };
        let case = &mut cases[*i];
        if let Some(at) = line.split(" panicked at ").nth(1) {
            // `src/lib.rs:14:9:`; a message may follow on the same line (older Rust).
            let mut parts = at.splitn(4, ':');
            let file = parts.next().unwrap_or_default();
            let line_no = parts.next().and_then(|l| l.parse::<u32>().ok());
            let _col = parts.next();
            if line_no.is_some() {
                case.file = Some(file.to_owned());
                case.line = line_no;
            }
            let same_line = parts.next().map(str::trim).unwrap_or_default();
            case.message = (!same_line.is_empty()).then(|| same_line.trim_matches('\'').to_owned());
            *ended = false;
            continue;
        }
        if *ended {
            continue;
        }
        if line.starts_with("stack backtrace:") || line.starts_with("note: ") || line.is_empty() {
            *ended = case.message.is_some() || !line.is_empty();
            continue;
        }
        let message = case.message.get_or_insert_with(String::new);
        if message.lines().count() < MAX_MESSAGE_LINES {
            if !message.is_empty() {
                message.push('\n');
            }
            message.push_str(line);
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_cargo_output() {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/testing/cargo-test.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let cases = parse(text.lines());
        let by = |n: &str| cases.iter().find(|c| c.name == n).unwrap();
        assert_eq!(cases.len(), 5, "{cases:#?}");
        assert_eq!(by("tests::adds").outcome, TestOutcome::Passed);
        assert_eq!(by("tests::adds").file.as_deref(), Some("src/lib.rs"));
        let wrong = by("tests::adds_wrongly");
        assert_eq!(wrong.outcome, TestOutcome::Failed);
        assert_eq!(wrong.line, Some(14));
        let msg = wrong.message.as_deref().unwrap();
        assert!(
            msg.starts_with("assertion `left == right` failed: two and two"),
            "{msg}"
        );
        assert!(msg.contains("right: 5"), "{msg}");
        assert!(!msg.contains("backtrace"), "{msg}");
        let panics = by("tests::panics");
        assert_eq!(
            panics.message.as_deref(),
            Some("something broke\nover two lines")
        );
        assert_eq!(panics.line, Some(23));
        let ignored = by("tests::ignored");
        assert_eq!(ignored.outcome, TestOutcome::Skipped);
        assert_eq!(ignored.message.as_deref(), Some("slow"));
        assert_eq!(by("public_api").file.as_deref(), Some("tests/api.rs"));
    }
}
