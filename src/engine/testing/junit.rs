//! pytest's JUnit XML (`--junitxml`, `junit_family=xunit1`, which keeps `file` and `line`).
//!
//! One `<testcase>` per test; a `<failure>`, `<error>` or `<skipped>` child gives the outcome and
//! message. xunit1's `line` is 0-based (the `def`); the failure's own location (`file.py:20:` at
//! the end of the traceback) is preferred when it is in the same file, since that is the line a
//! diagnostic should point at.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::ParseError;
use crate::engine::store::{TestCase, TestOutcome};

/// Longest message kept per test.
const MAX_MESSAGE: usize = 4096;

/// Parses a report; names are `file::Class::test` like pytest's node ids.
pub fn parse(xml: &str) -> Result<Vec<TestCase>, ParseError> {
    let mut reader = Reader::from_str(xml);
    let mut cases = Vec::new();
    let mut current: Option<TestCase> = None;
    // The child element being read (failure/error/skipped) and its text.
    let mut child: Option<(TestOutcome, Option<String>, String)> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            ParseError(format!(
                "junit xml at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::Empty(e) if e.name().as_ref() == "testcase" => cases.push(testcase(&e)?),
            Event::Start(e) if e.name().as_ref() == "testcase" => current = Some(testcase(&e)?),
            Event::Start(e) | Event::Empty(e) if current.is_some() => {
                let outcome = match e.name().as_ref() {
                    "failure" => Some(TestOutcome::Failed),
                    "error" => Some(TestOutcome::Error),
                    "skipped" => Some(TestOutcome::Skipped),
                    _ => None,
                };
                if let Some(outcome) = outcome {
                    let message = attr(&e, "message")?;
                    if let Some(case) = current.as_mut() {
                        // An error in teardown after a failure keeps the failure.
                        if case.outcome == TestOutcome::Passed {
                            case.outcome = outcome;
                            case.message.clone_from(&message);
                        }
                    }
                    child = Some((outcome, message, String::new()));
                }
            }
            Event::Text(t) => {
                if let Some((_, _, text)) = child.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, _, text)) = child.as_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        text.push(c);
                    } else {
                        let name = r.xml10_content();
                        text.push_str(match name.as_ref() {
                            "lt" => "<",
                            "gt" => ">",
                            "amp" => "&",
                            "quot" => "\"",
                            "apos" => "'",
                            _ => "",
                        });
                    }
                }
            }
            Event::End(e) => match e.name().as_ref() {
                "testcase" => {
                    if let Some(case) = current.take() {
                        cases.push(case);
                    }
                }
                "failure" | "error" | "skipped" => {
                    if let (Some((outcome, message, text)), Some(case)) =
                        (child.take(), current.as_mut())
                    {
                        finish_child(case, outcome, message, &text);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(cases)
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, ParseError> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|e| ParseError(format!("junit xml attribute: {e}")))?;
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| ParseError(format!("junit xml attribute: {e}")))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn testcase(e: &BytesStart<'_>) -> Result<TestCase, ParseError> {
    let name = attr(e, "name")?.unwrap_or_default();
    let classname = attr(e, "classname")?.unwrap_or_default();
    let file = attr(e, "file")?.filter(|f| !f.is_empty());
    let line = attr(e, "line")?
        .and_then(|l| l.parse::<u32>().ok())
        .map(|l| l + 1);
    let duration_ms = attr(e, "time")?
        .and_then(|t| t.parse::<f64>().ok())
        .map(|s| (s * 1000.0).round() as u64);
    // classname is `pkg.module[.Class]`; the module part matches the file's path.
    let class = file.as_deref().and_then(|f| {
        let module = f.trim_end_matches(".py").replace('/', ".");
        classname
            .strip_prefix(&module)
            .and_then(|rest| rest.strip_prefix('.'))
            .map(str::to_owned)
    });
    let full = match (&file, &class) {
        (Some(f), Some(c)) => format!("{f}::{c}::{name}"),
        (Some(f), None) => format!("{f}::{name}"),
        (None, _) if !classname.is_empty() => format!("{classname}::{name}"),
        (None, _) => name,
    };
    Ok(TestCase {
        name: full,
        outcome: TestOutcome::Passed,
        duration_ms,
        message: None,
        file,
        line,
    })
}

fn finish_child(case: &mut TestCase, outcome: TestOutcome, message: Option<String>, text: &str) {
    if case.outcome != outcome {
        return;
    }
    // The failure's own line: the last `file:line:` of the traceback in the test's file.
    if let Some(file) = case.file.clone()
        && outcome != TestOutcome::Skipped
        && let Some(line) = text.lines().rev().find_map(|l| {
            let rest = l.strip_prefix(file.as_str())?.strip_prefix(':')?;
            rest.split(':').next()?.parse::<u32>().ok()
        })
    {
        case.line = Some(line);
    }
    let mut msg = message.filter(|m| !m.is_empty()).unwrap_or_else(|| {
        text.lines()
            .filter(|l| l.starts_with("E "))
            .map(|l| l.trim_start_matches('E').trim())
            .collect::<Vec<_>>()
            .join("\n")
    });
    if msg.is_empty() {
        text.trim().clone_into(&mut msg);
    }
    if msg.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    case.message = (!msg.is_empty()).then_some(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/testing/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn tempconv_report_names_the_failing_test_and_its_line() {
        let cases = parse(&fixture("pytest-tempconv.xml")).unwrap();
        assert_eq!(cases.len(), 5);
        let failed: Vec<_> = cases
            .iter()
            .filter(|c| c.outcome == TestOutcome::Failed)
            .collect();
        assert_eq!(failed.len(), 1);
        let f = failed[0];
        assert_eq!(
            f.name,
            "tests/test_tempconv.py::test_boiling_point_in_celsius"
        );
        assert_eq!(f.file.as_deref(), Some("tests/test_tempconv.py"));
        assert_eq!(f.line, Some(20), "the assert's line, 1-based");
        assert!(f.message.as_deref().unwrap().contains("194.22"), "{f:?}");
        let first = &cases[0];
        assert_eq!(first.outcome, TestOutcome::Passed);
        assert_eq!(first.line, Some(11), "the def's line, 1-based");
    }

    #[test]
    fn mixed_report_has_every_outcome() {
        let cases = parse(&fixture("pytest-mixed.xml")).unwrap();
        let by = |n: &str| cases.iter().find(|c| c.name.ends_with(n)).unwrap();
        assert_eq!(by("::test_ok").outcome, TestOutcome::Passed);
        assert_eq!(by("::test_fails").outcome, TestOutcome::Failed);
        assert!(
            by("::test_fails")
                .message
                .as_deref()
                .unwrap()
                .starts_with("AssertionError: lists differ")
        );
        assert_eq!(by("::test_skipped").outcome, TestOutcome::Skipped);
        assert_eq!(
            by("::test_skipped").message.as_deref(),
            Some("not on this platform")
        );
        assert_eq!(by("::test_error_in_setup").outcome, TestOutcome::Error);
        assert_eq!(
            by("test_mix.py::TestGroup::test_method").outcome,
            TestOutcome::Passed
        );
    }

    #[test]
    fn collection_error_is_an_error_case() {
        let cases = parse(&fixture("pytest-collection-error.xml")).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].outcome, TestOutcome::Error);
        assert_eq!(cases[0].name, "test_broken_import.py::test_broken_import");
        assert_eq!(cases[0].message.as_deref(), Some("collection failure"));
    }

    #[test]
    fn malformed_xml_is_an_error_not_a_panic() {
        assert!(parse("<testsuites><testcase name='x'></testsuite>").is_err());
    }
}
