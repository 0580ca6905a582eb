//! Helpers shared by the integration tests: the kiln harness (a temp HOME/XDG world), the
//! scriptable model server, the sandbox helpers, and the one skip policy.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod kiln;
pub mod llm_server;
pub mod pipeline_script;
pub mod sandbox;
pub mod serve;

/// Whether this is a CI run (`CI=1` or `CI=true`, as `.ci/run` exports): there a skip fails.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `what` can be tested here; prints the reason otherwise. In CI a skip is a failure:
/// CI machines have everything the suite needs (`tests/setup/*.sh` installs it).
#[allow(clippy::print_stderr)]
pub fn require(ok: bool, what: &str, reason: &str) -> bool {
    if ok {
        return true;
    }
    assert!(!in_ci(), "{what}: {reason} (CI must not skip this test)");
    eprintln!("SKIP {what}: {reason}");
    false
}
