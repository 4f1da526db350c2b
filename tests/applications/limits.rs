//! CONTRACT §6 item 7: a CV far over the limit is refused while it streams, never buffered whole, and the
//! server stays healthy.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::CONTENT_TYPE;

use crate::fixtures::{CV_PDF, Tenant, eventually, expect_created, expect_error, within};

const BOUNDARY: &str = "talqo-streamed-boundary-5f2c";
const CHUNK_BYTES: usize = 64 * 1024;
/// 60 MiB of CV.
const CHUNKS: usize = 960;

/// A multipart application whose CV is `%PDF-1.4` followed by 60 MiB of spaces, produced chunk by chunk
/// (one 64 KiB chunk shared by reference): the test never holds the body.
fn streamed_body(tenant: &Tenant) -> reqwest::Body {
    let mut head = String::new();
    for (name, value) in [
        ("job_offer_id", tenant.offer.id.to_string()),
        ("first_name", "Jean".to_owned()),
        ("last_name", "Dupont".to_owned()),
        ("email", "jean.dupont@example.com".to_owned()),
    ] {
        head.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    head.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"huge.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    ));
    let chunk = Bytes::from(vec![b' '; CHUNK_BYTES]);
    let tail = Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"));
    let parts =
        std::iter::once(Bytes::from(head)).chain(std::iter::repeat_n(chunk, CHUNKS)).chain(std::iter::once(tail));
    reqwest::Body::wrap_stream(futures_util::stream::iter(parts).map(Ok::<Bytes, std::io::Error>))
}

#[tokio::test]
async fn a_60_mib_cv_is_refused_as_too_large_promptly_and_the_server_stays_healthy() {
    let tenant = Tenant::start().await;
    let started = Instant::now();
    let response = within(
        Duration::from_secs(60),
        "answer to a 60 MiB CV",
        tenant
            .post()
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(streamed_body(&tenant))
            .send(),
    )
    .await
    .expect("the server answers rather than dropping the connection");
    expect_error(response, 400, "CV validation failed: CV file too large (max 10485760 bytes)").await;
    eprintln!("60 MiB CV refused after {:?}", started.elapsed());

    // Nothing is kept: no rows, and the spooled part is gone.
    crate::fixtures::assert_nothing_written(tenant.db()).await;
    let spool = tenant.app.files().join("spool");
    eventually(Duration::from_secs(10), "an empty spool folder", || {
        let spool = spool.clone();
        async move { std::fs::read_dir(&spool).map(|entries| entries.count() == 0).unwrap_or(true).then_some(()) }
    })
    .await;

    let health = tenant.app.client.get(tenant.app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
}

/// A multipart application with a normal CV whose `cover_letter` is `megabytes` MiB, streamed.
fn body_with_huge_cover_letter(tenant: &Tenant, megabytes: usize) -> reqwest::Body {
    let mut head = String::new();
    for (name, value) in [
        ("job_offer_id", tenant.offer.id.to_string()),
        ("first_name", "Jean".to_owned()),
        ("last_name", "Dupont".to_owned()),
        ("email", "jean.dupont@example.com".to_owned()),
    ] {
        head.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    let mut cv_part = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    cv_part.extend_from_slice(&crate::fixtures::corpus_bytes(CV_PDF));
    cv_part.extend_from_slice(
        format!("\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"cover_letter\"\r\n\r\n").as_bytes(),
    );
    let chunk = Bytes::from(vec![b'x'; CHUNK_BYTES]);
    let tail = Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"));
    let parts = [Bytes::from(head), Bytes::from(cv_part)]
        .into_iter()
        .chain(std::iter::repeat_n(chunk, megabytes * 1024 * 1024 / CHUNK_BYTES))
        .chain(std::iter::once(tail));
    reqwest::Body::wrap_stream(futures_util::stream::iter(parts).map(Ok::<Bytes, std::io::Error>))
}

#[tokio::test]
async fn a_cover_letter_of_20_mib_is_too_long_like_any_text_field_over_64_kib() {
    let tenant = Tenant::start().await;
    let response = within(
        Duration::from_secs(60),
        "answer to a 20 MiB cover letter",
        tenant
            .post()
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body_with_huge_cover_letter(&tenant, 20))
            .send(),
    )
    .await
    .expect("the server answers");
    expect_error(response, 400, "cover_letter is too long").await;
    crate::fixtures::assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_cover_letter_of_20_mib_is_refused_promptly_in_the_envelope_and_the_server_stays_healthy() {
    let tenant = Tenant::start().await;
    let response = within(
        Duration::from_secs(60),
        "answer to a 20 MiB cover letter",
        tenant
            .post()
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body_with_huge_cover_letter(&tenant, 20))
            .send(),
    )
    .await
    .expect("the server answers");
    let status = response.status().as_u16();
    assert!(status == 400 || status == 413, "{status}");
    crate::fixtures::expect_error_starting(response, status, "").await;
    crate::fixtures::assert_nothing_written(tenant.db()).await;
    let health = tenant.app.client.get(tenant.app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
}
