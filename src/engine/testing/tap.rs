//! node's TAP reporter (`node --test --test-reporter=tap`): nested `# Subtest:` blocks, test
//! points `ok N - name [# SKIP reason]`, and a YAML block per point with `duration_ms`,
//! `location`, `error` and `stack`. Suites (and tests that only hold subtests) are not cases;
//! a case's name joins its parents with ` > `.

use crate::engine::store::{TestCase, TestOutcome};

/// One open `# Subtest:` (its indent) and whether a test point was seen inside it.
struct Open {
    indent: usize,
    name: String,
    has_children: bool,
}

/// A test point whose YAML block is being read.
struct Pending {
    case: TestCase,
    indent: usize,
    group: bool,
    /// The multi-line YAML key being read (`error`, `stack`) and its indent.
    block: Option<(String, usize)>,
    error: String,
    stack: String,
    in_yaml: bool,
}

pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<TestCase> {
    let mut cases = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut pending: Option<Pending> = None;
    for raw in lines {
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim_start();
        if let Some(p) = pending.as_mut() {
            if p.in_yaml {
                if line == "..." && indent == p.indent + 2 {
                    p.in_yaml = false;
                    if let Some(p) = pending.take() {
                        finish(p, &mut cases);
                    }
                } else {
                    yaml_line(p, raw, indent);
                }
                continue;
            }
            if line == "---" && indent == p.indent + 2 {
                p.in_yaml = true;
                continue;
            }
            if let Some(p) = pending.take() {
                finish(p, &mut cases);
            }
        }
        if let Some(name) = line.strip_prefix("# Subtest: ") {
            open.push(Open {
                indent,
                name: name.to_owned(),
                has_children: false,
            });
            continue;
        }
        let (ok, rest) = if let Some(r) = line.strip_prefix("not ok ") {
            (false, r)
        } else if let Some(r) = line.strip_prefix("ok ") {
            (true, r)
        } else {
            continue;
        };
        // `N - name # SKIP reason`
        let rest = rest.split_once(" - ").map_or("", |(_, r)| r);
        let (name, directive) = match rest.split_once(" # ") {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let group = open
            .iter()
            .rev()
            .find(|o| o.indent == indent)
            .is_some_and(|o| o.has_children);
        open.retain(|o| o.indent < indent);
        if let Some(parent) = open.last_mut() {
            parent.has_children = true;
        }
        let parents: Vec<&str> = open.iter().map(|o| o.name.as_str()).collect();
        let full = if parents.is_empty() {
            name.to_owned()
        } else {
            format!("{} > {name}", parents.join(" > "))
        };
        let (outcome, message) = match directive {
            Some(d)
                if d.to_ascii_uppercase().starts_with("SKIP")
                    || d.to_ascii_uppercase().starts_with("TODO") =>
            {
                let reason = d.split_once(' ').map(|(_, r)| r.trim().to_owned());
                (TestOutcome::Skipped, reason.filter(|r| !r.is_empty()))
            }
            _ if ok => (TestOutcome::Passed, None),
            _ => (TestOutcome::Failed, None),
        };
        pending = Some(Pending {
            case: TestCase {
                name: full,
                outcome,
                duration_ms: None,
                message,
                file: None,
                line: None,
            },
            indent,
            group,
            block: None,
            error: String::new(),
            stack: String::new(),
            in_yaml: false,
        });
    }
    if let Some(p) = pending.take() {
        finish(p, &mut cases);
    }
    cases
}

fn yaml_line(p: &mut Pending, raw: &str, indent: usize) {
    let line = raw.trim_start();
    if let Some((key, block_indent)) = &p.block {
        if indent > *block_indent || line.is_empty() {
            let text = raw.get(block_indent + 2..).unwrap_or(line);
            let target = if key == "error" {
                &mut p.error
            } else {
                &mut p.stack
            };
            if !target.is_empty() {
                target.push('\n');
            }
            target.push_str(text);
            return;
        }
        p.block = None;
    }
    let Some((key, value)) = line.split_once(':') else {
        return;
    };
    let value = value.trim();
    let unquote = |v: &str| v.trim_matches('\'').replace("''", "'");
    match key {
        "duration_ms" => {
            p.case.duration_ms = value.parse::<f64>().ok().map(|d| d.round() as u64);
        }
        "type" if unquote(value) == "suite" => p.group = true,
        "failureType" if unquote(value) == "subtestsFailed" => p.group = true,
        "failureType" if unquote(value) == "hookFailed" => p.case.outcome = TestOutcome::Error,
        "location" => {
            // '/path/file.test.js:5:1'
            let loc = unquote(value);
            let mut parts = loc.rsplitn(3, ':');
            let _col = parts.next();
            let line_no = parts.next().and_then(|l| l.parse::<u32>().ok());
            if let (Some(file), Some(l)) = (parts.next(), line_no) {
                p.case.file = Some(file.to_owned());
                p.case.line = Some(l);
            }
        }
        "error" | "stack" if value.starts_with('|') => {
            p.block = Some((key.to_owned(), indent));
        }
        "error" => p.error = unquote(value),
        _ => {}
    }
}

fn finish(mut p: Pending, cases: &mut Vec<TestCase>) {
    if p.group {
        return;
    }
    if p.case.outcome != TestOutcome::Passed && p.case.outcome != TestOutcome::Skipped {
        let error = p.error.trim();
        if !error.is_empty() {
            p.case.message = Some(error.to_owned());
        }
        // The failing line: the first stack frame in the test's own file.
        if let Some(file) = p.case.file.clone()
            && let Some(l) = p.stack.lines().find_map(|frame| {
                let at = frame.split(&format!("{file}:")).nth(1)?;
                at.split(':').next()?.parse::<u32>().ok()
            })
        {
            p.case.line = Some(l);
        }
    }
    cases.push(p.case);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_node_tap_output() {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/testing/node-tap.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let cases = parse(text.lines());
        let names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "adds",
                "subtracts wrongly",
                "skipped one",
                "group > nested ok",
                "group > nested fails"
            ]
        );
        let wrong = &cases[1];
        assert_eq!(wrong.outcome, TestOutcome::Failed);
        assert!(
            wrong.message.as_deref().unwrap().contains("2 !== 3"),
            "{wrong:?}"
        );
        assert_eq!(wrong.file.as_deref(), Some("/tmp/jsfx/math.test.js"));
        assert_eq!(wrong.line, Some(5));
        assert_eq!(cases[2].outcome, TestOutcome::Skipped);
        assert_eq!(cases[2].message.as_deref(), Some("not today"));
        assert_eq!(cases[4].outcome, TestOutcome::Failed);
        assert_eq!(cases[4].message.as_deref(), Some("boom"));
        assert_eq!(cases[4].line, Some(9));
        assert_eq!(cases[0].outcome, TestOutcome::Passed);
        assert_eq!(cases[0].duration_ms, Some(2));
    }
}
