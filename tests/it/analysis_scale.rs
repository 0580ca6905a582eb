//! Linear in file size (issue 13): shapes that were quadratic, the parser's comment scan after
//! `import os` or inside a block, and the human report of a file with thousands of findings.
//! Bounds are generous (a debug build on a loaded machine) with the figure printed; the strict
//! 10 MB < 2 s rows are in bench/analysis.sh.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::time::{Duration, Instant};

use kiln::engine::analysis::{FileKind, Language, RuleSet, analyze_source};

use crate::support::kiln::Kiln;

fn timed(what: &str, f: impl FnOnce() -> usize) {
    let t = Instant::now();
    let n = f();
    let took = t.elapsed();
    eprintln!("{what}: {took:?} ({n} findings)");
    // Quadratic, these took minutes; linear, well under a second in release.
    assert!(took < Duration::from_secs(60), "{what} took {took:?}");
}

fn lines(n: usize, f: impl Fn(usize) -> String) -> String {
    (0..n).map(f).collect()
}

#[test]
fn long_comment_runs_parse_in_linear_time() {
    let rules = RuleSet::default();
    // 1 MB each; before the scanner patch 200 KB of the first took 2.5 s (release).
    let module = format!(
        "import os\n{}",
        lines(50_000, |i| format!("# comment {i:08}\n"))
    );
    let block = format!(
        "def f():\n    x = 1\n{}    return x\n",
        lines(45_000, |i| format!("    # comment {i:06}\n"))
    );
    for (what, text) in [("module comments", module), ("block comments", block)] {
        timed(what, || {
            analyze_source(&text, Language::Python, FileKind::default(), &rules)
                .unwrap()
                .len()
        });
    }
}

#[test]
fn human_report_of_many_findings_is_linear() {
    let kiln = Kiln::new();
    // ~500 KB: a small function with a TODO comment per unit, 20k findings with code frames.
    let text = lines(10_000, |i| {
        format!("def f{i}(a):\n    return a  # TODO {i}\n")
    });
    std::fs::write(kiln.home().join("m.py"), &text).unwrap();
    let mut out = None;
    timed("human report, 500 KB", || {
        let o = kiln.output(&["check", "--no-cache", "--exit-zero", "m.py"]);
        let n = String::from_utf8_lossy(&o.stdout).matches("PY").count();
        out = Some(o);
        n
    });
    let out = out.unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Found 20000 findings"));
}
