//! The `test_run` stage's view of a test run: the runner module (`engine::testing`, with the
//! toolchains of `engine::toolchain`) runs and parses the tests; this turns its report into the
//! pipeline's [`TestReport`], with the output's last lines for the improve prompt.
//!
//! Invariant: the prompt text is stable for an unchanged failure (timings are blanked), so a
//! retried improve hits the stage cache.

use super::language::Lang;
use super::state::{TestCase, TestReport};
use crate::engine::testing;
use crate::engine::toolchain::TestLanguage;

/// Output lines the improve stage is shown, at most.
pub const TAIL_LINES: usize = 60;

/// The runner's language for the pipeline's.
pub fn test_language(lang: Lang) -> TestLanguage {
    match lang {
        Lang::Python => TestLanguage::Python,
        Lang::Rust => TestLanguage::Rust,
        Lang::Javascript => TestLanguage::JavaScript,
    }
}

/// The pipeline's report of a test run: per-test verdicts and counts from the runner's parse,
/// and `tail` (the output's last lines, timings blanked). When the run gave no trustworthy
/// per-test verdict, the tail starts with what happened instead.
pub fn from_report(report: &testing::TestReport, tail: &[String]) -> TestReport {
    let mut tests: Vec<TestCase> = report
        .cases
        .iter()
        .map(|c| TestCase {
            name: c.name.clone(),
            outcome: c.outcome.as_str().to_owned(),
            message: c.message.clone(),
        })
        .collect();
    tests.dedup_by(|a, b| a.name == b.name);
    let from = tail.len().saturating_sub(TAIL_LINES);
    let mut lines: Vec<String> = report.problem.iter().cloned().collect();
    lines.extend(tail[from..].iter().map(|l| without_durations(l)));
    TestReport {
        passed: report.counts.passed,
        failed: report.counts.failed,
        skipped: report.counts.skipped,
        errors: report.counts.errors,
        exit_code: report.exit_code,
        tail: lines.join("\n"),
        tests,
    }
}

/// `l` with timings (`in 0.12s`, `(0.3ms)`, `duration_ms: 1.2`) blanked, so an unchanged
/// failure renders the same prompt (and hits the stage cache) every time.
fn without_durations(l: &str) -> String {
    let mut out = String::with_capacity(l.len());
    let mut chars = l.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let prev_is_digit = out
            .chars()
            .last()
            .is_some_and(|p: char| p.is_ascii_digit() || p == '.');
        if c.is_ascii_digit() && !prev_is_digit {
            let start = i;
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let number = &l[start..end];
            let rest = &l[end..];
            if number.contains('.') && (rest.starts_with('s') || rest.starts_with("ms")) {
                out.push('…');
            } else {
                out.push_str(number);
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_are_blanked() {
        assert_eq!(
            without_durations("1 failed, 2 passed in 0.12s"),
            "1 failed, 2 passed in …s"
        );
        assert_eq!(
            without_durations("# duration_ms 3.5ms test 12"),
            "# duration_ms …ms test 12"
        );
    }
}
