//! `kiln check -` and `--stdin-filename`: the source comes from stdin, named for language
//! detection and reports; with `--fix` the fixed source goes to stdout, the report to stderr.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::support::kiln::Kiln;

fn with_stdin(kiln: &Kiln, args: &[&str], input: &[u8]) -> Output {
    let mut child = kiln
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

const SOURCE: &[u8] = b"import os, sys\n\nx = eval(sys.argv)  # caf\xe9\n";

#[test]
fn stdin_is_checked_under_the_given_name() {
    let kiln = Kiln::new();
    let out = with_stdin(
        &kiln,
        &[
            "check",
            "--output-format",
            "json",
            "--stdin-filename",
            "pkg/mod.py",
        ],
        SOURCE,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["files_checked"], 1);
    let found: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(found, [("pkg/mod.py", "PY109"), ("pkg/mod.py", "PY201")]);
    // `-` with --language, and the human format.
    let out = with_stdin(&kiln, &["check", "-", "--language", "python"], SOURCE);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("-:1:8: PY109"), "{text}");
    // The name decides the file kind: under tests/, assert is fine.
    let out = with_stdin(
        &kiln,
        &[
            "check",
            "--select",
            "PY113",
            "--stdin-filename",
            "tests/test_a.py",
        ],
        b"assert 1\n",
    );
    assert_eq!(out.status.code(), Some(0));
    let out = with_stdin(
        &kiln,
        &[
            "check",
            "--fail-on",
            "info",
            "--select",
            "PY113",
            "--stdin-filename",
            "lib.py",
        ],
        b"assert 1\n",
    );
    assert_eq!(out.status.code(), Some(1), "library code");
}

#[test]
fn stdin_with_fix_prints_the_fixed_source_byte_exact() {
    let kiln = Kiln::new();
    let out = with_stdin(
        &kiln,
        &["check", "-", "--fix", "--stdin-filename", "m.py"],
        SOURCE,
    );
    assert_eq!(out.stdout, b"import sys\n\nx = eval(sys.argv)  # caf\xe9\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("m.py:3:5: PY201"), "{stderr}");
    assert!(stderr.contains("fixed 1"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "the eval is still there");
    assert!(
        !kiln.home().join("m.py").exists(),
        "nothing is written for stdin"
    );
}

#[test]
fn stdin_without_a_language_fails_with_a_hint() {
    let kiln = Kiln::new();
    let out = with_stdin(&kiln, &["check", "-"], b"x = 1\n");
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("--stdin-filename"), "{all}");
    let out = kiln.output(&["check", "-", "other.py"]);
    assert_eq!(out.status.code(), Some(2));
}
