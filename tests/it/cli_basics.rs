//! The CLI skeleton end to end: projects, config, db, doctor, completions, help.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns may unwrap too

use crate::support::kiln::Kiln;
use serde_json::Value;

#[test]
fn project_add_list_rm_round_trip_with_json() {
    let kiln = Kiln::new();
    let root = kiln.home().join("proj");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("pyproject.toml"), "").unwrap();

    let added: Value =
        serde_json::from_str(&kiln.ok(&["project", "add", "proj", "--format", "json"])).unwrap();
    assert_eq!(added["name"], "proj");
    assert_eq!(added["language"], "python");

    let list: Value =
        serde_json::from_str(&kiln.ok(&["project", "list", "--format", "json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        list[0]["root"],
        root.canonicalize().unwrap().to_str().unwrap()
    );
    assert!(kiln.ok(&["project", "list"]).contains("proj"));

    // Same root again, under another name: refused with a way out.
    let err = kiln.fails(&["project", "add", "proj", "--name", "other"]);
    assert!(
        err.contains("is already registered as project 'proj'")
            && err.contains("kiln project rename proj")
            && err.contains("kiln project rm proj")
            && !err.contains("--name"),
        "{err}"
    );

    // No terminal and no --yes: refuse rather than guess.
    let err = kiln.fails(&["project", "rm", "proj"]);
    assert!(err.contains("--yes"), "{err}");
    assert!(kiln.ok(&["project", "list"]).contains("proj"));

    assert!(
        kiln.ok(&["project", "rm", "proj", "--yes"])
            .contains("removed")
    );
    assert_eq!(
        kiln.ok(&["project", "list", "--format", "json"]).trim(),
        "[]"
    );
    let err = kiln.fails(&["project", "rm", "proj", "--yes"]);
    assert!(err.contains("project 'proj' does not exist"), "{err}");
}

#[test]
fn project_add_rejects_missing_directory() {
    let kiln = Kiln::new();
    let err = kiln.fails(&["project", "add", "nope"]);
    assert!(err.contains("cannot add") && err.contains("nope"), "{err}");
}

#[test]
fn config_show_reports_each_layer_and_its_origin() {
    let kiln = Kiln::new();
    std::fs::create_dir_all(kiln.home().join("config/kiln")).unwrap();
    std::fs::write(
        kiln.home().join("config/kiln/config.toml"),
        "[store]\nkeep_days = 7\nmax_db_size_mb = 10\n",
    )
    .unwrap();
    std::fs::write(
        kiln.home().join("kiln.toml"),
        "[store]\nmax_db_size_mb = 20\nbusy_timeout_ms = 100\n",
    )
    .unwrap();
    let out = kiln
        .cmd()
        .args([
            "config",
            "show",
            "--format",
            "json",
            "--set",
            "store.busy_timeout_ms=300",
        ])
        .env("KILN_STORE__MAX_LOG_LINES_PER_RUN", "42")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        crate::support::kiln::describe(&out)
    );
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |key: &str| {
        entries
            .iter()
            .find(|e| e["key"] == key)
            .unwrap_or_else(|| panic!("{key} missing"))
            .clone()
    };
    assert_eq!(find("store.keep_days")["value"], 7);
    assert!(
        find("store.keep_days")["origin"]
            .as_str()
            .unwrap()
            .starts_with("user config")
    );
    assert_eq!(find("store.max_db_size_mb")["value"], 20);
    assert!(
        find("store.max_db_size_mb")["origin"]
            .as_str()
            .unwrap()
            .starts_with("project config")
    );
    assert_eq!(find("store.max_log_lines_per_run")["value"], 42);
    assert_eq!(
        find("store.max_log_lines_per_run")["origin"],
        "environment KILN_STORE__MAX_LOG_LINES_PER_RUN"
    );
    assert_eq!(find("store.busy_timeout_ms")["value"], 300);
    assert_eq!(
        find("store.busy_timeout_ms")["origin"],
        "command line --set"
    );
}

#[test]
fn malformed_config_names_file_line_and_key() {
    let kiln = Kiln::new();
    let cases = [
        (
            "[store]\nkeep_days = 1\nbogus_key = 3\n",
            "kiln.toml:3:",
            "store.bogus_key",
        ),
        (
            "[store]\nkeep_days = \"seven\"\n",
            "kiln.toml:2:",
            "store.keep_days",
        ),
        ("[store]\nkeep_days = = 3\n", "kiln.toml:2:", "keep_days"),
        ("[nonsense]\nx = 1\n", "kiln.toml:1:", "nonsense"),
    ];
    for (text, location, key) in cases {
        std::fs::write(kiln.home().join("kiln.toml"), text).unwrap();
        let err = kiln.fails(&["config", "show"]);
        assert!(err.contains(location), "{text:?}: {err}");
        assert!(err.contains(key), "{text:?}: {err}");
    }
    std::fs::write(
        kiln.home().join("kiln.toml"),
        b"[store]\nkeep_days = 1 # \xff\n",
    )
    .unwrap();
    let err = kiln.fails(&["config", "show"]);
    assert!(
        err.contains("kiln.toml:2") && err.contains("UTF-8"),
        "{err}"
    );
    // The user's file was not rewritten.
    assert_eq!(
        std::fs::read(kiln.home().join("kiln.toml")).unwrap(),
        b"[store]\nkeep_days = 1 # \xff\n"
    );
}

#[test]
fn bad_env_and_flag_values_are_named() {
    let kiln = Kiln::new();
    let out = kiln
        .cmd()
        .args(["config", "show"])
        .env("KILN_STORE__KEEP_DAYS", "soon")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("KILN_STORE__KEEP_DAYS") && err.contains("store.keep_days"),
        "{err}"
    );
    let err = kiln.fails(&["config", "show", "--set", "store.nope=1"]);
    assert!(
        err.contains("--set store.nope=1") && err.contains("unknown field"),
        "{err}"
    );
    let err = kiln.fails(&["config", "show", "--set", "novalue"]);
    assert!(err.contains("KEY=VALUE"), "{err}");
}

#[test]
fn db_check_and_doctor_report_in_json() {
    let kiln = Kiln::new();
    kiln.ok(&["project", "add", ".", "--name", "home"]);
    let check: Value =
        serde_json::from_str(&kiln.ok(&["db", "check", "--format", "json"])).unwrap();
    assert_eq!(check["ok"], true);
    assert_eq!(check["integrity"][0], "ok");
    assert_eq!(check["schema_version"], check["supported_schema_version"]);
    assert_eq!(check["journal_mode"], "wal");
    let projects = check["sizes"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "projects")
        .unwrap()
        .clone();
    assert_eq!(projects[1], 1);

    let doctor: Value = serde_json::from_str(&kiln.ok(&["doctor", "--format", "json"])).unwrap();
    let names: Vec<&str> = doctor
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"database") && names.contains(&"config"),
        "{names:?}"
    );
    assert!(
        doctor
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != "fail"),
        "{doctor}"
    );
}

#[test]
fn prune_and_vacuum_run_and_report() {
    let kiln = Kiln::new();
    kiln.ok(&["project", "add", ".", "--name", "home"]);
    let pruned: Value =
        serde_json::from_str(&kiln.ok(&["db", "prune", "--dry-run", "--format", "json"])).unwrap();
    assert_eq!(pruned["dry_run"], true);
    assert_eq!(pruned["runs_deleted"], 0);
    let vacuumed: Value =
        serde_json::from_str(&kiln.ok(&["db", "vacuum", "--format", "json"])).unwrap();
    assert!(vacuumed["bytes_after"].as_u64().unwrap() > 0);
}

#[test]
fn help_completions_and_bare_kiln() {
    let kiln = Kiln::new();
    for args in [
        &["--help"][..],
        &["project", "--help"],
        &["db", "prune", "--help"],
        &["config", "show", "--help"],
    ] {
        assert!(kiln.ok(args).contains("Usage:"), "{args:?}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = kiln.ok(&["completions", shell]);
        assert!(
            script.contains("project") && script.contains("doctor"),
            "{shell}"
        );
    }
    assert!(kiln.ok(&[]).contains("kiln project add"));
}

#[test]
fn log_file_goes_to_the_state_dir_and_kiln_log_filters() {
    let kiln = Kiln::new();
    let out = kiln
        .cmd()
        .args(["project", "list"])
        .env("KILN_LOG", "kiln=debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = std::fs::read_to_string(kiln.home().join("state/kiln/kiln.log")).unwrap();
    assert!(log.contains("DEBUG") && log.contains("starting"), "{log}");
    // Nothing but the requested output on stdout.
    assert!(String::from_utf8_lossy(&out.stdout).contains("no projects yet"));
}

#[test]
fn every_command_stops_quietly_when_the_reader_of_its_output_is_gone() {
    let kiln = Kiln::new();
    kiln.ok(&["project", "add", ".", "--name", "home"]);
    for args in [
        &["rules"][..],
        &["rules", "--format", "json"],
        &["config", "show"],
        &["stats", "--format", "json"],
        &["project", "list"],
        &["db", "check"],
        &["doctor"],
        &["completions", "bash"],
    ] {
        // The read end is closed before kiln starts: its first write to stdout fails (EPIPE).
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let out = kiln
            .command(args)
            .stdout(std::process::Stdio::from(write))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "kiln {args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked"),
            "kiln {args:?} panicked: {stderr}"
        );
    }
}

#[test]
fn config_show_prints_a_value_longer_than_a_format_width() {
    let kiln = Kiln::new();
    let long = format!("http://{}", "x".repeat(70_000));
    kiln.config(&format!("[models]\nollama_url = \"{long}\"\n"));
    let out = kiln.ok(&["config", "show"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("models.ollama_url"))
        .unwrap();
    assert!(line.contains(&long), "the value is shown whole");
    // Short lines are still aligned with each other, not padded to the long one.
    let short = out
        .lines()
        .find(|l| l.starts_with("store.keep_days"))
        .unwrap();
    assert!(short.len() < 200, "{short}");
    let json: Value =
        serde_json::from_str(&kiln.ok(&["config", "show", "--format", "json"])).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|e| e["value"].as_str() == Some(long.as_str()))
    );
}

#[test]
fn project_names_must_be_real_and_renames_keep_the_project() {
    let kiln = Kiln::new();
    for bad in ["", "   ", "a\u{1b}]52;c;x\u{7}"] {
        let err = kiln.fails(&["project", "add", ".", "--name", bad]);
        assert!(err.contains("--name"), "{bad:?}: {err}");
    }
    assert_eq!(
        kiln.ok(&["project", "list", "--format", "json"]).trim(),
        "[]"
    );
    kiln.ok(&["project", "add", ".", "--name", "one"]);
    let other = kiln.home().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let err = kiln.fails(&["project", "add", "other", "--name", "one"]);
    assert!(
        err.contains("a project named 'one' already exists"),
        "{err}"
    );
    let err = kiln.fails(&["project", "rename", "one", ""]);
    assert!(err.contains("cannot be empty"), "{err}");
    assert!(
        kiln.ok(&["project", "rename", "one", "two"])
            .contains("'two'")
    );
    assert!(kiln.ok(&["project", "list"]).contains("two"));
}

#[test]
fn project_language_is_detected_from_its_own_source_files() {
    let kiln = Kiln::new();
    let root = kiln.home().join("app");
    let write = |rel: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    };
    for f in [
        "main.py",
        "app/models.py",
        "app/views.py",
        "scripts/build.js",
    ] {
        write(f);
    }
    // Vendored, built, hidden and ignored code outnumbers it, and must not count.
    for i in 0..20 {
        write(&format!("node_modules/dep/lib{i}.js"));
        write(&format!("target/debug/gen{i}.rs"));
        write(&format!(".venv/lib/site{i}.rb"));
        write(&format!("generated/out{i}.go"));
    }
    std::fs::write(root.join(".gitignore"), "generated/\n").unwrap();
    std::fs::write(root.join("package.json"), "{}").unwrap();
    let added: Value =
        serde_json::from_str(&kiln.ok(&["project", "add", "app", "--format", "json"])).unwrap();
    assert_eq!(added["language"], "python", "{added}");
    let list = kiln.ok(&["project", "list"]);
    assert!(list.contains("python"), "{list}");

    // No source yet: the manifest decides; nothing at all: unknown.
    let empty = kiln.home().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let added: Value =
        serde_json::from_str(&kiln.ok(&["project", "add", "empty", "--format", "json"])).unwrap();
    assert_eq!(added["language"], Value::Null);
}
