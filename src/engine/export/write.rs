//! Atomic writes for export: the new content goes to a temporary file beside the target, is
//! synced, given the old file's mode (or 0644), and renamed over the target; the directory is
//! synced so the rename survives a crash. Readers see the old file or the new one, never a part.
//! (The analysis helper's `engine::fs::write_atomic` does the same for `check --fix`: fold.)

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Error;

pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), Error> {
    let io = |what: &str| {
        let what = format!("{what} '{}'", path.display());
        move |source| Error::Io { what, source }
    };
    let dir = path.parent().ok_or_else(|| Error::Refused {
        path: path.display().to_string(),
        reason: "no parent directory".into(),
    })?;
    std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
    let mode = std::fs::symlink_metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.kiln-"))
        .tempfile_in(dir)
        .map_err(io("create a temporary file beside"))?;
    tmp.write_all(content).map_err(io("write"))?;
    tmp.as_file().sync_all().map_err(io("sync"))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(io("set the mode of"))?;
    tmp.persist(path).map_err(|e| io("replace")(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_keeps_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.sh");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o750)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o750
        );
        write_atomic(&dir.path().join("a/b/new.py"), b"x").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("kiln-")), "{names:?}");
    }
}
