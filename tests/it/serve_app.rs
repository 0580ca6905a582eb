//! `kiln serve` with a real Flask app in the real sandbox: reachable through the forwarded
//! port, listed and stopped, unable to reach the host's loopback or the outside, dead when kiln
//! dies, side by side with a second service, and clear failures (never healthy, port taken).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::kiln::Kiln;
use crate::support::serve::{flask_app, get, have_venv, serve_cmd, start};

#[test]
fn get_returns_200_and_stop_stops_it() {
    let Some(venv) = have_venv("serve: flask app") else {
        return;
    };
    let k = Kiln::new();
    let app = flask_app("");
    let mut s = start(&k, &venv, app.path(), &["--health", "/"]);
    let (status, body) = get(s.port, "/").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "hello from the sandbox\n");
    assert!(s.url.ends_with(&format!(":{}", s.port)));

    let listed: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "services"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == s.id)
        .unwrap_or_else(|| panic!("service {} not listed: {listed}", s.id));
    assert_eq!(row["status"], "up");
    assert_eq!(row["url"], s.url.as_str());
    assert_eq!(row["pid"], s.child.id());

    k.ok(&["stop", &s.id.to_string()]);
    let status = s.child.wait().unwrap();
    assert!(status.success(), "kiln serve ended with {status}");
    assert!(get(s.port, "/").is_err(), "still answering after kiln stop");
    let all: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "services", "--all"])).unwrap();
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == s.id)
        .unwrap();
    assert_eq!(row["status"], "stopped", "{row}");
    assert!(row["stopped_at"].is_i64(), "{row}");
    let runs = k.ok(&["--format", "json", "services", "--all"]);
    assert!(runs.contains("\"run_id\""));
}

#[test]
fn the_app_cannot_reach_the_host_loopback_or_the_outside() {
    let Some(venv) = have_venv("serve: no way out") else {
        return;
    };
    let canary = TcpListener::bind("127.0.0.1:0").unwrap();
    let canary_port = canary.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for c in canary.incoming() {
            if c.is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let app = flask_app(&format!(
        r"
@app.get('/escape')
def escape():
    out = []
    for host, port in [('127.0.0.1', {canary_port}), ('8.8.8.8', 53), ('1.1.1.1', 443)]:
        try:
            socket.create_connection((host, port), timeout=3).close()
            out.append(f'{{host}}:open')
        except OSError as e:
            out.append(f'{{host}}:blocked')
    return ' '.join(out)
"
    ));
    let k = Kiln::new();
    let s = start(&k, &venv, app.path(), &[]);
    let (status, body) = get(s.port, "/escape").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body, "127.0.0.1:blocked 8.8.8.8:blocked 1.1.1.1:blocked",
        "the app reached out"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the host canary saw a connection"
    );
}

/// Host pids whose command line contains `marker`.
fn pids_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

#[test]
fn killing_kiln_kills_the_service() {
    let Some(venv) = have_venv("serve: kill kiln") else {
        return;
    };
    let app = flask_app("");
    let marker = app
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let extra = app.path().join("app.py");
    let cmd = format!(
        "exec python3 -m flask --app app run --host 127.0.0.1 --port $PORT --extra-files {}",
        extra.display()
    );
    let k = Kiln::new();
    let mut s = start(&k, &venv, app.path(), &["--cmd", &cmd]);
    assert_eq!(get(s.port, "/").unwrap().0, 200);
    let app_pids: Vec<u32> = pids_with(&marker)
        .into_iter()
        .filter(|p| *p != s.child.id())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("flask"))
        })
        .collect();
    assert!(
        !app_pids.is_empty(),
        "the flask process was not found on the host"
    );
    s.child.kill().unwrap(); // SIGKILL: kiln gets no chance to clean up
    s.child.wait().unwrap();
    let started = Instant::now();
    while app_pids
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<_> = app_pids
        .iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| !st.contains(") Z "))
        })
        .collect();
    assert!(alive.is_empty(), "flask survived kiln: {alive:?}");
    eprintln!("service gone {:?} after kiln was killed", started.elapsed());
    // The record is corrected by the next listing.
    let all: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "services", "--all"])).unwrap();
    assert_eq!(all[0]["status"], "failed", "{all}");
}

#[test]
fn two_services_at_once() {
    let Some(venv) = have_venv("serve: two services") else {
        return;
    };
    let k = Kiln::new();
    let a = flask_app("@app.get('/who')\ndef who():\n    return 'a'");
    let b = flask_app("@app.get('/who')\ndef who():\n    return 'b'");
    let sa = start(&k, &venv, a.path(), &[]);
    let sb = start(&k, &venv, b.path(), &[]);
    assert_ne!(sa.port, sb.port);
    assert_eq!(get(sa.port, "/who").unwrap(), (200, "a".into()));
    assert_eq!(get(sb.port, "/who").unwrap(), (200, "b".into()));
    let listed: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "services"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

#[test]
fn a_service_that_never_becomes_healthy_fails_with_its_logs() {
    let Some(venv) = have_venv("serve: never healthy") else {
        return;
    };
    let app = flask_app(
        "print('BOOT-MARKER starting up', flush=True)\n@app.get('/healthz')\ndef healthz():\n    return 'no', 500",
    );
    let k = Kiln::new();
    let out = serve_cmd(
        &k,
        &venv,
        app.path(),
        &["--health", "/healthz", "--health-timeout", "3s"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("did not become healthy within 3s"),
        "{stderr}"
    );
    assert!(stderr.contains("GET /healthz"), "{stderr}");
    assert!(
        stderr.contains("| BOOT-MARKER starting up"),
        "the log tail is missing: {stderr}"
    );
    let all: serde_json::Value =
        serde_json::from_str(&k.ok(&["--format", "json", "services", "--all"])).unwrap();
    assert_eq!(all[0]["status"], "failed", "{all}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let Some(venv) = have_venv("serve: port taken") else {
        return;
    };
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let app = flask_app("");
    let k = Kiln::new();
    let out = serve_cmd(&k, &venv, app.path(), &["--port", &port])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
}

#[test]
fn no_command_to_infer_is_a_clear_error() {
    let Some(venv) = have_venv("serve: nothing to infer") else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let k = Kiln::new();
    let out = serve_cmd(&k, &venv, empty.path(), &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot tell how to start"), "{stderr}");
    assert!(stderr.contains("--cmd"), "{stderr}");
}

#[test]
fn an_app_that_ignores_port_is_found_on_the_port_it_listens_on() {
    let Some(venv) = have_venv("serve: port discovery") else {
        return;
    };
    let app = flask_app("");
    std::fs::write(app.path().join("index.html"), "static hello\n").unwrap();
    std::fs::set_permissions(
        app.path().join("index.html"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let k = Kiln::new();
    let s = start(
        &k,
        &venv,
        app.path(),
        &["--cmd", "exec python3 -m http.server 9123 --bind 127.0.0.1"],
    );
    let (status, body) = get(s.port, "/index.html").unwrap();
    assert_eq!((status, body.as_str()), (200, "static hello\n"));
}
