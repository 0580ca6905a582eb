//! Applying fixes: exact results for each fixable rule, conflicting edits resolved over rounds,
//! and fixed code that parses and has nothing left to fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln::engine::analysis::{
    FileKind, FixAvailability, FixMode, Language, RuleSet, all_rules, analyze_source, fix_source,
};
use pretty_assertions::assert_eq;

fn fix(code: &str, lang: Language, mode: FixMode) -> String {
    fix_source(code, lang, FileKind::default(), &RuleSet::default(), mode)
        .unwrap()
        .0
}

#[test]
fn each_fix_produces_the_expected_code() {
    let py = |c: &str| fix(c, Language::Python, FixMode::IncludeUnsafe);
    let cases: &[(&str, &str)] = &[
        (
            "import os\nimport sys\nsys.exit()\n",
            "import sys\nsys.exit()\n",
        ),
        ("from a import b, c, d\nc()\n", "from a import c\nc()\n"),
        (
            "import a, b\nif x:\n    import c\nb()\n",
            "import b\nif x:\n    pass\nb()\n",
        ),
        ("if T:\n    import os\n", "if T:\n    pass\n"),
        (
            "if x == None or y != None:\n    pass\n",
            "if x is None or y is not None:\n    pass\n",
        ),
        ("if done == False:\n    pass\n", "if not done:\n    pass\n"),
        ("s = f'{{x}}' + rf'\\d{{2}}'\n", "s = '{x}' + r'\\d{{2}}'\n"),
        ("ok = x is 'a'\n", "ok = x == 'a'\n"),
        (
            "if not k in d.keys():\n    pass\n",
            "if k not in d:\n    pass\n",
        ),
        ("raise NotImplemented\n", "raise NotImplementedError\n"),
        ("d = dict()\nl = list()\n", "d = {}\nl = []\n"),
        (
            "try:\n    f()\nexcept:\n    raise\n",
            "try:\n    f()\nexcept Exception:\n    raise\n",
        ),
        (
            "import yaml\nc = yaml.load(t)\n",
            "import yaml\nc = yaml.safe_load(t)\n",
        ),
    ];
    for (before, after) in cases {
        assert_eq!(py(before), *after, "fixing {before:?}");
    }
    assert_eq!(
        fix(
            "var a = 1;\nif (a == b) { debugger; }\n",
            Language::JavaScript,
            FixMode::IncludeUnsafe
        ),
        "let a = 1;\nif (a === b) {  }\n"
    );
    assert_eq!(
        fix(
            "// @ts-ignore\nlet a: number = 1;\n",
            Language::TypeScript,
            FixMode::IncludeUnsafe
        ),
        "// @ts-expect-error\nlet a: number = 1;\n"
    );
    assert_eq!(
        fix(
            "fn f(s: &str) -> String { s.to_owned().clone() }\n",
            Language::Rust,
            FixMode::SafeOnly
        ),
        "fn f(s: &str) -> String { s.to_owned() }\n"
    );
}

#[test]
fn safe_mode_leaves_unsafe_fixes_alone() {
    let code = "try:\n    f()\nexcept:\n    raise\nimport os\n";
    assert_eq!(
        fix(code, Language::Python, FixMode::SafeOnly),
        "try:\n    f()\nexcept:\n    raise\n"
    );
}

#[test]
fn fixing_every_bad_example_yields_code_that_parses_with_nothing_left_to_fix() {
    let rules = RuleSet::default();
    for rule in all_rules()
        .into_iter()
        .filter(|r| r.fix != FixAvailability::None)
    {
        let lang = match serde_json::to_value(rule.family).unwrap().as_str().unwrap() {
            "python" => Language::Python,
            "rust" => Language::Rust,
            "javascript" => Language::JavaScript,
            _ => Language::TypeScript,
        };
        let (fixed, n, left) = fix_source(
            rule.bad,
            lang,
            FileKind::default(),
            &rules,
            FixMode::IncludeUnsafe,
        )
        .unwrap();
        assert!(n >= 1, "{}: no fix applied", rule.id);
        assert!(
            left.iter().all(|f| f.fix.is_none() || f.rule != rule.id),
            "{}: {left:?}",
            rule.id
        );
        let again = analyze_source(&fixed, lang, FileKind::default(), &rules).unwrap();
        assert!(
            again.iter().all(|f| !f.rule.ends_with("001")),
            "{}: fixed code does not parse:\n{fixed}",
            rule.id
        );
    }
}
