//! Finding functions in a document's text, cheaply (no parse): enough to list the generate,
//! improve and generate-tests actions and the code lenses on every request without delaying
//! the editor. Python bodies are found by indentation, the brace languages by brace matching
//! (strings and comments are skipped roughly; a wrong guess only misplaces an action).

use kiln::engine::analysis::Language;

/// A function in the text; lines are 0-based and inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Function {
    pub name: String,
    pub start_line: u32,
    pub end_line: u32,
    /// The body is a stub: empty, a docstring, `pass`, `...`, `todo!()`, `unimplemented!()`,
    /// a `kiln:` comment or `throw new Error("not implemented")`.
    pub is_stub: bool,
    pub is_test: bool,
}

/// The functions of `text`, in order.
pub(crate) fn functions(text: &str, lang: Language) -> Vec<Function> {
    let lines: Vec<&str> = text.lines().collect();
    match lang {
        Language::Python => python(&lines),
        _ => braces(&lines, lang),
    }
}

/// The innermost function containing `line`.
pub(crate) fn at_line(fns: &[Function], line: u32) -> Option<&Function> {
    fns.iter()
        .filter(|f| f.start_line <= line && line <= f.end_line)
        .min_by_key(|f| f.end_line - f.start_line)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn ident(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// A `kiln:` instruction comment (not a suppression).
fn is_kiln_comment(comment: &str) -> bool {
    let c = comment.trim_start_matches(['#', '/', '*', ' ']);
    c.starts_with("kiln:") && !c.starts_with("kiln: ignore")
}

fn python(lines: &[&str]) -> Vec<Function> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let rest = t.strip_prefix("async ").unwrap_or(t);
        let Some(name) = rest
            .strip_prefix("def ")
            .and_then(|r| ident(r.trim_start()))
        else {
            continue;
        };
        let base = indent(line);
        // The header ends on the first line ending with ':' (outside a comment).
        let mut header_end = i;
        while header_end < lines.len() {
            let code = lines[header_end].split('#').next().unwrap_or("").trim_end();
            if code.ends_with(':') {
                break;
            }
            header_end += 1;
        }
        // A one-line body after the colon: `def f(): pass`.
        let inline = lines
            .get(header_end)
            .and_then(|l| l.split_once("):").map(|(_, b)| b.trim().to_owned()))
            .filter(|b| !b.is_empty() && !b.starts_with('#'));
        let mut end = header_end;
        let mut body: Vec<&str> = Vec::new();
        for (j, l) in lines.iter().enumerate().skip(header_end + 1) {
            if l.trim().is_empty() {
                continue;
            }
            if indent(l) <= base {
                break;
            }
            end = j;
            body.push(l.trim());
        }
        let is_stub = match &inline {
            Some(b) => body.is_empty() && is_python_stub(&[b.as_str()]),
            None => is_python_stub(&body),
        };
        out.push(Function {
            is_test: name.starts_with("test"),
            name,
            start_line: i as u32,
            end_line: end as u32,
            is_stub,
        });
    }
    out
}

fn is_python_stub(body: &[&str]) -> bool {
    let mut rest: Vec<&str> = Vec::new();
    let mut in_doc: Option<&str> = None;
    let mut kiln_comment = false;
    for (k, l) in body.iter().enumerate() {
        if let Some(q) = in_doc {
            if l.contains(q) {
                in_doc = None;
            }
            continue;
        }
        if l.starts_with('#') {
            kiln_comment |= is_kiln_comment(l);
            continue;
        }
        if k == 0 || rest.is_empty() {
            for q in ["\"\"\"", "'''"] {
                if let Some(after) = l.strip_prefix(q)
                    && !after.contains(q)
                {
                    in_doc = Some(q);
                }
            }
            if l.starts_with("\"\"\"") || l.starts_with("'''") {
                continue;
            }
            if (l.starts_with('"') || l.starts_with('\'')) && rest.is_empty() {
                continue;
            }
        }
        rest.push(l);
    }
    kiln_comment
        || rest.is_empty()
        || rest
            .iter()
            .all(|l| matches!(*l, "pass" | "...") || l.starts_with("raise NotImplementedError"))
}

fn braces(lines: &[&str], lang: Language) -> Vec<Function> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line.trim_start(), lang) else {
            continue;
        };
        // The body: from the first '{' at or after the header to its match.
        let mut depth = 0i32;
        let mut started = false;
        let mut body = String::new();
        let mut end = i;
        'scan: for (j, l) in lines.iter().enumerate().skip(i) {
            let code = strip_line_comment(l, &mut body);
            let mut in_str: Option<char> = None;
            for c in code.chars() {
                if let Some(q) = in_str {
                    if c == q {
                        in_str = None;
                    }
                    if started {
                        body.push(c);
                    }
                    continue;
                }
                match c {
                    '"' | '`' => in_str = Some(c),
                    '\'' if lang != Language::Rust => in_str = Some(c),
                    ';' if !started => break 'scan, // a declaration without a body
                    '{' => {
                        depth += 1;
                        if !started {
                            started = true;
                            continue;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if started && depth == 0 {
                            end = j;
                            break 'scan;
                        }
                    }
                    _ => {}
                }
                if started {
                    body.push(c);
                }
            }
            if started {
                body.push('\n');
            }
            end = j;
        }
        if !started {
            continue;
        }
        let is_test = lang == Language::Rust
            && i > 0
            && lines[..i]
                .iter()
                .rev()
                .take(3)
                .any(|l| l.trim_start().starts_with("#[") && l.contains("test"));
        out.push(Function {
            name,
            start_line: i as u32,
            end_line: end as u32,
            is_stub: is_brace_stub(&body),
            is_test,
        });
    }
    out
}

/// Strips a `//` comment, noting a `kiln:` comment into `body` as a marker.
fn strip_line_comment<'a>(line: &'a str, body: &mut String) -> &'a str {
    match line.find("//") {
        Some(i) => {
            if is_kiln_comment(&line[i..]) {
                body.push_str("\u{0}kiln\u{0}");
            }
            &line[..i]
        }
        None => line,
    }
}

fn fn_name(t: &str, lang: Language) -> Option<String> {
    if lang == Language::Rust {
        let mut rest = t;
        for prefix in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "const ",
            "async ",
            "unsafe ",
            "extern \"C\" ",
        ] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        return rest.strip_prefix("fn ").and_then(|r| ident(r.trim_start()));
    }
    let mut rest = t;
    for prefix in ["export ", "default ", "async "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    if let Some(r) = rest.strip_prefix("function") {
        return ident(r.trim_start_matches(['*', ' ']));
    }
    for kw in ["const ", "let "] {
        if let Some(r) = rest.strip_prefix(kw)
            && (r.contains("=>") || r.contains("function"))
        {
            return ident(r);
        }
    }
    None
}

fn is_brace_stub(body: &str) -> bool {
    if body.contains("\u{0}kiln\u{0}") {
        return true;
    }
    let b: String = body.split_whitespace().collect();
    let b = b.trim_end_matches(';');
    b.is_empty()
        || b == "todo!()"
        || b == "unimplemented!()"
        || b.starts_with("todo!(\"")
        || b.starts_with("unimplemented!(\"")
        || b.to_ascii_lowercase()
            .starts_with("thrownewerror(\"notimplemented")
        || b.to_ascii_lowercase()
            .starts_with("thrownewerror('notimplemented")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stubs(text: &str, lang: Language) -> Vec<(String, bool, bool)> {
        functions(text, lang)
            .into_iter()
            .map(|f| (f.name, f.is_stub, f.is_test))
            .collect()
    }

    #[test]
    fn python_stubs() {
        let text = "def a():\n    \"\"\"Doc.\n    more\"\"\"\n\ndef b(x):\n    return x\n\ndef c(): pass\n\nclass K:\n    def d(self):\n        ...\n    def e(self):\n        # kiln: add two numbers\n        pass\n\ndef test_f():\n    assert b(1) == 1\n\ndef g():\n    raise NotImplementedError\n";
        assert_eq!(
            stubs(text, Language::Python),
            [
                ("a".into(), true, false),
                ("b".into(), false, false),
                ("c".into(), true, false),
                ("d".into(), true, false),
                ("e".into(), true, false),
                ("test_f".into(), false, true),
                ("g".into(), true, false),
            ]
        );
        let fns = functions(text, Language::Python);
        assert_eq!(at_line(&fns, 5).unwrap().name, "b");
        assert_eq!(at_line(&fns, 13).unwrap().name, "e");
    }

    #[test]
    fn brace_stubs() {
        let rs = "pub fn a() -> u32 {\n    todo!()\n}\nfn b() { 1 }\n#[test]\nfn c() {\n    // kiln: check a\n}\nfn d(s: &str) -> &str { \"}\" }\n";
        assert_eq!(
            stubs(rs, Language::Rust),
            [
                ("a".into(), true, false),
                ("b".into(), false, false),
                ("c".into(), true, true),
                ("d".into(), false, false),
            ]
        );
        let js = "export function a() {\n  throw new Error(\"not implemented\");\n}\nconst b = (x) => {\n  return x;\n};\n";
        assert_eq!(
            stubs(js, Language::JavaScript),
            [("a".into(), true, false), ("b".into(), false, false)]
        );
    }
}
