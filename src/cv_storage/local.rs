//! The `file://<dir>` backend: CV files as plain files under one directory, written atomically.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{CvStorage, StorageError, validate_key};

/// Stores each object at `<root>/<key>`. A file system keeps no content type, so the type is carried
/// by the key's extension (the server makes keys such as `<uuid>.pdf`).
#[derive(Debug, Clone)]
pub struct LocalDirStorage {
    root: PathBuf,
}

impl LocalDirStorage {
    /// `root` may be relative: it is resolved against the working directory now, so a later change
    /// of directory does not move the data (CONTRACT §10: `file://./data` by default). The directory
    /// itself is created on the first put.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, StorageError> {
        let root = std::path::absolute(root.as_ref()).map_err(StorageError::Local)?;
        Ok(Self { root })
    }

    fn object_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait::async_trait]
impl CvStorage for LocalDirStorage {
    #[tracing::instrument(name = "cv_storage.local.put_file", skip(self, path))]
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), StorageError> {
        let target = self.object_path(key)?;
        let source = path.to_owned();
        let started = Instant::now();
        let bytes = tokio::task::spawn_blocking(move || write_atomically(&source, &target))
            .await
            .map_err(|join_error| StorageError::Local(io::Error::other(join_error)))??;
        tracing::debug!(bytes, elapsed_ms = started.elapsed().as_millis() as u64, "stored CV file");
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let target = self.object_path(key)?;
        tokio::fs::read(&target).await.map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound,
            _ => StorageError::Local(error),
        })
    }

    async fn download_to(&self, key: &str, dest: &mut tokio::fs::File) -> Result<(), StorageError> {
        let target = self.object_path(key)?;
        let mut source = tokio::fs::File::open(&target).await.map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound,
            _ => StorageError::Local(error),
        })?;
        tokio::io::copy(&mut source, dest).await.map_err(StorageError::Local)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let target = self.object_path(key)?;
        if let Err(error) = tokio::fs::remove_file(staging_path(&target)?).await
            && error.kind() != io::ErrorKind::NotFound
        {
            return Err(StorageError::Local(error));
        }
        match tokio::fs::remove_file(&target).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(StorageError::Local(error)),
        }
    }

    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }
}

/// Copies `source` to a temporary file beside `target`, makes it durable, then renames it into place,
/// so a reader (or a crash) never sees a half-written CV. The copy streams: memory stays bounded
/// whatever the file's size. Returns the number of bytes written.
fn write_atomically(source: &Path, target: &Path) -> Result<u64, StorageError> {
    let mut source = File::open(source).map_err(StorageError::ReadSource)?;
    // A key always has at least one segment, so `target` is `root/...` and has a parent.
    let directory =
        target.parent().ok_or_else(|| StorageError::Local(io::Error::other("object path has no parent")))?;
    std::fs::create_dir_all(directory).map_err(StorageError::Local)?;

    // Same directory as the target: the rename stays on one file system and so is atomic. The staging name
    // follows from the key, so deleting the key also deletes what a process killed mid-write left behind.
    let staging = staging_path(target)?;
    let mut staged = tempfile::NamedTempFile::from_parts(
        File::options().write(true).create(true).truncate(true).open(&staging).map_err(StorageError::Local)?,
        tempfile::TempPath::try_from_path(&staging).map_err(StorageError::Local)?,
    );
    let bytes = io::copy(&mut source, staged.as_file_mut()).map_err(StorageError::Local)?;
    staged.as_file().sync_all().map_err(StorageError::Local)?;
    staged.persist(target).map_err(|error| StorageError::Local(error.error))?;
    // The rename itself is only durable once the directory entry is flushed.
    File::open(directory).and_then(|directory| directory.sync_all()).map_err(StorageError::Local)?;
    Ok(bytes)
}

/// Where an object is written before it is renamed into place: `.<name>.partial` beside it.
fn staging_path(target: &Path) -> Result<PathBuf, StorageError> {
    let name = target.file_name().ok_or(StorageError::InvalidKey)?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(".partial");
    Ok(target.with_file_name(staged))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_file(relative: &str) -> PathBuf {
        crate::test_corpus::corpus_path(relative)
    }

    fn entries_in(directory: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn local_put_get_delete_roundtrip_keeps_the_bytes() {
        let root = tempfile::tempdir().unwrap();
        let storage = LocalDirStorage::new(root.path()).unwrap();
        let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");
        let key = "company-1/candidate-2/3f1c.pdf";

        storage.put_file(key, &cv, "application/pdf").await.unwrap();

        assert_eq!(storage.get(key).await.unwrap(), std::fs::read(&cv).unwrap());
        assert_eq!(
            entries_in(&root.path().join("company-1/candidate-2")),
            vec!["3f1c.pdf".to_owned()],
            "no temporary file is left behind"
        );
        storage.delete(key).await.unwrap();
        assert!(matches!(storage.get(key).await, Err(StorageError::NotFound)));
    }

    #[tokio::test]
    async fn local_put_replaces_an_existing_object() {
        let root = tempfile::tempdir().unwrap();
        let storage = LocalDirStorage::new(root.path()).unwrap();
        let first = corpus_file("cv/rendercv_classic_John_Doe.pdf");
        let second = corpus_file("cv/hrhelper_sample_resume.docx");
        let docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

        storage.put_file("a/cv", &first, "application/pdf").await.unwrap();
        storage.put_file("a/cv", &second, docx).await.unwrap();

        assert_eq!(storage.get("a/cv").await.unwrap(), std::fs::read(&second).unwrap());
    }

    #[tokio::test]
    async fn local_keys_with_dot_dot_absolute_paths_or_backslashes_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let storage = LocalDirStorage::new(root.path().join("data")).unwrap();
        let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");

        for key in ["../escaped.pdf", "a/../../escaped.pdf", "/tmp/escaped.pdf", "a\\b.pdf"] {
            let result = storage.put_file(key, &cv, "application/pdf").await;
            assert!(matches!(result, Err(StorageError::InvalidKey)), "{key:?}: {result:?}");
            assert!(matches!(storage.get(key).await, Err(StorageError::InvalidKey)));
            assert!(matches!(storage.delete(key).await, Err(StorageError::InvalidKey)));
        }
        assert!(entries_in(root.path()).is_empty(), "nothing was written anywhere");
    }

    #[tokio::test]
    async fn local_delete_also_removes_a_write_cut_off_by_a_crash() {
        let root = tempfile::tempdir().unwrap();
        let storage = LocalDirStorage::new(root.path()).unwrap();
        std::fs::create_dir_all(root.path().join("a")).unwrap();
        std::fs::write(root.path().join("a/.cv.pdf.partial"), b"%PDF-half").unwrap();

        storage.delete("a/cv.pdf").await.unwrap();

        assert!(entries_in(&root.path().join("a")).is_empty());
    }

    #[tokio::test]
    async fn local_delete_of_a_missing_key_is_ok() {
        let root = tempfile::tempdir().unwrap();
        let storage = LocalDirStorage::new(root.path()).unwrap();

        storage.delete("never/stored.pdf").await.unwrap();
    }

    #[tokio::test]
    async fn local_put_into_an_unwritable_location_fails() {
        // A regular file where the storage root should be: no directory can be created under it,
        // whatever the user's privileges (tests may run as root, where permission bits do not bind).
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("not-a-directory");
        std::fs::write(&root, b"occupied").unwrap();
        let storage = LocalDirStorage::new(&root).unwrap();
        let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");

        let error = storage.put_file("company/candidate/cv.pdf", &cv, "application/pdf").await.unwrap_err();

        assert!(matches!(error, StorageError::Local(_)), "{error:?}");
        assert!(error.to_string().starts_with("local storage failed"), "{error}");
        assert!(!error.to_string().contains(parent.path().to_str().unwrap()));
    }

    #[tokio::test]
    async fn local_put_of_a_missing_source_file_fails_without_creating_the_object() {
        let root = tempfile::tempdir().unwrap();
        let storage = LocalDirStorage::new(root.path()).unwrap();

        let error = storage.put_file("a/cv.pdf", &root.path().join("absent.pdf"), "application/pdf").await.unwrap_err();

        assert!(matches!(error, StorageError::ReadSource(_)), "{error:?}");
        assert!(matches!(storage.get("a/cv.pdf").await, Err(StorageError::NotFound)));
    }

    #[test]
    fn local_describe_names_the_absolute_directory() {
        let storage = LocalDirStorage::new("./data").unwrap();
        let expected = std::env::current_dir().unwrap().join("data");

        assert_eq!(storage.describe(), format!("file://{}", expected.display()));
    }
}
