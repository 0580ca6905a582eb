//! `kiln serve RUN`: the final files of a pipeline run (inserted through the store API, as the
//! pipeline's stages store them) served from a scratch copy in the real sandbox, with the venv
//! of `tests/setup/serve.sh`.

use std::path::Path;

use kiln::engine::store::{NewArtifact, NewRun, RunKind, Store, StoreConfig};

use crate::support::kiln::Kiln;
use crate::support::serve::{get, have_venv, start};

const V1: &str = "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'first version\\n'\n";
const V2: &str = "from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return 'final version\\n'\n\n@app.get('/write')\ndef write():\n    with open('visits.txt', 'a') as f:\n        f.write('x')\n    return open('visits.txt').read()\n\n@app.get('/static-file')\ndef static_file():\n    return open('data/greeting.txt').read()\n";

/// The store of `k`'s world, created as kiln would.
fn open_store(k: &Kiln) -> Store {
    std::fs::create_dir_all(k.db().parent().unwrap()).unwrap();
    Store::open(&k.db(), &StoreConfig::default()).unwrap()
}

/// A pipeline run with two versions of `app.py` and a nested data file; its id.
fn run_with_files(k: &Kiln) -> i64 {
    let store = open_store(k);
    let run = store
        .start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Pipeline,
        })
        .unwrap();
    for (path, content) in [
        ("app.py", V1),
        ("data/greeting.txt", "hi from data\n"),
        ("app.py", V2),
    ] {
        store
            .put_artifact(&NewArtifact {
                run_id: run.id,
                stage_id: None,
                path,
                content: content.as_bytes(),
            })
            .unwrap();
    }
    run.id
}

#[test]
fn a_runs_final_files_are_served_from_a_writable_scratch_copy() {
    let Some(venv) = have_venv("serve: a run's files") else {
        return;
    };
    let k = Kiln::new();
    let id = run_with_files(&k);
    let s = start(&k, &venv, Path::new(&id.to_string()), &["--health", "/"]);
    let (status, body) = get(s.port, "/").unwrap();
    assert_eq!((status, body.as_str()), (200, "final version\n"));
    let (status, body) = get(s.port, "/static-file").unwrap();
    assert_eq!((status, body.as_str()), (200, "hi from data\n"));
    // The scratch copy is the app's to write (a SQLite file, a cache); the store is untouched.
    assert_eq!(get(s.port, "/write").unwrap(), (200, "x".into()));
    assert_eq!(get(s.port, "/write").unwrap(), (200, "xx".into()));
    let listed: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "services"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == s.id)
        .unwrap_or_else(|| panic!("service {} not listed: {listed}", s.id));
    let dir = row["dir"].as_str().unwrap().to_owned();
    // `kiln runs` lists the service's run with its URL and status.
    let runs: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "runs"])).unwrap();
    let service_run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == row["run_id"])
        .unwrap_or_else(|| panic!("the service's run is not in kiln runs: {runs}"));
    assert_eq!(service_run["kind"], "service", "{service_run}");
    assert_eq!(
        service_run["service"]["url"],
        s.url.as_str(),
        "{service_run}"
    );
    assert_eq!(service_run["service"]["status"], "up", "{service_run}");
    let table = k.ok(&["runs"]);
    assert!(table.contains(&format!("{} (up)", s.url)), "{table}");
    assert!(
        Path::new(&dir).join("visits.txt").is_file(),
        "the app wrote elsewhere than {dir}"
    );
    drop(s);
    let store = Store::open_read_only(&k.db(), &StoreConfig::default()).unwrap();
    let paths: Vec<String> = store
        .latest_artifacts(id)
        .unwrap()
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert_eq!(paths, ["app.py", "data/greeting.txt"]);
}

#[test]
fn a_run_without_files_or_a_bad_target_says_what_to_do() {
    let k = Kiln::new();
    let store = open_store(&k);
    let empty = store
        .start_run(&NewRun {
            project_id: None,
            request_id: None,
            kind: RunKind::Pipeline,
        })
        .unwrap();
    let out = k.run(&["serve", &empty.id.to_string(), "--cmd", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("stored no files") && out.stderr.contains("kiln serve PATH"),
        "{}",
        out.stderr
    );
    let out = k.run(&["serve", "9999", "--cmd", "true"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("9999"), "{}", out.stderr);
    let out = k.run(&["serve", "no-such-dir", "--cmd", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("neither a directory nor a run id"),
        "{}",
        out.stderr
    );
}
