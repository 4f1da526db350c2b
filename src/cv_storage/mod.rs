//! Object storage for CV files: the [`CvStorage`] interface, its local-directory and S3 backends, and
//! the `STORAGE_URL` that chooses between them (CONTRACT §6 "Storage").
//!
//! Keys are made by the server (e.g. `"<company>/<candidate>/<uuid>.pdf"`), never taken from the
//! client's file name; both backends still refuse keys that could escape their root.

mod local;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use local::LocalDirStorage;
pub use s3::{S3Settings, S3Storage, s3_storage};

/// Where CV files are kept. Implementations are cheap to share behind an `Arc`.
#[async_trait::async_trait]
pub trait CvStorage: Send + Sync + 'static {
    /// Stores the file at `path` under `key` (made by the server, e.g. "<company>/<candidate>/<uuid>.pdf"),
    /// with `content_type` recorded where the backend can keep it. Overwrites an existing object.
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), StorageError>;
    /// Reads a whole object; for operators and tests.
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError>;
    /// Copies an object into the file `dest` (created or truncated), streaming, so memory stays bounded
    /// whatever the object's size.
    async fn download_to(&self, key: &str, dest: &mut tokio::fs::File) -> Result<(), StorageError>;
    /// Deletes an object; deleting a missing key is `Ok`.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Where the objects go, e.g. `file:///abs/data` or `s3://bucket/prefix`; never holds a secret.
    fn describe(&self) -> String;
}

/// A storage failure. Its `Display` is safe to show a client after "Failed to upload CV: " (CONTRACT §6):
/// it names what failed, never a credential or a server path; the cause stays in `source()` for logs.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid STORAGE_URL: {0}")]
    InvalidUrl(String),
    #[error("invalid S3 configuration")]
    S3Config(#[source] object_store::Error),
    #[error("invalid storage key")]
    InvalidKey,
    #[error("object not found")]
    NotFound,
    #[error("could not read the file to store ({})", .0.kind())]
    ReadSource(#[source] std::io::Error),
    #[error("local storage failed ({})", .0.kind())]
    Local(#[source] std::io::Error),
    #[error("object storage request failed")]
    ObjectStore(#[source] object_store::Error),
}

/// A parsed `STORAGE_URL` (CONTRACT §6, §10: `file://<dir>`, default `file://./data`, or `s3://bucket[/prefix]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory, as written (relative paths are relative to the working directory).
    LocalDir(PathBuf),
    /// A bucket and an optional key prefix without leading or trailing `/`.
    S3 { bucket: String, prefix: Option<String> },
}

impl StorageUrl {
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() {
                return Err(StorageError::InvalidUrl("file:// needs a directory".into()));
            }
            return Ok(Self::LocalDir(PathBuf::from(dir)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StorageError::InvalidUrl("s3:// needs a bucket name".into()));
            }
            let prefix = prefix.trim_matches('/');
            let prefix = if prefix.is_empty() {
                None
            } else {
                validate_key(prefix).map_err(|_| StorageError::InvalidUrl("invalid S3 key prefix".into()))?;
                Some(prefix.to_owned())
            };
            return Ok(Self::S3 { bucket: bucket.to_owned(), prefix });
        }
        Err(StorageError::InvalidUrl("expected file://<dir> or s3://bucket[/prefix]".into()))
    }
}

/// Builds the storage named by `STORAGE_URL`; S3 settings come from the standard `AWS_*` variables
/// (see [`S3Settings::from_env`]).
pub fn storage_from_url(url: &str) -> Result<Arc<dyn CvStorage>, StorageError> {
    match StorageUrl::parse(url)? {
        StorageUrl::LocalDir(dir) => Ok(Arc::new(LocalDirStorage::new(dir)?)),
        StorageUrl::S3 { bucket, prefix } => s3_storage(S3Settings::from_env(bucket, prefix)),
    }
}

/// Refuses keys that are empty, absolute, or could walk out of the storage root (`..`, `.`, empty
/// segments, backslashes, control characters). Keys are ours, but a bug upstream must not become a
/// path traversal.
fn validate_key(key: &str) -> Result<(), StorageError> {
    let malformed = key.is_empty()
        || key.contains('\\')
        || key.chars().any(char::is_control)
        || key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if malformed { Err(StorageError::InvalidKey) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_url_parses_local_directories_as_written() {
        assert_eq!(StorageUrl::parse("file://./data").unwrap(), StorageUrl::LocalDir(PathBuf::from("./data")));
        assert_eq!(
            StorageUrl::parse("file:///var/lib/talqo").unwrap(),
            StorageUrl::LocalDir(PathBuf::from("/var/lib/talqo"))
        );
        assert!(StorageUrl::parse("file://").is_err());
    }

    #[test]
    fn storage_url_parses_bucket_and_prefix() {
        assert_eq!(StorageUrl::parse("s3://cvs").unwrap(), StorageUrl::S3 { bucket: "cvs".into(), prefix: None });
        assert_eq!(
            StorageUrl::parse("s3://cvs/some/prefix/").unwrap(),
            StorageUrl::S3 { bucket: "cvs".into(), prefix: Some("some/prefix".into()) }
        );
        assert!(StorageUrl::parse("s3://").is_err());
        assert!(StorageUrl::parse("s3://cvs/a/../b").is_err());
        assert!(StorageUrl::parse("gs://cvs").is_err());
        assert!(StorageUrl::parse("./data").is_err());
    }

    #[test]
    fn keys_that_could_escape_the_root_are_refused() {
        for key in
            ["", "/etc/passwd", "../x.pdf", "a/../../x.pdf", "a/./x.pdf", "a//x.pdf", "a/", "a\\..\\x.pdf", "a/x\n.pdf"]
        {
            assert!(matches!(validate_key(key), Err(StorageError::InvalidKey)), "{key:?} should be refused");
        }
        validate_key("company/candidate/0b5c.pdf").unwrap();
        validate_key("x.docx").unwrap();
    }
}
