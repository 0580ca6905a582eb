//! Where an exported file may go: a relative path (no root, no `..`, no empty or `.git`
//! component) resolved inside the project root component by component, refusing a symlink at
//! any component (a link could lead out of the root, or swap between check and write).

use std::path::{Component, Path, PathBuf};

use super::Error;

/// `root/rel` after checking every component of `rel`; `root` must be canonical.
pub fn resolve_inside(root: &Path, rel: &str) -> Result<PathBuf, Error> {
    let refuse = |reason: &str| Error::Refused {
        path: rel.to_owned(),
        reason: reason.to_owned(),
    };
    if rel.is_empty() {
        return Err(refuse("the path is empty"));
    }
    let mut at = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(name) => {
                if name == ".git" {
                    return Err(refuse("kiln does not write into '.git'"));
                }
                at.push(name);
                match at.symlink_metadata() {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(refuse(&format!(
                            "'{}' is a symbolic link; kiln does not write through links",
                            at.strip_prefix(root).unwrap_or(&at).display()
                        )));
                    }
                    _ => {}
                }
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("'..' would leave the project root")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("absolute paths are not allowed"));
            }
        }
    }
    if at == root {
        return Err(refuse("the path names the project root itself"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_out_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("in")).unwrap();
        for bad in [
            "/etc/passwd",
            "../x",
            "sub/../../x",
            "out/passwd",
            "in/x",
            "",
            ".",
            ".git/config",
        ] {
            assert!(resolve_inside(&root, bad).is_err(), "{bad}");
        }
        assert_eq!(
            resolve_inside(&root, "sub/a.py").unwrap(),
            root.join("sub/a.py")
        );
        assert_eq!(
            resolve_inside(&root, "./new/b.py").unwrap(),
            root.join("new/b.py")
        );
    }
}
