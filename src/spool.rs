//! Spool files: what a front door received (a CV, an attachment), kept on local disk while its request or
//! its processing is alive, and never longer (CONTRACT §11 "Crashes").
//!
//! A spool file is deleted when its [`SpoolFile`] is dropped. A process killed with `kill -9` drops
//! nothing, so each live spool file also holds an exclusive `flock` on itself: the kernel releases it when
//! the process dies, and [`sweep_orphans`] deletes every spool file whose lock it can take. That holds for
//! several server processes sharing one `SPOOL_DIR`, and needs no clock or age guess.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Every spool file's name starts with this, so the sweep never touches anything else in the folder.
const SPOOL_PREFIX: &str = "talqo-spool-";
/// Between creating a spool file and locking it, its owner is not protected by the lock yet.
const YOUNGEST_ORPHAN: std::time::Duration = std::time::Duration::from_secs(2);

/// A file in `SPOOL_DIR`, locked by this process and deleted when dropped.
#[derive(Debug)]
pub struct SpoolFile {
    path: tempfile::TempPath,
    // Holds the lock for as long as the file is alive; closed (and so unlocked) after the file is deleted.
    _lock: File,
}

impl SpoolFile {
    /// Creates an empty spool file in `dir` and returns it with a handle to write it through.
    pub fn create_in(dir: &Path) -> io::Result<(SpoolFile, File)> {
        let (file, path) = tempfile::Builder::new().prefix(SPOOL_PREFIX).tempfile_in(dir)?.into_parts();
        file.try_lock().map_err(|error| io::Error::other(format!("cannot lock a new spool file: {error}")))?;
        let writer = file.try_clone()?;
        Ok((SpoolFile { path, _lock: file }, writer))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Deletes the spool files in `dir` that no live process holds: those left by a process that died.
/// Returns how many were deleted.
pub fn sweep_orphans(dir: &Path) -> io::Result<usize> {
    let mut deleted = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(SPOOL_PREFIX) {
            continue;
        }
        let path: PathBuf = entry.path();
        // A file created this very moment may not be locked yet by its owner: leave young files alone.
        let young = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age < YOUNGEST_ORPHAN));
        if young {
            continue;
        }
        // Gone meanwhile (its owner finished): nothing to do.
        let Ok(file) = File::open(&path) else { continue };
        if file.try_lock().is_ok() {
            // Nobody holds it: its owner died.
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_spool_file_survives_the_sweep_and_is_deleted_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (spooled, _writer) = SpoolFile::create_in(dir.path()).unwrap();
        let path = spooled.path().to_owned();
        assert_eq!(sweep_orphans(dir.path()).unwrap(), 0);
        assert!(path.exists());
        drop(spooled);
        assert!(!path.exists());
    }

    #[test]
    fn an_unlocked_spool_file_is_an_orphan_and_other_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let orphan = dir.path().join(format!("{SPOOL_PREFIX}left-by-a-dead-process"));
        std::fs::write(&orphan, b"%PDF-1.4").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        File::options().write(true).open(&orphan).unwrap().set_modified(old).unwrap();
        let unrelated = dir.path().join("notes.txt");
        std::fs::write(&unrelated, b"keep me").unwrap();
        assert_eq!(sweep_orphans(dir.path()).unwrap(), 1);
        assert!(!orphan.exists());
        assert!(unrelated.exists());
    }
}
