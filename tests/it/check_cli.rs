//! `kiln check` and `kiln rules` through the real binary, with HOME/XDG in a temp dir: formats,
//! exit codes, selection, suppressions, config, fixes, the cache, `--record`, and every kind of
//! bad input from the issue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::format_collect)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::kiln::Kiln;

/// The one harness ([`Kiln`]) with a `work/` directory inside its temp world as the working
/// directory, so paths in reports are relative and the world's own files are not checked.
struct Sandbox {
    kiln: Kiln,
}

impl Sandbox {
    fn new() -> Self {
        let kiln = Kiln::new();
        std::fs::create_dir_all(kiln.home().join("work")).unwrap();
        Self { kiln }
    }

    fn work(&self) -> PathBuf {
        self.kiln.home().join("work")
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.work().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.kiln.command(args);
        cmd.current_dir(self.work());
        cmd
    }

    fn kiln(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> (Value, i32) {
        let mut all = vec!["check", "--output-format", "json"];
        all.extend_from_slice(args);
        let out = self.kiln(&all);
        let text = String::from_utf8_lossy(&out.stdout);
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {text}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (value, out.status.code().unwrap_or(-1))
    }
}

fn rules_of(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect()
}

fn note_kinds(report: &Value) -> Vec<(String, String)> {
    report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let path = n["path"].as_str().unwrap();
            let name = Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, n["kind"].as_str().unwrap().to_owned())
        })
        .collect()
}

const SMELLY: &str = "import os\n\ndef f(a=[]):\n    \"\"\"Doc.\"\"\"\n    if a == None:\n        return eval('1')\n    return a\n";

#[test]
fn json_report_lists_findings_and_exit_code_follows_fail_on() {
    let sb = Sandbox::new();
    sb.write("pkg/mod.py", SMELLY);
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    assert_eq!(report["files_checked"], 1);
    let mut rules = rules_of(&report);
    rules.sort();
    assert_eq!(
        rules,
        ["PY103", "PY107", "PY109", "PY201", "PY401"]
            .map(String::from)
            .to_vec()
            .into_iter()
            .filter(|r| r != "PY401")
            .collect::<Vec<_>>()
    );
    let f = &report["findings"][0];
    assert_eq!(f["file"], "pkg/mod.py");
    assert_eq!(f["range"]["start"]["line"], 0);
    // --exit-zero, --fail-on error with only warnings selected
    assert_eq!(sb.json(&["--exit-zero"]).1, 0);
    assert_eq!(
        sb.json(&["--fail-on", "error", "--select", "PY103,PY107"])
            .1,
        0
    );
    assert_eq!(sb.json(&["--fail-on", "error"]).1, 1, "PY201 is an error");
}

#[test]
fn select_and_ignore_filter_rules_and_unknown_ids_are_errors() {
    let sb = Sandbox::new();
    sb.write("m.py", SMELLY);
    let (report, _) = sb.json(&["--select", "PY1", "--ignore", "PY109"]);
    let mut rules = rules_of(&report);
    rules.sort();
    assert_eq!(rules, ["PY103", "PY107"]);
    let out = sb.kiln(&["check", "--select", "NOPE1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown rule 'NOPE1'"));
}

#[test]
fn config_overrides_severity_and_disables_rules() {
    let sb = Sandbox::new();
    sb.write("m.py", SMELLY);
    sb.write(
        "kiln.toml",
        "[analysis]\ncomplexity_threshold = 5\n\n[analysis.rules.PY109]\nseverity = \"error\"\n\n[analysis.rules.PY201]\nenabled = false\n",
    );
    let (report, _) = sb.json(&[]);
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["rule"] != "PY201"));
    let unused = findings.iter().find(|f| f["rule"] == "PY109").unwrap();
    assert_eq!(unused["severity"], "error");
}

#[test]
fn suppression_comments_silence_lines_and_files() {
    let sb = Sandbox::new();
    sb.write("a.py", "x = eval('1')  # kiln: ignore[PY201]\ny = eval('2')\n# kiln: ignore[PY201]\nz = eval('3')\n");
    sb.write("b.py", "# kiln: ignore-file[PY201]\nx = eval('1')\n");
    sb.write(
        "c.rs",
        "fn f(x: Option<u8>) -> u8 {\n    x.unwrap() // kiln: ignore\n}\n",
    );
    let (report, _) = sb.json(&["--select", "PY201,RS101"]);
    let lines: Vec<(String, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap().to_owned(),
                f["range"]["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines, [("a.py".to_owned(), 1)]);
}

#[test]
fn directories_respect_gitignore_and_detect_languages() {
    let sb = Sandbox::new();
    sb.write(".gitignore", "build/\n");
    sb.write("build/gen.py", "eval('x')\n");
    sb.write("src/lib.rs", "pub fn f() {\n    todo!()\n}\n");
    sb.write("web/app.ts", "let x: any = 1;\n");
    sb.write("web/ui.js", "if (a == b) {}\n");
    sb.write("bin/tool", "#!/usr/bin/env python3\neval('1')\n");
    let (report, _) = sb.json(&[".", "bin/tool"]);
    let mut files: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    files.sort_unstable();
    files.dedup();
    assert_eq!(files, ["bin/tool", "src/lib.rs", "web/app.ts", "web/ui.js"]);
}

#[test]
fn human_format_shows_a_code_frame_and_summary() {
    let sb = Sandbox::new();
    sb.write("m.py", "value = eval(text)\n");
    let out = sb.kiln(&["check", "--select", "PY201"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "m.py:1:9: PY201 [error] 'eval' runs arbitrary code\n  |\n1 | value = eval(text)\n  |         ^^^^\nFound 1 findings in 1 of 1 files checked (1 errors, 0 warnings, 0 info, 0 hints; 0 fixable)\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn fix_applies_safe_fixes_atomically_and_keeps_unsafe_ones() {
    let sb = Sandbox::new();
    let p = sb.write(
        "m.py",
        "import os, sys, json\nfrom a import (b,\n    c)\n\ndef f():\n    \"\"\"Doc.\"\"\"\n    try:\n        g(json)\n    except:\n        raise\n    if c == None:\n        return f'x'\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let (report, _) = sb.json(&["--fix"]);
    assert!(report["fixed"].as_u64().unwrap() >= 4, "{report}");
    let fixed = std::fs::read_to_string(&p).unwrap();
    assert_eq!(
        fixed,
        "import json\nfrom a import (c)\n\ndef f():\n    \"\"\"Doc.\"\"\"\n    try:\n        g(json)\n    except:\n        raise\n    if c is None:\n        return 'x'\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }
    // The unsafe fix (bare except) only with --unsafe-fixes.
    let (_, _) = sb.json(&["--fix", "--unsafe-fixes"]);
    assert!(
        std::fs::read_to_string(&p)
            .unwrap()
            .contains("except Exception:")
    );
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(sb.work())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn warm_run_uses_the_cache_and_sees_changes() {
    let sb = Sandbox::new();
    let p = sb.write("m.py", "eval('1')\n");
    sb.write("n.py", "x = 1\n");
    let (first, _) = sb.json(&[]);
    assert_eq!(first["cache_hits"], 0);
    let (second, _) = sb.json(&[]);
    assert_eq!(second["cache_hits"], 2);
    assert_eq!(first["findings"], second["findings"]);
    std::fs::write(&p, "exec('1')\n\n").unwrap();
    let (third, _) = sb.json(&[]);
    assert_eq!(third["cache_hits"], 1);
    assert_eq!(rules_of(&third), ["PY202"]);
    // A different rule selection must not reuse findings.
    let (fourth, _) = sb.json(&["--select", "PY201"]);
    assert_eq!(fourth["cache_hits"], 0);
    let (fifth, _) = sb.json(&["--no-cache"]);
    assert_eq!(fifth["cache_hits"], 0);
    // Rewritten with the same content (new mtime): reused by content hash.
    let (_, _) = sb.json(&[]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&p, "exec('1')\n\n").unwrap();
    let (sixth, _) = sb.json(&[]);
    assert_eq!(sixth["cache_hits"], 2);
    assert_eq!(rules_of(&sixth), ["PY202"]);
}

#[test]
fn record_stores_findings_as_a_check_run() {
    let sb = Sandbox::new();
    sb.write("m.py", SMELLY);
    let out = sb.kiln(&["check", "--record", "--output-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("recorded 4 findings as run 1"), "{stderr}");
    let db = sb.kiln.db();
    let store = kiln::engine::store::Store::open_read_only(
        &db,
        &kiln::engine::store::StoreConfig::default(),
    )
    .unwrap();
    let stored = store.findings_of_run(1).unwrap();
    assert_eq!(stored.len(), 4);
    assert!(stored.iter().all(|f| f.file == "m.py"));
    assert_eq!(
        store.run(1).unwrap().kind,
        kiln::engine::store::RunKind::Check
    );
}

#[test]
fn rules_lists_every_rule_and_explains_one() {
    let sb = Sandbox::new();
    let out = sb.kiln(&["rules", "--format", "json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 54);
    assert!(
        rows.iter()
            .any(|r| r["id"] == "PY101" && r["category"] == "correctness")
    );
    let out = sb.kiln(&["rules", "explain", "py109"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# PY109 unused-import"), "{text}");
    assert!(text.contains("## Bad") && text.contains("## Good"));
    let out = sb.kiln(&["rules", "explain", "XX1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/analysis-venv/bin/python");
    let schema = root.join("target/sarif-schema-2.1.0.json");
    if !crate::support::require(
        python.exists() && schema.exists(),
        "sarif schema validation",
        "run tests/setup/analysis.sh first",
    ) {
        return;
    }
    let sb = Sandbox::new();
    sb.write("dir with space/m.py", SMELLY);
    sb.write("x.rs", "fn f() { let x = Some(1).unwrap(); }\n");
    sb.write("bin.py", "a\0b");
    let out = sb.kiln(&["check", "--output-format", "sarif"]);
    let sarif = sb.write("out.sarif", std::str::from_utf8(&out.stdout).unwrap());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["runs"][0]["results"].as_array().unwrap().len() >= 5);
    assert!(
        !v["runs"][0]["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let check = Command::new(&python)
        .arg("-c")
        .arg("import json,sys,jsonschema\nschema=json.load(open(sys.argv[1]))\ndoc=json.load(open(sys.argv[2]))\njsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker()).validate(doc)\nprint('valid')")
        .arg(&schema)
        .arg(&sarif)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn bad_input_binary_nul_and_invalid_utf8_are_noted_and_the_rest_continues() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.work().join("blob.py"),
        [0x7f, b'E', b'L', b'F', 0, 0, 1, 2],
    )
    .unwrap();
    std::fs::write(sb.work().join("nul.js"), b"let a = 1;\0\n").unwrap();
    std::fs::write(sb.work().join("latin1.py"), b"# caf\xe9\nx = eval('1')\n").unwrap();
    sb.write("ok.py", "exec('1')\n");
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    let mut notes = note_kinds(&report);
    notes.sort();
    assert_eq!(
        notes,
        [
            ("blob.py", "binary"),
            ("latin1.py", "invalid_utf8"),
            ("nul.js", "binary")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let mut rules = rules_of(&report);
    rules.sort();
    assert_eq!(
        rules,
        ["PY201", "PY202"],
        "the lossy file is still analysed"
    );
}

#[test]
fn bad_input_fifty_megabyte_file_is_skipped_with_a_note() {
    let sb = Sandbox::new();
    let big = sb.work().join("big.py");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap();
    drop(f);
    std::fs::write(&big, "x = 1\n".repeat(50 * 1024 * 1024 / 6)).unwrap();
    sb.write("ok.py", "eval('1')\n");
    let (report, code) = sb.json(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        note_kinds(&report),
        [("big.py".to_owned(), "too_large".to_owned())]
    );
    assert_eq!(rules_of(&report), ["PY201"]);
}

#[test]
fn bad_input_deep_nesting_does_not_overflow_the_stack() {
    let sb = Sandbox::new();
    let depth = 10_000;
    sb.write(
        "deep.py",
        &format!(
            "x = {}1{}\neval('1')\n",
            "(".repeat(depth),
            ")".repeat(depth)
        ),
    );
    sb.write(
        "deep_list.py",
        &format!("x = {}\n", "[".repeat(depth) + &"]".repeat(depth)),
    );
    sb.write(
        "deep.js",
        &format!("let x = {}1{};\n", "[".repeat(depth), "]".repeat(depth)),
    );
    sb.write(
        "deep.rs",
        &format!("fn f() {{ {} }}\n", "{".repeat(depth) + &"}".repeat(depth)),
    );
    sb.write(
        "deep_if.py",
        &(0..2000)
            .map(|i| format!("{}if x:\n", " ".repeat(i)))
            .collect::<String>(),
    );
    let (report, _) = sb.json(&[]);
    assert_eq!(report["files_checked"], 5, "{}", report["notes"]);
    assert!(rules_of(&report).contains(&"PY201".to_owned()));
}

#[cfg(unix)]
#[test]
fn bad_input_symlink_loops_terminate_and_unreadable_files_are_reported() {
    let sb = Sandbox::new();
    sb.write("a/ok.py", "eval('1')\n");
    std::os::unix::fs::symlink("..", sb.work().join("a/loop")).unwrap();
    std::os::unix::fs::symlink("self", sb.work().join("self")).unwrap();
    std::os::unix::fs::symlink("missing.py", sb.work().join("dangling.py")).unwrap();
    let locked = sb.write("locked.py", "eval('2')\n");
    let root = nix_is_root();
    if !root {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let (report, code) = sb.json(&["."]);
    assert_eq!(code, 1);
    let notes = note_kinds(&report);
    assert!(
        notes.iter().any(|(_, k)| k == "walk"),
        "loop noted: {notes:?}"
    );
    assert!(
        notes.contains(&("dangling.py".to_owned(), "unreadable".to_owned())),
        "{notes:?}"
    );
    if !root {
        assert!(
            notes.contains(&("locked.py".to_owned(), "unreadable".to_owned())),
            "{notes:?}"
        );
    }
    assert!(
        rules_of(&report).contains(&"PY201".to_owned()),
        "the rest is still checked"
    );
}

#[cfg(unix)]
fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
