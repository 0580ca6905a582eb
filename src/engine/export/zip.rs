//! `--zip FILE`: the run's final files (every artifact's latest version, by project-relative
//! path) in a deflate archive, written to a temporary file and renamed into place.

use std::io::Write as _;
use std::path::Path;

use zip::write::SimpleFileOptions;

use super::{Error, PlannedFile};

pub(super) fn write_archive(path: &Path, files: &[PlannedFile]) -> Result<(), Error> {
    let fail = |message: String| Error::Zip {
        path: path.to_path_buf(),
        message,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".kiln-export-")
        .suffix(".zip")
        .tempfile_in(dir)
        .map_err(|e| fail(format!("cannot create a file in '{}': {e}", dir.display())))?;
    let mut zip = zip::ZipWriter::new(tmp.as_file());
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for f in files {
        zip.start_file(f.path.as_str(), options)
            .map_err(|e| fail(e.to_string()))?;
        zip.write_all(f.content())
            .map_err(|e| fail(e.to_string()))?;
    }
    zip.finish().map_err(|e| fail(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| fail(e.to_string()))?;
    tmp.persist(path).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}
