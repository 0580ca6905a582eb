//! The new root, built in pid 1's mount namespace: a tmpfs with the system directories and a
//! subset of `/etc` bound read-only, fresh `passwd`/`group`/`hosts`, a minimal `/dev`, a new
//! `/proc` with `/proc/sys` read-only, capped tmpfs `/tmp` and work directory, the caller's
//! binds; then `pivot_root` and a read-only remount of `/`. As root, host paths are first
//! staged (bound under the run directory) so the init can still reach them after dropping root.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{ForkResult, fork, pipe2};

use super::super::ownership::{Idmap, NOBODY};
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
    make_mounts_private().map_err(SetupError::Failed)?;
    let stage = spec.root_dir.with_file_name("stage");
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&stage)
        .map_err(fail("create the staging directory"))?;
    let mut staged = Vec::new();
    let mut userns = Vec::new();
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
        if let Some(map) = spec.idmaps.iter().find(|m| &m.path == p) {
            idmapped_bind(map, &dst, &mut userns)?;
        } else {
            mnt(
                Some(p),
                &dst,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(SetupError::Failed)?;
        }
        staged.push((p.clone(), dst));
    }
    Ok(staged)
}

/// Stops mount events of this (new) mount namespace from reaching the host and back.
fn make_mounts_private() -> Result<(), String> {
    let none: Option<&Path> = None;
    mnt(
        none,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
}

/// User namespaces by the (uid, gid) they show as the sandbox user.
type UsernsCache = Vec<((u32, u32), OwnedFd)>;

/// Binds `map.path` at `dst` through an idmapped mount whose on-disk owner appears as the
/// sandbox user (and whose new files get that owner on disk).
fn idmapped_bind(map: &Idmap, dst: &Path, cache: &mut UsernsCache) -> SetupResult<()> {
    let unsupported = |e: String| {
        SetupError::Failed(format!(
            "cannot bind '{}' for the sandbox user (uid {NOBODY}): {e}; idmapped mounts need Linux 5.12 or later and ext4, xfs, btrfs, tmpfs or overlayfs. Fix: chown the directory to {NOBODY}, run kiln as a regular user, or bind it with --ro",
            map.path.display()
        ))
    };
    let key = (map.uid, map.gid);
    if !cache.iter().any(|(k, _)| *k == key) {
        let fd = userns_mapping(map.uid, map.gid).map_err(unsupported)?;
        cache.push((key, fd));
    }
    #[allow(
        clippy::expect_used,
        reason = "the namespace is pushed into the cache just above"
    )]
    let userns = cache
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, fd)| fd.as_raw_fd())
        .expect("the namespace was just cached");
    let path = CString::new(map.path.as_os_str().as_bytes())
        .map_err(|_| unsupported("path has a NUL byte".into()))?;
    let empty = c"";
    // SAFETY: open_tree reads a NUL-terminated path and returns a new fd or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(unsupported(format!("open_tree: {}", Errno::last())));
    }
    // SAFETY: a non-negative return is a fresh fd owned by nobody else.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns as u64,
    };
    // SAFETY: mount_setattr reads `attr` (of the size given) and an empty path; both outlive
    // the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(unsupported(format!("mount_setattr: {}", Errno::last())));
    }
    let dst_c = CString::new(dst.as_os_str().as_bytes())
        .map_err(|_| unsupported("staging path has a NUL byte".into()))?;
    // SAFETY: move_mount reads two NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            dst_c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(unsupported(format!("move_mount: {}", Errno::last())));
    }
    Ok(())
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A user namespace mapping `uid`/`gid` (inside) to the sandbox user (outside), as an fd: a
/// child creates it and waits while this process (root) writes its maps and opens it.
fn userns_mapping(uid: u32, gid: u32) -> Result<OwnedFd, String> {
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (done_r, done_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the init is single-threaded; the child only makes syscalls and exits.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop((ready_r, done_w));
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&ready_w, if ok { b"1" } else { b"0" });
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&done_r, &mut b);
            // SAFETY: _exit skips the parent image's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop((ready_w, done_r));
            let mut b = [0u8; 1];
            let got = nix::unistd::read(&ready_r, &mut b);
            let result = if got != Ok(1) || b[0] != b'1' {
                Err("cannot create a user namespace for the mapping".to_owned())
            } else {
                let proc = PathBuf::from(format!("/proc/{child}"));
                fs::write(proc.join("uid_map"), format!("{uid} {NOBODY} 1\n"))
                    .and_then(|()| fs::write(proc.join("gid_map"), format!("{gid} {NOBODY} 1\n")))
                    .and_then(|()| File::open(proc.join("ns/user")))
                    .map(OwnedFd::from)
                    .map_err(|e| format!("map the user namespace: {e}"))
            };
            drop(done_w);
            let _ = nix::sys::wait::waitpid(child, None);
            result
        }
    }
}

pub(super) fn build_root(spec: &InitSpec, staged: &[(PathBuf, PathBuf)]) -> Result<(), String> {
    let source = |p: &Path| -> PathBuf {
        staged
            .iter()
            .find(|(host, _)| host == p)
            .map_or_else(|| p.to_path_buf(), |(_, s)| s.clone())
    };
    make_mounts_private()?;
    let none: Option<&Path> = None;
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
