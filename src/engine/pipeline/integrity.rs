//! The test-integrity gate: the tests of the `tests` stage are the acceptance tests, and later
//! stages may not weaken them. A test deleted, renamed away, newly skipped (`pytest.skip`,
//! `@skip`, `#[ignore]`, `.skip`), emptied of assertions, or skipped at run time fails the
//! gate, and so does code under test that ends the test process early (`sys.exit(0)`,
//! `os._exit`, `raise SkipTest`, `process.exit(0)`). Each violation names the test and how.
//!
//! The scan is textual and per language (test functions found by their conventional shapes);
//! it errs towards reporting: a false alarm costs one more improve round, a miss ships a
//! deleted test as "all tests pass".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::language::Lang;
use super::state::TestReport;

/// One way the tests were weakened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// `file::test`, or what the special-casing affects.
    pub test: String,
    pub how: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.test, self.how)
    }
}

/// One test function as found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TestFn {
    name: String,
    skipped: bool,
    asserts: bool,
}

/// Every violation of `tests` (now) against `acceptance` (as first written), with `code` the
/// code under test and `report` the latest test run.
pub fn check(
    lang: Lang,
    acceptance: &BTreeMap<String, String>,
    tests: &BTreeMap<String, String>,
    code: &BTreeMap<String, String>,
    report: Option<&TestReport>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for (file, before) in acceptance {
        let old = find_tests(lang, before);
        let new = tests
            .get(file)
            .map(|t| find_tests(lang, t))
            .unwrap_or_default();
        let added: Vec<&TestFn> = new
            .iter()
            .filter(|n| !old.iter().any(|o| o.name == n.name))
            .collect();
        for o in &old {
            let test = format!("{file}::{}", o.name);
            let Some(n) = new.iter().find(|n| n.name == o.name) else {
                let how = if !tests.contains_key(file) {
                    format!("deleted (the file '{file}' is gone)")
                } else if let Some(a) = added.first() {
                    format!("renamed away (a new test '{}' appeared instead)", a.name)
                } else {
                    "deleted".to_owned()
                };
                out.push(Violation { test, how });
                continue;
            };
            if n.skipped && !o.skipped {
                out.push(Violation {
                    test: test.clone(),
                    how: "newly skipped (a skip marker or call was added)".into(),
                });
            }
            if o.asserts && !n.asserts {
                out.push(Violation {
                    test: test.clone(),
                    how: "emptied of assertions".into(),
                });
            }
            if let Some(r) = report
                && !o.skipped
                && r.tests
                    .iter()
                    .any(|t| t.outcome == "skipped" && t.name.ends_with(&o.name))
            {
                out.push(Violation {
                    test,
                    how: "skipped when the tests ran".into(),
                });
            }
        }
    }
    for (file, content) in code {
        if lang.is_test_path(file) {
            continue;
        }
        for (line, how) in special_cases(lang, content) {
            out.push(Violation {
                test: format!("every test of '{file}'"),
                how: format!("special-cased: code under test {how} at {file}:{line}"),
            });
        }
    }
    out
}

/// Calls in code under test that end or skip the test run, with 1-based lines. A Python
/// `if __name__ == "__main__":` block is left alone (a script's own exit).
fn special_cases(lang: Lang, content: &str) -> Vec<(usize, &'static str)> {
    let patterns: &[(&str, &str)] = match lang {
        Lang::Python => &[
            (
                "sys.exit(0)",
                "calls sys.exit(0), ending pytest early as a pass",
            ),
            ("os._exit(", "calls os._exit, ending the test process"),
            ("raise SkipTest", "raises SkipTest, skipping the tests"),
            (
                "raise unittest.SkipTest",
                "raises SkipTest, skipping the tests",
            ),
            ("pytest.skip(", "calls pytest.skip, skipping the tests"),
        ],
        Lang::Rust => &[(
            "process::exit(0)",
            "calls process::exit(0), ending the test binary early",
        )],
        Lang::Javascript => &[
            (
                "process.exit(0)",
                "calls process.exit(0), ending the tests early",
            ),
            (
                "process.reallyExit(",
                "calls process.reallyExit, ending the tests early",
            ),
        ],
    };
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let t = line.trim();
        if lang == Lang::Python && t.starts_with("if __name__") {
            break;
        }
        if t.starts_with('#') || t.starts_with("//") {
            continue;
        }
        for (pat, how) in patterns {
            if t.contains(pat) {
                out.push((i + 1, *how));
            }
        }
    }
    out
}

fn find_tests(lang: Lang, text: &str) -> Vec<TestFn> {
    match lang {
        Lang::Python => python_tests(text),
        Lang::Rust => rust_tests(text),
        Lang::Javascript => js_tests(text),
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn python_tests(text: &str) -> Vec<TestFn> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(rest) = t
            .strip_prefix("def ")
            .or_else(|| t.strip_prefix("async def "))
        else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.starts_with("test") {
            continue;
        }
        let depth = indent(line);
        let mut decorators = String::new();
        for prev in lines[..i].iter().rev() {
            let p = prev.trim();
            if p.starts_with('@') {
                decorators.push_str(p);
            } else {
                break;
            }
        }
        let mut body = String::new();
        for next in &lines[i + 1..] {
            if !next.trim().is_empty() && indent(next) <= depth {
                break;
            }
            body.push_str(next);
            body.push('\n');
        }
        let body_code: String = body
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        out.push(TestFn {
            name,
            skipped: decorators.contains("skip")
                || decorators.contains("xfail")
                || body_code.contains("pytest.skip(")
                || body_code.contains("skipTest(")
                || body_code.contains("SkipTest"),
            asserts: body_code.contains("assert")
                || body_code.contains("pytest.raises")
                || body_code.contains("pytest.fail"),
        });
    }
    out
}

/// The text from the first `{` at or after `from` to its matching `}` (strings skipped).
fn braced(text: &str, from: usize) -> &str {
    let Some(open) = text[from..].find('{').map(|i| i + from) else {
        return "";
    };
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' => quote = Some(c),
            '\'' if !text[..open + i].ends_with(|p: char| p.is_alphanumeric()) => {
                quote = Some(c);
            }
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..=open + i];
                }
            }
            _ => {}
        }
    }
    &text[open..]
}

fn rust_tests(text: &str) -> Vec<TestFn> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(at) = text[search..].find("#[test]").map(|i| i + search) {
        search = at + 7;
        let Some(fn_at) = text[search..].find("fn ").map(|i| i + search) else {
            break;
        };
        let attrs = &text[search..fn_at];
        let name: String = text[fn_at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body = braced(text, fn_at);
        out.push(TestFn {
            name,
            skipped: attrs.contains("#[ignore"),
            asserts: body.contains("assert")
                || body.contains("panic!")
                || attrs.contains("should_panic")
                || body.contains(".unwrap_err()"),
        });
    }
    out
}

fn js_tests(text: &str) -> Vec<TestFn> {
    let mut out = Vec::new();
    for head in ["test", "it"] {
        let mut search = 0;
        while let Some(at) = text[search..].find(head).map(|i| i + search) {
            search = at + head.len();
            let before_ok = at == 0
                || !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.');
            let rest = &text[search..];
            let (modifier, after) = match rest.strip_prefix('.') {
                Some(r) => {
                    let m: String = r.chars().take_while(char::is_ascii_alphabetic).collect();
                    let len = m.len();
                    (m, &r[len..])
                }
                None => (String::new(), rest),
            };
            let Some(args) = after.trim_start().strip_prefix('(') else {
                continue;
            };
            if !before_ok {
                continue;
            }
            let args = args.trim_start();
            let Some(q) = args
                .chars()
                .next()
                .filter(|c| matches!(c, '\'' | '"' | '`'))
            else {
                continue;
            };
            let Some(end) = args[1..].find(q) else {
                continue;
            };
            let name = args[1..=end].to_owned();
            let offset = text.len() - args.len() + end + 1;
            let body = braced(text, offset);
            let brace = text[offset..].find('{').map_or(text.len(), |i| offset + i);
            let opts = &text[offset..brace];
            out.push(TestFn {
                name,
                skipped: matches!(modifier.as_str(), "skip" | "todo")
                    || opts.contains("skip:")
                    || opts.contains("todo:")
                    || body.contains(".skip(")
                    || body.contains(".todo("),
                asserts: body.contains("assert")
                    || body.contains("expect(")
                    || body.contains("throws"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const PY: &str = "import calc\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n\ndef test_neg():\n    assert calc.add(-1, -1) == -2\n";

    #[test]
    fn python_deleted_renamed_skipped_emptied_and_special_cased() {
        let acc = map(&[("test_calc.py", PY)]);
        let same = check(Lang::Python, &acc, &acc, &BTreeMap::new(), None);
        assert!(same.is_empty(), "{same:?}");

        let deleted = map(&[(
            "test_calc.py",
            "import calc\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n",
        )]);
        let v = check(Lang::Python, &acc, &deleted, &BTreeMap::new(), None);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].test, "test_calc.py::test_neg");
        assert_eq!(v[0].how, "deleted");

        let renamed = map(&[(
            "test_calc.py",
            &PY.replace("test_neg", "test_negative_later"),
        )]);
        let v = check(Lang::Python, &acc, &renamed, &BTreeMap::new(), None);
        assert!(
            v[0].how.contains("renamed away") && v[0].how.contains("test_negative_later"),
            "{v:?}"
        );

        let skipped = map(&[(
            "test_calc.py",
            &PY.replace("def test_neg", "@pytest.mark.skip\ndef test_neg"),
        )]);
        let v = check(Lang::Python, &acc, &skipped, &BTreeMap::new(), None);
        assert_eq!(
            v[0].how, "newly skipped (a skip marker or call was added)",
            "{v:?}"
        );

        let emptied = map(&[(
            "test_calc.py",
            &PY.replace("    assert calc.add(-1, -1) == -2", "    pass"),
        )]);
        let v = check(Lang::Python, &acc, &emptied, &BTreeMap::new(), None);
        assert_eq!(v[0].how, "emptied of assertions", "{v:?}");

        let code = map(&[(
            "calc.py",
            "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    sys.exit(0)\n",
        )]);
        let v = check(Lang::Python, &acc, &acc, &code, None);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].how.contains("sys.exit(0)") && v[0].how.contains("calc.py:2"),
            "{v:?}"
        );
    }

    #[test]
    fn rust_and_js_skips_are_seen() {
        let rs = "#[test]\nfn adds() {\n    assert_eq!(add(1, 2), 3);\n}\n";
        let acc = map(&[("tests/t.rs", rs)]);
        let ignored = map(&[(
            "tests/t.rs",
            &rs.replace("#[test]\n", "#[test]\n#[ignore]\n"),
        )]);
        let v = check(Lang::Rust, &acc, &ignored, &BTreeMap::new(), None);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].how.contains("skipped"));

        let js = "const test = require('node:test');\ntest('adds', () => {\n  assert.strictEqual(add(1, 2), 3);\n});\n";
        let acc = map(&[("test/add.test.js", js)]);
        assert!(check(Lang::Javascript, &acc, &acc, &BTreeMap::new(), None).is_empty());
        let skipped = map(&[(
            "test/add.test.js",
            &js.replace("test('adds'", "test.skip('adds'"),
        )]);
        let v = check(Lang::Javascript, &acc, &skipped, &BTreeMap::new(), None);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].test, "test/add.test.js::adds");
        let emptied = map(&[(
            "test/add.test.js",
            &js.replace("assert.strictEqual(add(1, 2), 3);", ""),
        )]);
        let v = check(Lang::Javascript, &acc, &emptied, &BTreeMap::new(), None);
        assert_eq!(v[0].how, "emptied of assertions", "{v:?}");
    }
}
