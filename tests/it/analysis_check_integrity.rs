//! `kiln check` must not damage or misreport (issue 10): `--fix` keeps the bytes it does not
//! change, the owner, the mode and links, skips read-only files, and exits non-zero when a fix
//! was not written; a missing path fails; file text and names reach the terminal inert; a full
//! disk under `--record` still shows the findings and says so once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::kiln::Kiln;

/// An unused import (a safe fix) and a finding that stays.
const FIXABLE: &str = "import os, sys\n\nx = sys.argv\n";
const FIXED: &str = "import sys\n\nx = sys.argv\n";

struct World {
    kiln: Kiln,
}

impl World {
    fn new() -> Self {
        let kiln = Kiln::new();
        std::fs::create_dir_all(kiln.home().join("work")).unwrap();
        Self { kiln }
    }

    fn work(&self) -> PathBuf {
        self.kiln.home().join("work")
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.work().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.kiln.command(args);
        cmd.current_dir(self.work());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> (Value, i32, String) {
        let mut all = vec!["check", "--no-cache", "--output-format", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", crate::support::kiln::describe(&out)));
        (
            v,
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn note_kinds(report: &Value) -> Vec<String> {
    report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn fix_keeps_invalid_utf8_bytes_it_does_not_change() {
    let w = World::new();
    let p = w.write(
        "latin1.py",
        b"# caf\xe9\nimport os, sys\n\nx = sys.argv  # \xff\xfe\n",
    );
    let (report, _, _) = w.json(&["--fix"]);
    assert_eq!(report["fixed"], 1, "{report}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        b"# caf\xe9\nimport sys\n\nx = sys.argv  # \xff\xfe\n",
        "only the fixed import changed; no U+FFFD"
    );
    assert!(note_kinds(&report).contains(&"invalid_utf8".to_owned()));
}

#[test]
fn fix_keeps_owner_and_mode() {
    if !crate::support::require(
        is_root(),
        "fix keeps the owner",
        "needs root to give the file another owner",
    ) {
        return;
    }
    let w = World::new();
    let p = w.write("m.py", FIXABLE);
    std::os::unix::fs::chown(&p, Some(4242), Some(4343)).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o664)).unwrap();
    let (report, _, _) = w.json(&["--fix"]);
    assert_eq!(report["fixed"], 1, "{report}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), FIXED);
    let meta = std::fs::metadata(&p).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4242, 4343), "owner kept");
    assert_eq!(meta.mode() & 0o7777, 0o664, "mode kept");
}

#[test]
fn fix_writes_through_a_symlink_and_keeps_the_link() {
    let w = World::new();
    let real = w.write("real/m.py", FIXABLE);
    std::os::unix::fs::symlink("real/m.py", w.work().join("link.py")).unwrap();
    let (report, _, _) = w.json(&["--fix", "link.py"]);
    assert_eq!(report["fixed"], 1, "{report}");
    let link = std::fs::symlink_metadata(w.work().join("link.py")).unwrap();
    assert!(link.file_type().is_symlink(), "still a link");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), FIXED);
    let names: Vec<_> = std::fs::read_dir(w.work().join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temp file left: {names:?}");
}

#[test]
fn fix_skips_read_only_files_with_a_note() {
    let w = World::new();
    let p = w.write("ro.py", FIXABLE);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (report, code, _) = w.json(&["--fix"]);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        FIXABLE,
        "not rewritten"
    );
    assert_eq!(report["fixed"], 0, "{report}");
    assert_eq!(note_kinds(&report), ["read_only"]);
    assert_eq!(code, 1, "the unfixed finding is still reported");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "PY109")
    );
}

#[test]
fn fix_that_cannot_be_written_exits_non_zero_and_is_not_counted() {
    let w = World::new();
    // A hard-linked file cannot be replaced without splitting it from its other name.
    let p = w.write("m.py", FIXABLE);
    std::fs::hard_link(&p, w.kiln.home().join("other-name.py")).unwrap();
    let out = w.run(&["check", "--no-cache", "--fix"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(!stdout.contains("fixed"), "summary claims a fix: {stdout}");
    assert!(stdout.contains("not written"), "{stdout}");
    assert!(stderr.contains("could not be written"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), FIXABLE);
    if !is_root() {
        // An unwritable directory, where the permission bits bind.
        let w = World::new();
        let p = w.write("locked/m.py", FIXABLE);
        let dir = w.work().join("locked");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let (report, code, _) = w.json(&["--fix"]);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(code, 2);
        assert_eq!(report["fixed"], 0);
        assert_eq!(report["unwritten"], 1);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), FIXABLE);
    }
}

#[test]
fn a_named_path_that_does_not_exist_exits_2() {
    let w = World::new();
    w.write("ok.py", "x = 1\n");
    for args in [
        &["check", "/no/such/path"][..],
        &["check", "ok.py", "typo.py"][..],
    ] {
        let out = w.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("does not exist"), "{stderr}");
    }
    let out = w.run(&["check", "ok.py"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn file_text_and_names_reach_the_terminal_inert() {
    let w = World::new();
    // OSC 52 would write the clipboard; the name carries a colour change and a bell.
    w.write("clip.py", "x = eval('\x1b]52;c;SGVsbG8=\x07')\n");
    w.write("bad\x1b[31mname\x07.py", "y = eval('1')\n");
    let out = w.run(&["check", "--no-cache", "--select", "PY201"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        !stdout.contains(['\x1b', '\x07']),
        "raw control characters: {stdout:?}"
    );
    assert!(stdout.contains("␛]52;c;SGVsbG8=␇"), "{stdout}");
    assert!(stdout.contains("bad␛[31mname␇.py:1:5"), "{stdout}");
    // JSON stays exact (escaped by JSON itself).
    let (report, _, _) = w.json(&["--select", "PY201"]);
    let files: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert!(files.contains(&"bad\x1b[31mname\x07.py"), "{files:?}");
}

#[test]
fn full_disk_under_record_still_prints_the_findings_and_says_so_once() {
    let unshare = Command::new("unshare")
        .args(["-rm", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !crate::support::require(
        unshare,
        "full disk with --record",
        "needs `unshare -rm` to mount a small tmpfs",
    ) {
        return;
    }
    let w = World::new();
    w.write("m.py", "x = eval('1')\n");
    let data = w.kiln.db().parent().unwrap().to_owned();
    std::fs::create_dir_all(&data).unwrap();
    // In a private mount namespace: a 512 KiB tmpfs for the database, which is created by a
    // first run, then filled up before the run under test.
    let script = r#"mount -t tmpfs -o size=512k tmpfs "$DATA" || exit 97
"$KILN" check --no-cache --record --exit-zero m.py >/dev/null 2>&1
dd if=/dev/zero of="$DATA/fill" bs=4k >/dev/null 2>&1
exec "$KILN" check --no-cache --record m.py"#;
    let base = w.command(&[]);
    let mut cmd = Command::new("unshare");
    cmd.args(["-rm", "sh", "-c", script])
        .env_clear()
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("KILN", env!("CARGO_BIN_EXE_kiln"))
        .env("DATA", &data)
        .current_dir(w.work());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(97), "mount failed: {stderr}");
    assert!(
        stdout.contains("m.py:1:5: PY201"),
        "findings printed: {stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "the error once: {stderr}");
    assert!(stderr.contains("not recorded"), "{stderr}");
}
