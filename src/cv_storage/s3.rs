//! The `s3://bucket[/prefix]` backend: CV files as S3 objects (AWS or an S3-compatible server such as
//! MinIO or moto), through `object_store`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CvStorage, StorageError, validate_key};

/// Files up to this size go up in one `PUT` (buffered in memory, which lets the client retry it);
/// larger ones stream as a multipart upload in parts of this size, so memory stays bounded even if
/// the CV size limit (CONTRACT §6, 10 MiB by default) is raised.
const SINGLE_PUT_MAX_BYTES: usize = 16 * 1024 * 1024;
const READ_CHUNK_BYTES: usize = 256 * 1024;

/// Everything needed to reach one bucket. Built explicitly in tests, from the environment in the server.
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix without leading or trailing `/`; objects go to `<prefix>/<key>`.
    pub prefix: Option<String>,
    /// A custom endpoint (`AWS_ENDPOINT_URL`) for S3-compatible servers; requests then use path-style
    /// addressing (`<endpoint>/<bucket>/<key>`), and an `http://` endpoint is allowed.
    pub endpoint: Option<String>,
    /// Defaults to `us-east-1` when unset.
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Bound on one HTTP request, so an outage answers in seconds rather than minutes.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for transient failures only.
    pub max_retries: usize,
    /// Any other `AWS_*` setting `object_store` understands (web identity and container credentials,
    /// `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, server-side encryption, …), applied after the defaults above
    /// so an operator's explicit choice wins.
    pub other_aws_config: Vec<(AmazonS3ConfigKey, String)>,
}

impl S3Settings {
    /// Settings with no credentials, no endpoint and the default timeouts: a 10 s request timeout and
    /// 2 retries, so a dead endpoint fails a CV upload within about 20 s at worst, and within
    /// milliseconds when the connection is refused.
    pub fn new(bucket: impl Into<String>, prefix: Option<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_retries: 2,
            other_aws_config: Vec::new(),
        }
    }

    /// Reads the standard variables (CONTRACT §6): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` (else `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (else
    /// `AWS_ENDPOINT_URL`, else `AWS_ENDPOINT`), plus any other `AWS_*` variable `object_store`
    /// understands. Empty values count as unset. Shared config files (`~/.aws/config`, `AWS_PROFILE`)
    /// are not read.
    pub fn from_env(bucket: impl Into<String>, prefix: Option<String>) -> Self {
        Self::from_vars(bucket, prefix, std::env::vars_os())
    }

    fn from_vars(
        bucket: impl Into<String>,
        prefix: Option<String>,
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Self {
        let mut settings = Self::new(bucket, prefix);
        let (mut region, mut default_region) = (None, None);
        let (mut s3_endpoint, mut endpoint_url, mut endpoint) = (None, None, None);
        for (name, value) in vars {
            let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
                continue;
            };
            if !name.starts_with("AWS_") || value.is_empty() {
                continue;
            }
            let value = value.to_owned();
            match name {
                "AWS_ACCESS_KEY_ID" => settings.access_key_id = Some(value),
                "AWS_SECRET_ACCESS_KEY" => settings.secret_access_key = Some(value),
                "AWS_SESSION_TOKEN" => settings.session_token = Some(value),
                "AWS_REGION" => region = Some(value),
                "AWS_DEFAULT_REGION" => default_region = Some(value),
                "AWS_ENDPOINT_URL_S3" => s3_endpoint = Some(value),
                "AWS_ENDPOINT_URL" => endpoint_url = Some(value),
                "AWS_ENDPOINT" => endpoint = Some(value),
                // The bucket comes from STORAGE_URL only.
                "AWS_BUCKET" | "AWS_BUCKET_NAME" => {}
                _ => {
                    if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                        settings.other_aws_config.push((key, value));
                    }
                }
            }
        }
        settings.region = region.or(default_region);
        settings.endpoint = s3_endpoint.or(endpoint_url).or(endpoint);
        settings
    }
}

/// Redacts every value that may be a secret (keys, tokens, and all the free-form `AWS_*` values,
/// which include customer encryption keys).
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |value: &Option<String>| value.as_ref().map(|_| "<redacted>");
        let other_keys: Vec<&str> = self.other_aws_config.iter().map(|(key, _)| key.as_ref()).collect();
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("other_aws_config", &other_keys)
            .finish()
    }
}

/// Builds the S3 backend as a shareable [`CvStorage`].
pub fn s3_storage(settings: S3Settings) -> Result<Arc<dyn CvStorage>, StorageError> {
    Ok(Arc::new(S3Storage::new(settings)?))
}

/// CV files as objects in one bucket, under an optional prefix, with their content type set.
pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: Option<String>,
}

/// Written by hand: the client's own `Debug` walks its whole configuration.
impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl S3Storage {
    /// Checks the settings and prepares the client; no request is made until the first operation.
    pub fn new(settings: S3Settings) -> Result<Self, StorageError> {
        if let Some(prefix) = &settings.prefix {
            validate_key(prefix).map_err(|_| StorageError::InvalidUrl("invalid S3 key prefix".into()))?;
        }
        let allow_http =
            settings.endpoint.as_deref().is_some_and(|endpoint| endpoint.to_ascii_lowercase().starts_with("http://"));
        let client_options = ClientOptions::new()
            .with_timeout(settings.request_timeout)
            .with_connect_timeout(settings.connect_timeout)
            .with_allow_http(allow_http);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: settings.max_retries,
            // No retry starts after this, so one put never outlives about two request timeouts.
            retry_timeout: settings.request_timeout,
        };

        let mut builder = AmazonS3Builder::new()
            .with_client_options(client_options)
            .with_retry(retry)
            // Custom endpoints (moto, MinIO, …) rarely resolve `<bucket>.<host>`; path-style works
            // everywhere, AWS included.
            .with_virtual_hosted_style_request(false);
        for (key, value) in &settings.other_aws_config {
            builder = builder.with_config(*key, value);
        }
        builder = builder.with_bucket_name(&settings.bucket);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(access_key_id) = &settings.access_key_id {
            builder = builder.with_access_key_id(access_key_id);
        }
        if let Some(secret_access_key) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret_access_key);
        }
        if let Some(session_token) = &settings.session_token {
            builder = builder.with_token(session_token);
        }
        let store = builder.build().map_err(StorageError::S3Config)?;

        Ok(Self { store: Arc::new(store), bucket: settings.bucket, prefix: settings.prefix })
    }

    fn object_path(&self, key: &str) -> Result<ObjectPath, StorageError> {
        validate_key(key)?;
        let full_key = match &self.prefix {
            Some(prefix) => format!("{prefix}/{key}"),
            None => key.to_owned(),
        };
        ObjectPath::parse(full_key).map_err(|_| StorageError::InvalidKey)
    }
}

#[async_trait::async_trait]
impl CvStorage for S3Storage {
    #[tracing::instrument(name = "cv_storage.s3.put_file", skip(self, path), fields(bucket = %self.bucket))]
    async fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), StorageError> {
        let object_path = self.object_path(key)?;
        let mut source = tokio::fs::File::open(path).await.map_err(StorageError::ReadSource)?;
        let started = Instant::now();
        let attributes =
            Attributes::from_iter([(Attribute::ContentType, AttributeValue::from(content_type.to_owned()))]);
        let mut upload = BufWriter::with_capacity(Arc::clone(&self.store), object_path, SINGLE_PUT_MAX_BYTES)
            .with_attributes(attributes);

        let mut chunk = vec![0_u8; READ_CHUNK_BYTES];
        let mut bytes: u64 = 0;
        let streamed = loop {
            let read = match source.read(&mut chunk).await {
                Ok(0) => break Ok(()),
                Ok(read) => read,
                Err(error) => break Err(StorageError::ReadSource(error)),
            };
            if let Err(error) = upload.write_all(&chunk[..read]).await {
                break Err(object_store_error(error));
            }
            bytes += read as u64;
        };
        if let Err(error) = streamed {
            // Only a started multipart upload holds anything on the server. Failing to abort it is
            // not the caller's error: a lifecycle rule for incomplete uploads reclaims the parts.
            // (`abort` panics after `shutdown`, which has not been called on this path.)
            if let Err(abort_error) = upload.abort().await {
                tracing::warn!(error = %abort_error, "could not abort the multipart upload");
            }
            return Err(error);
        }
        // Sends the single PUT, or completes the multipart upload (which aborts itself on failure).
        upload.shutdown().await.map_err(object_store_error)?;
        tracing::debug!(bytes, elapsed_ms = started.elapsed().as_millis() as u64, "stored CV object");
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let object_path = self.object_path(key)?;
        let object = self.store.get(&object_path).await.map_err(classify)?;
        let bytes = object.bytes().await.map_err(classify)?;
        Ok(bytes.to_vec())
    }

    async fn download_to(&self, key: &str, dest: &mut tokio::fs::File) -> Result<(), StorageError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let object_path = self.object_path(key)?;
        let mut chunks = self.store.get(&object_path).await.map_err(classify)?.into_stream();
        while let Some(chunk) = chunks.next().await {
            dest.write_all(&chunk.map_err(classify)?).await.map_err(StorageError::Local)?;
        }
        dest.flush().await.map_err(StorageError::Local)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let object_path = self.object_path(key)?;
        match self.store.delete(&object_path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StorageError::ObjectStore(error)),
        }
    }

    fn describe(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("s3://{}/{prefix}", self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }
}

fn classify(error: object_store::Error) -> StorageError {
    match error {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        other => StorageError::ObjectStore(other),
    }
}

/// `BufWriter` speaks `std::io::Error`; recover the `object_store` error inside it when there is one.
fn object_store_error(error: std::io::Error) -> StorageError {
    match error.downcast::<object_store::Error>() {
        Ok(error) => StorageError::ObjectStore(error),
        Err(error) => StorageError::ObjectStore(object_store::Error::Generic { store: "S3", source: Box::new(error) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(name, value)| (OsString::from(name), OsString::from(value))).collect()
    }

    #[test]
    fn settings_from_env_read_the_standard_aws_variables() {
        let settings = S3Settings::from_vars(
            "cvs",
            Some("prod".into()),
            vars(&[
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("AWS_REGION", "eu-west-3"),
                ("AWS_ENDPOINT", "http://old.example"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
                ("AWS_SESSION_TOKEN", ""),
                ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "true"),
                ("AWS_PROFILE", "ignored"),
                ("HOME", "/root"),
            ]),
        );

        assert_eq!(settings.bucket, "cvs");
        assert_eq!(settings.prefix.as_deref(), Some("prod"));
        assert_eq!(settings.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
        assert_eq!(settings.secret_access_key.as_deref(), Some("very-secret"));
        assert_eq!(settings.session_token, None, "an empty value counts as unset");
        assert_eq!(settings.region.as_deref(), Some("eu-west-3"));
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(settings.other_aws_config, vec![(AmazonS3ConfigKey::VirtualHostedStyleRequest, "true".to_owned())]);
    }

    #[test]
    fn settings_debug_never_shows_secrets() {
        let mut settings = S3Settings::new("cvs", None);
        settings.secret_access_key = Some("very-secret".into());
        settings.session_token = Some("session-secret".into());
        settings.other_aws_config = vec![("aws_sse_customer_key_base64".parse().unwrap(), "customer-secret".into())];

        let debug = format!("{settings:?}");

        for secret in ["very-secret", "session-secret", "customer-secret"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn describe_names_bucket_and_prefix_only() {
        let mut settings = S3Settings::new("cvs", Some("some/prefix".into()));
        settings.access_key_id = Some("AKIDEXAMPLE".into());
        settings.secret_access_key = Some("very-secret".into());
        settings.endpoint = Some("http://127.0.0.1:9".into());

        let storage = S3Storage::new(settings).unwrap();

        assert_eq!(storage.describe(), "s3://cvs/some/prefix");
        assert_eq!(S3Storage::new(S3Settings::new("cvs", None)).unwrap().describe(), "s3://cvs");
    }

    #[test]
    fn objects_go_under_the_prefix() {
        let storage = S3Storage::new(S3Settings::new("cvs", Some("some/prefix".into()))).unwrap();

        assert_eq!(storage.object_path("c/d/e.pdf").unwrap().as_ref(), "some/prefix/c/d/e.pdf");
        assert!(matches!(storage.object_path("../e.pdf"), Err(StorageError::InvalidKey)));
    }
}
