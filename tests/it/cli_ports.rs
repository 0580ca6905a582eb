//! `kiln check --record` and `kiln sandbox run` as front-ends of the engine API: their runs
//! belong to the project containing the working directory, as every run does.

use crate::support::kiln::Kiln;
use crate::support::require;
use kiln::engine::store::{RunKind, Status, Store, StoreConfig};

#[test]
fn check_record_and_sandbox_run_belong_to_the_project_of_the_cwd() {
    let kiln = Kiln::new();
    let proj = kiln.home().join("proj");
    std::fs::create_dir_all(proj.join("sub")).unwrap();
    std::fs::write(proj.join("m.py"), "x = eval('1')\n").unwrap();
    kiln.ok(&["project", "add", "proj", "--name", "proj"]);
    let in_sub = |args: &[&str]| {
        let mut cmd = kiln.command(args);
        cmd.current_dir(proj.join("sub"));
        cmd.output().unwrap()
    };
    let checked = in_sub(&["check", "--record", "--exit-zero", ".."]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("recorded 1 findings as run 1"), "{stderr}");
    let sandboxed = in_sub(&["sandbox", "run", "--", "/bin/sh", "-c", "echo hi; exit 4"]);
    let stderr = String::from_utf8_lossy(&sandboxed.stderr);
    let sandbox_ran = sandboxed.status.code() == Some(4);
    let store = Store::open_read_only(&kiln.db(), &StoreConfig::default()).unwrap();
    let project = store.project_by_name("proj").unwrap().id;
    let check = store.run(1).unwrap();
    assert_eq!(
        (check.kind, check.project_id),
        (RunKind::Check, Some(project))
    );
    // PY201 (eval) is at error severity: the check run failed, as `kiln run`'s would.
    assert_eq!(
        (check.status, check.error.as_deref()),
        (Status::Failed, Some("1 finding at error severity"))
    );
    assert_eq!(store.findings_of_run(1).unwrap().len(), 1);
    if !require(
        sandbox_ran,
        "sandbox run in a project",
        &format!("the sandbox cannot start here: {stderr}"),
    ) {
        return;
    }
    assert_eq!(String::from_utf8_lossy(&sandboxed.stdout), "hi\n");
    let run = store.run(2).unwrap();
    assert_eq!(
        (run.kind, run.project_id, run.status),
        (RunKind::Sandbox, Some(project), Status::Failed)
    );
    assert_eq!(run.error.as_deref(), Some("exited with 4"));
}
