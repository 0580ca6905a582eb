//! The `export` stage of `kiln new --yes`: writes a run's final files into its root, atomically
//! and only inside it. A file that exists with other content is refused unless the run read it
//! (a `--file`) and it has not changed since; then nothing at all is written.
//!
//! (`kiln export` with previews, `--force`, git branches and zips is the export module's; this is
//! the pipeline's own safe subset for the end of a run.)

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use super::Error;
use crate::engine::llm::parse::safe_path;

/// Writes `files` under `root`; returns the paths written, in order.
pub fn write(
    root: &Path,
    files: &BTreeMap<String, String>,
    read: &BTreeMap<String, String>,
) -> Result<Vec<String>, Error> {
    let refuse = |message: String| Error::Stage {
        stage: "export".into(),
        message,
    };
    let mut plan = Vec::new();
    for (rel, content) in files {
        let path = safe_path(root, rel).map_err(|e| refuse(format!("{e}; nothing was written")))?;
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == *content => {}
            Ok(existing) if read.get(rel) == Some(&existing) => plan.push((rel, path, content)),
            Ok(_) => {
                return Err(refuse(format!(
                    "'{rel}' exists in '{}' and the run did not read it (or it changed since); nothing was written. Move it away or use `kiln export RUN --force`",
                    root.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => plan.push((rel, path, content)),
            Err(e) => {
                return Err(refuse(format!(
                    "cannot read '{rel}': {e}; nothing was written"
                )));
            }
        }
    }
    let mut written = Vec::new();
    for (rel, path, content) in plan {
        let dir = path.parent().unwrap_or(root);
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: format!("cannot create the directory of '{rel}'"),
            source,
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|source| Error::Io {
            what: format!("cannot write '{rel}'"),
            source,
        })?;
        tmp.write_all(content.as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|source| Error::Io {
                what: format!("cannot write '{rel}'"),
                source,
            })?;
        tmp.persist(&path).map_err(|e| Error::Io {
            what: format!("cannot write '{rel}'"),
            source: e.error,
        })?;
        written.push(rel.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_inside_and_refuses_a_foreign_file_writing_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files: BTreeMap<String, String> = [
            ("a.py".to_owned(), "A\n".to_owned()),
            ("pkg/b.py".to_owned(), "B\n".to_owned()),
        ]
        .into();
        let got = write(dir.path(), &files, &BTreeMap::new()).unwrap();
        assert_eq!(got, ["a.py", "pkg/b.py"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pkg/b.py")).unwrap(),
            "B\n"
        );

        std::fs::write(dir.path().join("a.py"), "user edit\n").unwrap();
        let mut more = files;
        more.insert("c.py".into(), "C\n".into());
        let err = write(dir.path(), &more, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'a.py' exists"), "{err}");
        assert!(!dir.path().join("c.py").exists());

        let bad: BTreeMap<String, String> = [("../x.py".to_owned(), "x".to_owned())].into();
        assert!(write(dir.path(), &bad, &BTreeMap::new()).is_err());
    }
}
