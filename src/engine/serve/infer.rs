//! Infers how to start a project as a web service when the user gave no `--cmd`: a Flask
//! `app`, a FastAPI `app` with uvicorn present, `npm start`, or a static site. Reads only the
//! project's files (never runs anything); the caller says what was chosen.

use std::path::Path;

/// An inferred start command and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    pub argv: Vec<String>,
    /// Short label, e.g. `flask app in app.py`.
    pub reason: String,
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// The command for the project in `dir`, listening on 127.0.0.1:`port`. `path_dirs` are the
/// directories of the `PATH` the service will see (to find `uvicorn`).
pub fn infer(dir: &Path, port: u16, path_dirs: &[&Path]) -> Option<Inferred> {
    let p = port.to_string();
    for module in ["app", "main", "server"] {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("{module}.py"))) else {
            continue;
        };
        if text.contains("Flask(") {
            return Some(Inferred {
                argv: argv(&[
                    "python3",
                    "-m",
                    "flask",
                    "--app",
                    module,
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &p,
                ]),
                reason: format!("flask app in {module}.py"),
            });
        }
        let uvicorn = path_dirs.iter().any(|d| d.join("uvicorn").is_file());
        if text.contains("FastAPI(") && uvicorn {
            let target = format!("{module}:app");
            return Some(Inferred {
                argv: argv(&[
                    "python3",
                    "-m",
                    "uvicorn",
                    &target,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &p,
                ]),
                reason: format!("fastapi app in {module}.py (uvicorn)"),
            });
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("package.json"))
        && serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v["scripts"]["start"].is_string())
    {
        return Some(Inferred {
            argv: argv(&["npm", "start"]),
            reason: "package.json start script".into(),
        });
    }
    if dir.join("index.html").is_file() {
        return Some(Inferred {
            argv: argv(&["python3", "-m", "http.server", &p, "--bind", "127.0.0.1"]),
            reason: "static site (index.html)".into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_each_shape() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(infer(d.path(), 8000, &[]), None);
        std::fs::write(d.path().join("index.html"), "<p>hi</p>").unwrap();
        assert!(
            infer(d.path(), 8000, &[])
                .unwrap()
                .argv
                .contains(&"http.server".into())
        );
        std::fs::write(
            d.path().join("package.json"),
            r#"{"scripts":{"start":"node s.js"}}"#,
        )
        .unwrap();
        assert_eq!(infer(d.path(), 8000, &[]).unwrap().argv, ["npm", "start"]);
        std::fs::write(d.path().join("main.py"), "app = FastAPI()").unwrap();
        assert_eq!(infer(d.path(), 8000, &[]).unwrap().argv, ["npm", "start"]);
        let bin = tempfile::tempdir().unwrap();
        std::fs::write(bin.path().join("uvicorn"), "").unwrap();
        let got = infer(d.path(), 8000, &[bin.path()]).unwrap();
        assert!(got.argv.contains(&"main:app".into()), "{got:?}");
        std::fs::write(d.path().join("app.py"), "app = Flask(__name__)").unwrap();
        let got = infer(d.path(), 8001, &[bin.path()]).unwrap();
        assert_eq!(
            &got.argv[..6],
            ["python3", "-m", "flask", "--app", "app", "run"]
        );
        assert!(got.argv.contains(&"8001".into()));
    }
}
