//! What this host offers the sandbox, read from `/proc` and `/sys` without starting anything:
//! the basis of `kiln doctor`'s sandbox lines. `kiln sandbox check` runs the real self-test.

use std::fs;

use serde::Serialize;

use super::cgroup;
use super::init::landlock_abi;
use crate::engine::doctor::{Check, CheckStatus};

/// The sandbox layers this host can provide.
#[allow(clippy::struct_excessive_bools)] // one flag per layer
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSupport {
    pub linux: bool,
    pub running_as_root: bool,
    /// Why unprivileged user namespaces look unavailable, if they do.
    pub userns_blocker: Option<String>,
    pub seccomp: bool,
    pub landlock_abi: Option<i64>,
    pub cgroup_memory: bool,
    pub cgroup_pids: bool,
    pub cgroup_v2: bool,
}

fn sysctl(name: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .ok()
        .map(|s| s.trim().to_owned())
}

impl HostSupport {
    pub fn detect() -> Self {
        let mut blocker = None;
        if sysctl("user.max_user_namespaces").as_deref() == Some("0") {
            blocker = Some("user.max_user_namespaces is 0".to_owned());
        }
        if sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
            blocker = Some("kernel.unprivileged_userns_clone is 0".to_owned());
        }
        if sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
            blocker = Some("kernel.apparmor_restrict_unprivileged_userns is 1".to_owned());
        }
        if !std::path::Path::new("/proc/self/ns/user").exists() {
            blocker = Some("the kernel has no user namespaces".to_owned());
        }
        let seccomp = fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:")));
        let (cgroup_memory, cgroup_pids, cgroup_v2) = cgroup::available();
        Self {
            linux: cfg!(target_os = "linux"),
            running_as_root: nix::unistd::geteuid().is_root(),
            userns_blocker: blocker,
            seccomp,
            landlock_abi: landlock_abi(),
            cgroup_memory,
            cgroup_pids,
            cgroup_v2,
        }
    }
}

/// One `kiln doctor` line per sandbox layer.
pub fn doctor_checks() -> Vec<Check> {
    let h = HostSupport::detect();
    let mut checks = Vec::new();
    checks.push(match &h.userns_blocker {
        None => Check::new(
            "sandbox: namespaces",
            CheckStatus::Ok,
            "user, mount, pid, network, ipc, uts, cgroup namespaces available",
        ),
        Some(why) => Check::new(
            "sandbox: namespaces",
            CheckStatus::Fail,
            format!("{why}: kiln refuses to run generated code; see docs/sandbox.md to enable user namespaces"),
        ),
    });
    checks.push(if h.running_as_root {
        Check::new(
            "sandbox: uid",
            CheckStatus::Ok,
            "running as root: programs run as host uid 65534 inside their namespace",
        )
    } else {
        Check::new(
            "sandbox: uid",
            CheckStatus::Ok,
            "programs run as your uid inside their namespace",
        )
    });
    checks.push(if h.seccomp {
        Check::new(
            "sandbox: seccomp",
            CheckStatus::Ok,
            "seccomp filter available",
        )
    } else {
        Check::new(
            "sandbox: seccomp",
            CheckStatus::Fail,
            "the kernel has no seccomp",
        )
    });
    checks.push(match h.landlock_abi {
        Some(v) => Check::new("sandbox: landlock", CheckStatus::Ok, format!("ABI {v}")),
        None => Check::new(
            "sandbox: landlock",
            CheckStatus::Warn,
            "not available (defence in depth only; add lsm=landlock,... to the kernel command line)",
        ),
    });
    let cg = |ok: bool, what: &str, fallback: &str| {
        if ok {
            Check::new(
                format!("sandbox: {what} limit"),
                CheckStatus::Ok,
                format!("cgroup {}", if h.cgroup_v2 { "v2" } else { "v1" }),
            )
        } else {
            Check::new(
                format!("sandbox: {what} limit"),
                CheckStatus::Warn,
                format!(
                    "no writable cgroup; falling back to {fallback} (see docs/sandbox.md for cgroup delegation)"
                ),
            )
        }
    };
    checks.push(cg(h.cgroup_memory, "memory", "RLIMIT_AS per process"));
    checks.push(cg(
        h.cgroup_pids,
        "process",
        "RLIMIT_NPROC (counts the whole uid)",
    ));
    checks
}

#[cfg(test)]
mod tests {
    #[test]
    fn doctor_lists_every_layer() {
        let names: Vec<String> = super::doctor_checks().into_iter().map(|c| c.name).collect();
        for layer in [
            "namespaces",
            "uid",
            "seccomp",
            "landlock",
            "memory limit",
            "process limit",
        ] {
            assert!(names.contains(&format!("sandbox: {layer}")), "{names:?}");
        }
    }
}
