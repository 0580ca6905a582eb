//! Output that is not text lines: newline-free and binary output goes through `kiln sandbox
//! run` and the store byte for byte (`kiln logs --raw`), and still reads as lines; and how many
//! SQL statements a recorded run costs.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::os::unix::fs::PermissionsExt;

use crate::support::sandbox::*;

/// `kiln logs --raw 1` in `home`: the exact bytes stored for run 1.
fn raw_log(home: &Home, run: i64) -> Vec<u8> {
    let out = home
        .kiln()
        .args(["logs", "--raw", &run.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Pseudo-random bytes without a newline (xorshift: no extra crate).
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            match (seed >> 24) as u8 {
                b'\n' => b'.',
                b => b,
            }
        })
        .collect()
}

#[test]
fn ten_megabytes_of_random_bytes_round_trip_exactly() {
    if !isolation_available("raw byte output") {
        return;
    }
    // A world-readable file (as root the program runs as uid 65534) that `cat` copies out.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("noise.bin");
    let data = noise(10_000_000, 0x2545_F491_4F6C_DD1D);
    std::fs::write(&file, &data).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let home = Home::new();
    let out = home
        .kiln()
        .args([
            "--format", "json", "sandbox", "run", "--output", "20M", "--ro",
        ])
        .arg(dir.path())
        .args(["--", "/bin/cat"])
        .arg(&file)
        .output()
        .unwrap();
    let r = Run::from_output(std::process::Output {
        stdout: Vec::new(),
        ..out.clone()
    });
    assert_eq!(r.code, 0, "{r:?}");
    assert!(out.stdout == data, "the piped output is byte-exact");
    let stored = raw_log(&home, 1);
    assert_eq!(stored.len(), data.len());
    assert!(stored == data, "the store gives back the same bytes");
    // Line reads present the chunks as lines of at most 64 KiB.
    let lines = home
        .kiln()
        .args(["--format", "json", "logs", "1"])
        .output()
        .unwrap();
    let presented = String::from_utf8_lossy(&lines.stdout).lines().count();
    assert_eq!(presented, data.len().div_ceil(64 << 10), "presented lines");
}

#[test]
fn mixed_text_and_binary_output_round_trips_exactly() {
    if !isolation_available("mixed output") {
        return;
    }
    let code = "import sys\nb = bytes(x for x in range(256) if x != 10)\nsys.stdout.buffer.write(b'line 1\\n' + b * 1000 + b'\\nline 2\\n\\xff\\xfe\\n' + b'x' * 300000 + b'\\nline 3\\ntail')";
    let block: Vec<u8> = (0u8..=255).filter(|&b| b != b'\n').collect();
    let mut want = b"line 1\n".to_vec();
    for _ in 0..1000 {
        want.extend_from_slice(&block);
    }
    want.extend_from_slice(b"\nline 2\n\xff\xfe\n");
    want.extend(std::iter::repeat_n(b'x', 300_000));
    want.extend_from_slice(b"\nline 3\ntail");
    let home = Home::new();
    let out = home
        .kiln()
        .args(["--format", "json", "sandbox", "run", "--", PY, "-c", code])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == want, "the piped output is byte-exact");
    assert!(
        raw_log(&home, 1) == want,
        "the store gives back the same bytes"
    );
    let text = home.kiln().args(["logs", "1"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "line 1");
    assert!(
        lines.contains(&"line 2") && lines.contains(&"line 3"),
        "{lines:?}"
    );
    assert_eq!(lines.last(), Some(&"tail"));
}

#[test]
fn a_recorded_run_costs_few_statements() {
    if !isolation_available("statement count") {
        return;
    }
    let home = Home::new();
    // The first run creates the database; count the next ones.
    assert_eq!(run_in(&home, &[], &["/bin/true"]).code, 0);
    let quiet = run_in(&home, &[], &["/bin/true"]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    let loud = run_in(&home, &[], &["/bin/echo", "hello"]);
    assert_eq!(loud.code, 0, "{loud:?}");
    let (quiet, loud) = (
        quiet.summary["db_statements"].as_u64().unwrap(),
        loud.summary["db_statements"].as_u64().unwrap(),
    );
    eprintln!("db statements: /bin/true {quiet}, echo hello {loud}");
    // Through the engine (no change feed for a one-shot command): opening the engine's writer
    // and the recording's connection, the run, the process row in one transaction, finishing
    // in one; the log writer's own connection opens only for a run with output. 41 today.
    assert!(quiet <= 45, "/bin/true ran {quiet} statements");
    assert!(
        loud > quiet,
        "output opens the log writer: {loud} vs {quiet}"
    );
}
