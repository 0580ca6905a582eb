//! The caller's `--rw`/`--workdir` directories work as they are, as root (through an idmapped
//! mount: the program is still uid 65534, its files belong to the directory's owner) and as a
//! regular user; a directory the sandbox user could not write is refused before the run.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::support::sandbox::*;

const WRITE: &str = "import os\nopen('made.txt', 'w').write('hi')\nos.mkdir('made.d')\nprint('uid', os.getuid(), 'owner', os.stat('.').st_uid)";

fn dir(mode: u32) -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("kiln-test-own-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

#[test]
fn own_directories_work_as_they_are() {
    if !isolation_available("own directories") {
        return;
    }
    let me = nix::unistd::geteuid().as_raw();
    for mode in [0o700, 0o755] {
        let d = dir(mode);
        let p = d.path().to_str().unwrap();
        for opts in [&["--workdir", p][..], &["--rw", p, "--workdir", p]] {
            let _ = std::fs::remove_file(d.path().join("made.txt"));
            let _ = std::fs::remove_dir(d.path().join("made.d"));
            let r = py(opts, WRITE);
            assert_eq!(r.code, 0, "mode {mode:o} {opts:?}: {r:?}");
            // Never host root inside, even when kiln is root.
            let inside = if is_root() { 65534 } else { me };
            assert_eq!(
                r.stdout.trim(),
                format!("uid {inside} owner {inside}"),
                "mode {mode:o}"
            );
            for made in ["made.txt", "made.d"] {
                let m = std::fs::metadata(d.path().join(made)).unwrap();
                assert_eq!(
                    m.uid(),
                    me,
                    "{made} belongs to the directory's owner on the host"
                );
            }
        }
    }
}

#[test]
fn setuid_bits_cannot_be_set() {
    if !isolation_available("setuid bits") {
        return;
    }
    let d = dir(0o700);
    let code = "import os\nopen('x', 'w').close()\ntry:\n    os.chmod('x', 0o4755); print('chmod=ok')\nexcept OSError as e: print('chmod', e.errno)\ntry:\n    os.close(os.open('y', os.O_CREAT | os.O_WRONLY, 0o2755)); print('open=ok')\nexcept OSError as e: print('open', e.errno)\nos.chmod('x', 0o755); print('plain chmod ok')";
    let r = py(&["--workdir", d.path().to_str().unwrap()], code);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!(
            "chmod {}\nopen {}\nplain chmod ok\n",
            libc::EPERM,
            libc::EPERM
        )
    );
    let mode = std::fs::metadata(d.path().join("x")).unwrap().mode();
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn a_directory_the_sandbox_cannot_write_is_refused_before_the_run() {
    // As root: a third user's directory. As anyone else: a root-owned one.
    let d = dir(0o755);
    if is_root() {
        std::os::unix::fs::chown(d.path(), Some(4242), Some(4242)).unwrap();
    }
    let p = if is_root() {
        d.path().to_str().unwrap().to_owned()
    } else {
        "/usr/share".to_owned()
    };
    let marker = "kiln-refused-run-marker";
    for opts in [&["--rw", p.as_str()][..], &["--workdir", p.as_str()]] {
        let r = run(opts, &["/bin/echo", marker]);
        assert_eq!(r.code, 125, "{opts:?}: {r:?}");
        assert!(!r.stdout.contains(marker), "the program must not run");
        assert!(r.stderr.contains(&format!("'{p}'")), "{}", r.stderr);
        assert!(r.stderr.contains("could not write there"), "{}", r.stderr);
        assert!(r.stderr.contains("--ro"), "says the fix: {}", r.stderr);
    }
    // Read-only is fine.
    if isolation_available("read-only bind of a foreign dir") {
        let r = run(&["--ro", &p], &["/bin/ls", &p]);
        assert_eq!(r.code, 0, "{r:?}");
    }
}
