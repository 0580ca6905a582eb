//! The incremental document: after any sequence of LSP edits its findings equal a full
//! re-analysis of the same text, and a local edit re-analyses only the units it touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::format_push_string)]

use kiln::engine::analysis::{
    Document, FileKind, Language, LineIndex, Position, Range, RuleSet, TextChange, all_rules,
    analyze_source,
};
use pretty_assertions::assert_eq;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn sample(family: &str) -> String {
    let mut text = String::from("# héllo wörld — ünïcode 🎉 before everything\n");
    for r in all_rules() {
        if serde_json::to_value(r.family).unwrap() == family {
            text.push_str(r.bad);
            text.push('\n');
            text.push_str(r.good);
            text.push('\n');
        }
    }
    if family == "python" {
        // Module-level classes are split into a shell and one unit per body statement.
        text.push_str("@decorate\nclass Shop(Base):\n    \"\"\"Doc.\"\"\"\n    items = []\n    # kiln: ignore[PY115]\n    more = {}\n\n    def add(self, x=[]):\n        if x == None:\n            return eval(x)\n        unused = 1\n\n    import os\n    def f(self):\n        return 1\n        print('dead')\n\nclass Empty: pass\n");
    }
    text
}

fn char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Random one-character inserts and deletes, each compared with a full re-analysis.
fn fuzz(lang: Language, family: &str, seed: u64, edits: usize) {
    let rules = RuleSet::default();
    let text = sample(family);
    let mut doc = Document::new(text, lang, FileKind::default(), &rules).unwrap();
    let mut rng = Rng(seed);
    let alphabet = [
        "x", " ", "\n", "(", ")", ":", "'", "#", "=", "é", "\"", "{", "}", ";", "    ",
    ];
    for step in 0..edits {
        let text = doc.text().to_owned();
        let lines = LineIndex::new(&text);
        let at = char_boundary(&text, rng.below(text.len() + 1));
        let change = if rng.below(3) == 0 && at < text.len() {
            let end = at + text[at..].chars().next().unwrap().len_utf8();
            TextChange {
                range: Some(Range {
                    start: lines.position(&text, at),
                    end: lines.position(&text, end),
                }),
                text: String::new(),
            }
        } else {
            let pos = lines.position(&text, at);
            TextChange {
                range: Some(Range {
                    start: pos,
                    end: pos,
                }),
                text: alphabet[rng.below(alphabet.len())].to_owned(),
            }
        };
        doc.apply_changes(std::slice::from_ref(&change), &rules)
            .unwrap();
        let full = analyze_source(doc.text(), lang, FileKind::default(), &rules).unwrap();
        assert_eq!(
            doc.sorted_findings(),
            full,
            "{lang} step {step} after {change:?}\n{}",
            doc.text()
        );
    }
}

#[test]
fn python_random_edits_match_full_reanalysis() {
    fuzz(Language::Python, "python", 0x9e37_79b9_7f4a_7c15, 300);
}

#[test]
fn rust_random_edits_match_full_reanalysis() {
    fuzz(Language::Rust, "rust", 42, 150);
}

#[test]
fn typescript_random_edits_match_full_reanalysis() {
    let rules = RuleSet::default();
    let _ = rules;
    fuzz(Language::TypeScript, "javascript", 7, 150);
}

#[test]
fn several_changes_in_one_notification_and_full_replacement() {
    let rules = RuleSet::default();
    let mut doc = Document::new(
        "import os\nx = 1\n".into(),
        Language::Python,
        FileKind::default(),
        &rules,
    )
    .unwrap();
    assert_eq!(
        doc.findings().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        ["PY109"]
    );
    let at = |line, character| Position { line, character };
    doc.apply_changes(
        &[
            TextChange {
                range: Some(Range {
                    start: at(1, 0),
                    end: at(1, 0),
                }),
                text: "os.getcwd()\n".into(),
            },
            TextChange {
                range: Some(Range {
                    start: at(2, 4),
                    end: at(2, 5),
                }),
                text: "None == x".into(),
            },
        ],
        &rules,
    )
    .unwrap();
    assert_eq!(doc.text(), "import os\nos.getcwd()\nx = None == x\n");
    assert_eq!(
        doc.findings().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        ["PY107"]
    );
    doc.apply_changes(
        &[TextChange {
            range: None,
            text: "eval('1')\n".into(),
        }],
        &rules,
    )
    .unwrap();
    assert_eq!(
        doc.findings().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        ["PY201"]
    );
    let err = doc.apply_changes(
        &[TextChange {
            range: Some(Range {
                start: at(9, 0),
                end: at(9, 1),
            }),
            text: String::new(),
        }],
        &rules,
    );
    assert!(err.is_err());
}

#[test]
fn a_local_edit_reanalyses_only_the_touched_units() {
    let rules = RuleSet::default();
    let mut text = String::from("import os\n");
    for i in 0..500 {
        text.push_str(&format!(
            "def f{i}(a, b=[]):\n    if a == None:\n        return b\n    return a\n\n"
        ));
    }
    let mut doc = Document::new(text, Language::Python, FileKind::default(), &rules).unwrap();
    let before = doc.findings().count();
    // Type inside the body of function 250.
    let line = 1 + 250 * 5 + 3;
    let pos = Position {
        line,
        character: 12,
    };
    doc.apply_changes(
        &[TextChange {
            range: Some(Range {
                start: pos,
                end: pos,
            }),
            text: "+1".into(),
        }],
        &rules,
    )
    .unwrap();
    assert!(
        doc.last_reanalysed() <= 2,
        "re-analysed {}",
        doc.last_reanalysed()
    );
    assert_eq!(doc.findings().count(), before);
    // Using `os` anywhere clears the file-level unused import.
    assert!(doc.findings().any(|f| f.rule == "PY109"));
    doc.apply_changes(
        &[TextChange {
            range: Some(Range {
                start: pos,
                end: pos,
            }),
            text: " + os.sep".into(),
        }],
        &rules,
    )
    .unwrap();
    assert!(!doc.findings().any(|f| f.rule == "PY109"));
}

/// An edit in one method of a big Rust impl or JS/TS class re-analyses that method (and the
/// container's shell), not the whole container; findings equal a full re-analysis.
#[test]
fn an_edit_in_one_method_of_a_big_impl_or_class_reanalyses_that_method() {
    let rules = RuleSet::default();
    let rust = {
        let mut t = String::from("pub struct S;\n\nimpl S {\n");
        for i in 0..300 {
            t.push_str(&format!(
                "    pub fn m{i}(&self, x: Option<u8>) -> u8 {{\n        x.unwrap()\n    }}\n"
            ));
        }
        t.push_str("}\n");
        (Language::Rust, t, 3 + 150 * 3 + 1)
    };
    let ts = {
        let mut t = String::from("export class C {\n");
        for i in 0..300 {
            t.push_str(&format!(
                "  m{i}(a: any) {{\n    if (a == 1) {{ return a; }}\n  }}\n"
            ));
        }
        t.push_str("}\n");
        (Language::TypeScript, t, 1 + 150 * 3 + 1)
    };
    for (lang, text, line) in [rust, ts] {
        let mut doc = Document::new(text, lang, FileKind::default(), &rules).unwrap();
        assert!(
            doc.unit_count() > 300,
            "{lang:?}: {} units",
            doc.unit_count()
        );
        let pos = Position { line, character: 4 };
        doc.apply_changes(
            &[TextChange {
                range: Some(Range {
                    start: pos,
                    end: pos,
                }),
                text: "let _y = 1; ".into(),
            }],
            &rules,
        )
        .unwrap();
        assert!(
            doc.last_reanalysed() <= 3,
            "{lang:?}: re-analysed {} units",
            doc.last_reanalysed()
        );
        let full = analyze_source(doc.text(), lang, FileKind::default(), &rules).unwrap();
        assert_eq!(doc.sorted_findings(), full, "{lang:?}");
    }
}
