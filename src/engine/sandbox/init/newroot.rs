//! The new root, built in pid 1's mount namespace: a tmpfs with the system directories and a
//! subset of `/etc` bound read-only, fresh `passwd`/`group`/`hosts`, a minimal `/dev`, a new
//! `/proc` with `/proc/sys` read-only, capped tmpfs `/tmp` and work directory, the caller's
//! binds; then `pivot_root` and a read-only remount of `/`. As root, host paths are first
//! staged (bound under the run directory) so the init can still reach them after dropping root.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statvfs::{FsFlags, statvfs};

use super::super::spec::{InitSpec, WorkdirKind};
use super::{SetupError, SetupResult, fail};

/// System directories bound read-only into every sandbox (symlinks are recreated as symlinks).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// The subset of `/etc` programs need; `passwd`, `group`, `hosts` and `hostname` are written fresh.
const ETC_ENTRIES: &[&str] = &[
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "protocols",
    "services",
    "ssl",
    "timezone",
    "debian_version",
];

fn inside(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn mnt(
    src: Option<&Path>,
    dst: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    mount(src, dst, fstype, flags, data).map_err(|e| {
        format!(
            "mount {} on '{}': {e}",
            src.map_or_else(
                || fstype.unwrap_or("-").to_owned(),
                |s| s.display().to_string()
            ),
            dst.display()
        )
    })
}

/// Flags a bind remount must keep: the kernel refuses to clear locked ones in a user namespace.
fn locked_flags(p: &Path) -> MsFlags {
    let mut f = MsFlags::empty();
    if let Ok(s) = statvfs(p) {
        let have = s.flags();
        for (st, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if have.contains(st) {
                f |= ms;
            }
        }
    }
    f
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadOnly,
    ReadWrite,
}

/// Binds host path `src` at `dst`, creating the mount point; skips a missing `src`.
fn bind(src: &Path, dst: &Path, access: Access) -> Result<(), String> {
    let Ok(meta) = fs::metadata(src) else {
        return Ok(());
    };
    if meta.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dst)
            .map_err(|e| format!("mkdir '{}': {e}", dst.display()))?;
    } else if !dst.exists() {
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("mkdir '{}': {e}", parent.display()))?;
        }
        File::create(dst).map_err(|e| format!("create '{}': {e}", dst.display()))?;
    }
    mnt(Some(src), dst, None, MsFlags::MS_BIND, None)?;
    if access == Access::ReadOnly {
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | locked_flags(dst);
        mnt(None, dst, None, flags, None)?;
    }
    Ok(())
}

fn tmpfs(dst: &Path, mode: u32, size: u64, flags: MsFlags) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .create(dst)
        .map_err(|e| format!("mkdir '{}': {e}", dst.display()))?;
    let data = format!("mode={mode:o},size={size}");
    mnt(
        Some(Path::new("tmpfs")),
        dst,
        Some("tmpfs"),
        flags,
        Some(&data),
    )
}

/// As root, before dropping to uid 65534: binds every host path the run needs under the run
/// directory (in a private mount namespace), so the unprivileged init can reach paths that only
/// root may traverse, such as a toolchain under `/root`. Returns (host path, staged path) pairs.
pub(super) fn stage_host_paths(spec: &InitSpec) -> SetupResult<Vec<(PathBuf, PathBuf)>> {
    let mut paths: Vec<&PathBuf> = spec.ro.iter().chain(&spec.rw).collect();
    if spec.workdir_kind == WorkdirKind::HostBind {
        paths.push(&spec.workdir);
    }
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    unshare(CloneFlags::CLONE_NEWNS).map_err(fail("unshare mount namespace"))?;
    let none: Option<&Path> = None;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(SetupError::Failed)?;
    let stage = spec.root_dir.with_file_name("stage");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&stage)
        .map_err(fail("create the staging directory"))?;
    let mut staged = Vec::new();
    for (i, p) in paths.into_iter().enumerate() {
        let dst = stage.join(i.to_string());
        if fs::metadata(p).is_ok_and(|m| m.is_dir()) {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&dst)
                .map_err(fail("create a staging directory"))?;
        } else {
            File::create(&dst).map_err(fail("create a staging file"))?;
        }
        mnt(
            Some(p),
            &dst,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(SetupError::Failed)?;
        staged.push((p.clone(), dst));
    }
    Ok(staged)
}

pub(super) fn build_root(spec: &InitSpec, staged: &[(PathBuf, PathBuf)]) -> Result<(), String> {
    let source = |p: &Path| -> PathBuf {
        staged
            .iter()
            .find(|(host, _)| host == p)
            .map_or_else(|| p.to_path_buf(), |(_, s)| s.clone())
    };
    let none: Option<&Path> = None;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    let root = spec.root_dir.as_path();
    let safe = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    tmpfs(root, 0o755, 16 << 20, safe)?;

    for dir in SYSTEM_DIRS {
        let host = Path::new(dir);
        match fs::symlink_metadata(host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(host).map_err(|e| format!("readlink {dir}: {e}"))?;
                symlink(&target, inside(root, host)).map_err(|e| format!("symlink {dir}: {e}"))?;
            }
            Ok(_) => bind(host, &inside(root, host), Access::ReadOnly)?,
            Err(_) => {}
        }
    }

    let etc = root.join("etc");
    fs::create_dir_all(&etc).map_err(|e| format!("mkdir etc: {e}"))?;
    for entry in ETC_ENTRIES {
        bind(
            &Path::new("/etc").join(entry),
            &etc.join(entry),
            Access::ReadOnly,
        )?;
    }
    if let Ok(dir) = fs::read_dir("/etc") {
        for e in dir.flatten() {
            let name = e.file_name();
            if name.to_str().is_some_and(|n| n.starts_with("python3")) {
                bind(&e.path(), &etc.join(&name), Access::ReadOnly)?;
            }
        }
    }
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let files = [
        (
            "passwd",
            format!(
                "root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{gid}:kiln sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            ),
        ),
        (
            "group",
            format!("root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n"),
        ),
        (
            "hosts",
            "127.0.0.1 localhost kiln-sandbox\n::1 localhost\n".to_owned(),
        ),
        ("hostname", "kiln-sandbox\n".to_owned()),
    ];
    for (name, content) in files {
        fs::write(etc.join(name), content).map_err(|e| format!("write /etc/{name}: {e}"))?;
    }

    let dev = root.join("dev");
    tmpfs(
        &dev,
        0o755,
        64 << 10,
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
    )?;
    for node in ["null", "zero", "full", "random", "urandom"] {
        bind(
            &Path::new("/dev").join(node),
            &dev.join(node),
            Access::ReadWrite,
        )?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(link)).map_err(|e| format!("symlink /dev/{link}: {e}"))?;
    }
    tmpfs(&dev.join("shm"), 0o1777, spec.disk_bytes, safe)?;

    let proc = root.join("proc");
    fs::create_dir_all(&proc).map_err(|e| format!("mkdir proc: {e}"))?;
    mnt(
        Some(Path::new("proc")),
        &proc,
        Some("proc"),
        safe | MsFlags::MS_NOEXEC,
        None,
    )?;
    // Kernel settings stay read-only even where the namespace's root could write them.
    for p in ["sys", "sysrq-trigger"] {
        let p = proc.join(p);
        if p.exists() {
            mnt(Some(&p), &p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
            let flags = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | locked_flags(&p)
                | safe
                | MsFlags::MS_NOEXEC;
            mnt(none, &p, None, flags, None)?;
        }
    }

    tmpfs(&root.join("tmp"), 0o1777, spec.disk_bytes, safe)?;

    // Parents before children, so a nested path is mounted on top of its parent's mount.
    let mut binds: Vec<(&Path, Option<Access>)> = Vec::new();
    binds.extend(
        spec.ro
            .iter()
            .map(|p| (p.as_path(), Some(Access::ReadOnly))),
    );
    binds.extend(
        spec.rw
            .iter()
            .map(|p| (p.as_path(), Some(Access::ReadWrite))),
    );
    binds.push((
        spec.workdir.as_path(),
        match spec.workdir_kind {
            WorkdirKind::HostBind => Some(Access::ReadWrite),
            WorkdirKind::FreshTmpfs => None,
        },
    ));
    binds.sort_by_key(|(p, _)| p.components().count());
    for (p, access) in binds {
        let dst = inside(root, p);
        match access {
            Some(access) => bind(&source(p), &dst, access)?,
            None => tmpfs(&dst, 0o755, spec.disk_bytes, safe)?,
        }
    }

    nix::unistd::chdir(root).map_err(|e| format!("chdir new root: {e}"))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach old root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | safe,
        None,
    )?;
    Ok(())
}
