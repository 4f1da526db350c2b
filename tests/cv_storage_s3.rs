//! The S3 backend of `cv_storage` against a real S3-compatible server (moto) on loopback
//! (CONTRACT §6 "Storage").

#[path = "support/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moto::MotoServer;
use talqo_server::cv_storage::{CvStorage, S3Settings, StorageError, StorageUrl, s3_storage};

const PDF: &str = "application/pdf";
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
/// "Does not hang" bound for failures against a dead server.
const OUTAGE_BOUND: Duration = Duration::from_secs(30);

fn corpus_file(relative: &str) -> PathBuf {
    let corpus = std::env::var_os("TALQO_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    corpus.join(relative)
}

/// Settings for `endpoint`, with explicit credentials rather than process-wide `AWS_*` variables
/// (tests run in parallel threads of one process).
fn settings_for(endpoint: &str, bucket: &str, prefix: Option<&str>) -> S3Settings {
    let mut settings = S3Settings::new(bucket, prefix.map(str::to_owned));
    settings.endpoint = Some(endpoint.to_owned());
    settings.region = Some(moto::REGION.to_owned());
    settings.access_key_id = Some(moto::ACCESS_KEY_ID.to_owned());
    settings.secret_access_key = Some(moto::SECRET_ACCESS_KEY.to_owned());
    settings
}

async fn moto_with_bucket(bucket: &str) -> MotoServer {
    let server = MotoServer::start().await;
    server.create_bucket(bucket).await;
    server
}

fn header_of(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

fn content_type_of(response: &reqwest::Response) -> Option<String> {
    header_of(response, reqwest::header::CONTENT_TYPE)
}

#[tokio::test]
async fn s3_put_get_delete_roundtrip_keeps_bytes_and_content_type() {
    let moto = moto_with_bucket("cvs").await;
    let storage = s3_storage(settings_for(&moto.endpoint(), "cvs", None)).unwrap();
    let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");
    let key = "company-1/candidate-2/0b5c6f0e.pdf";

    storage.put_file(key, &cv, PDF).await.unwrap();

    let expected = std::fs::read(&cv).unwrap();
    assert_eq!(storage.get(key).await.unwrap(), expected);
    assert!(!moto.output().contains("?uploads"), "a small file goes up in one PUT");
    let head = moto.head_object("cvs", key).await;
    assert_eq!(head.status(), reqwest::StatusCode::OK);
    assert_eq!(content_type_of(&head).as_deref(), Some(PDF));
    // A HEAD response has no body, so read the header itself rather than the body's size.
    assert_eq!(header_of(&head, reqwest::header::CONTENT_LENGTH), Some(expected.len().to_string()));

    storage.delete(key).await.unwrap();
    assert!(matches!(storage.get(key).await, Err(StorageError::NotFound)));
    assert_eq!(moto.head_object("cvs", key).await.status(), reqwest::StatusCode::NOT_FOUND);
    storage.delete(key).await.expect("deleting a missing key is Ok");
}

#[tokio::test]
async fn s3_docx_keeps_its_content_type() {
    let moto = moto_with_bucket("cvs").await;
    let storage = s3_storage(settings_for(&moto.endpoint(), "cvs", None)).unwrap();
    let cv = corpus_file("cv/hrhelper_sample_resume.docx");

    storage.put_file("c/d/cv.docx", &cv, DOCX).await.unwrap();

    let head = moto.head_object("cvs", "c/d/cv.docx").await;
    assert_eq!(content_type_of(&head).as_deref(), Some(DOCX));
    assert_eq!(storage.get("c/d/cv.docx").await.unwrap(), std::fs::read(&cv).unwrap());
}

#[tokio::test]
async fn s3_url_prefix_is_honoured() {
    let moto = moto_with_bucket("cvs").await;
    let StorageUrl::S3 { bucket, prefix } = StorageUrl::parse("s3://cvs/some/prefix").unwrap() else {
        panic!("an s3:// URL parses as S3");
    };
    let storage = s3_storage(settings_for(&moto.endpoint(), &bucket, prefix.as_deref())).unwrap();
    let cv = corpus_file("cv/deedy_resume.pdf");

    storage.put_file("company/candidate/cv.pdf", &cv, PDF).await.unwrap();

    assert_eq!(storage.describe(), "s3://cvs/some/prefix");
    let under_prefix = moto.head_object("cvs", "some/prefix/company/candidate/cv.pdf").await;
    assert_eq!(under_prefix.status(), reqwest::StatusCode::OK);
    let without_prefix = moto.head_object("cvs", "company/candidate/cv.pdf").await;
    assert_eq!(without_prefix.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(storage.get("company/candidate/cv.pdf").await.unwrap(), std::fs::read(&cv).unwrap());
}

#[tokio::test]
async fn s3_file_larger_than_one_put_streams_as_multipart_with_its_content_type() {
    let moto = moto_with_bucket("cvs").await;
    let storage = s3_storage(settings_for(&moto.endpoint(), "cvs", None)).unwrap();
    // Real PDF bytes repeated past the single-PUT size (16 MiB), so the upload takes the multipart path.
    let pdf = std::fs::read(corpus_file("cv/awesomecv_resume.pdf")).unwrap();
    let large: Vec<u8> = pdf.iter().copied().cycle().take(17 * 1024 * 1024 + 123).collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &large).unwrap();

    storage.put_file("big/cv.pdf", file.path(), PDF).await.unwrap();

    let head = moto.head_object("cvs", "big/cv.pdf").await;
    assert_eq!(content_type_of(&head).as_deref(), Some(PDF));
    assert!(storage.get("big/cv.pdf").await.unwrap() == large, "bytes differ");
}

#[tokio::test]
async fn s3_put_into_a_missing_bucket_fails_with_a_client_safe_message() {
    let moto = MotoServer::start().await;
    let storage = s3_storage(settings_for(&moto.endpoint(), "no-such-bucket", None)).unwrap();
    let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");

    let error = storage.put_file("a/cv.pdf", &cv, PDF).await.unwrap_err();

    assert!(matches!(error, StorageError::ObjectStore(_)), "{error:?}");
    assert_eq!(error.to_string(), "object storage request failed");
}

#[tokio::test]
async fn s3_put_fails_quickly_when_the_server_is_down() {
    let mut moto = moto_with_bucket("cvs").await;
    let storage: Arc<dyn CvStorage> = s3_storage(settings_for(&moto.endpoint(), "cvs", None)).unwrap();
    let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");
    storage.put_file("before/cv.pdf", &cv, PDF).await.unwrap();

    moto.kill();
    let started = Instant::now();
    let result = tokio::time::timeout(OUTAGE_BOUND, storage.put_file("after/cv.pdf", &cv, PDF)).await;

    let error = result.unwrap_or_else(|_| panic!("put_file still running after {OUTAGE_BOUND:?}")).unwrap_err();
    assert!(started.elapsed() < OUTAGE_BOUND);
    assert!(matches!(error, StorageError::ObjectStore(_)), "{error:?}");
    let message = format!("Failed to upload CV: {error}");
    assert_eq!(message, "Failed to upload CV: object storage request failed");
    assert!(!message.contains(moto::SECRET_ACCESS_KEY));
}

#[tokio::test]
async fn s3_put_gives_up_within_the_request_timeout_when_the_server_never_answers() {
    // Accepts connections and never replies: the request timeout, not the OS, must end the put.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let mut settings = settings_for(&endpoint, "cvs", None);
    settings.request_timeout = Duration::from_secs(1);
    settings.max_retries = 1;
    let storage = s3_storage(settings).unwrap();
    let cv = corpus_file("cv/rendercv_classic_John_Doe.pdf");

    let started = Instant::now();
    let result = tokio::time::timeout(OUTAGE_BOUND, storage.put_file("a/cv.pdf", &cv, PDF)).await;

    let error = result.unwrap_or_else(|_| panic!("put_file still running after {OUTAGE_BOUND:?}")).unwrap_err();
    assert!(matches!(error, StorageError::ObjectStore(_)), "{error:?}");
    // Two attempts of at most 1 s each, plus backoff: far below the bound even on a slow machine.
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
    holder.abort();
}
