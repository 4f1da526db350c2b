//! CONTRACT §11, slow or idle clients: headers owe their end within HEADER_READ_TIMEOUT, a body that goes
//! quiet for BODY_IDLE_TIMEOUT gets 408 and loses its spool file, an idle keep-alive connection closes after
//! KEEP_ALIVE_TIMEOUT, and none of it keeps other clients waiting.

use std::time::{Duration, Instant};

use crate::common::{TestApp, open_offer, test_settings};
use crate::raw_http::{closed_within, connect, read_response, send};

#[tokio::test]
async fn a_slow_header_client_is_cut_after_the_timeout_while_another_is_served() {
    let app = TestApp::spawn_with(test_settings(&[("HEADER_READ_TIMEOUT", "1s"), ("KEEP_ALIVE_TIMEOUT", "30s")])).await;
    let mut slow = connect(app.address).await;
    let started = Instant::now();
    send(&mut slow, b"GET /healthz HTTP/1.1\r\nHost: slow\r\n").await;
    // A byte every 200 ms: the connection is never idle, but its headers never end.
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if tokio::io::AsyncWriteExt::write_all(&mut slow, b"X").await.is_err() {
                return started.elapsed();
            }
        }
        started.elapsed()
    };
    let served = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let asked = Instant::now();
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        asked.elapsed()
    };
    let (cut_after, other_client_waited) = tokio::join!(trickle, served);
    assert!(other_client_waited < Duration::from_millis(500), "the other client waited {other_client_waited:?}");
    assert!(
        cut_after >= Duration::from_millis(900) && cut_after < Duration::from_secs(3),
        "the slow client was cut after {cut_after:?}"
    );
    assert!(closed_within(&mut slow, Duration::from_secs(1)).await, "the slow connection is closed");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_timeout_and_closes_after_its_own() {
    let app = TestApp::spawn_with(test_settings(&[("HEADER_READ_TIMEOUT", "1s"), ("KEEP_ALIVE_TIMEOUT", "3s")])).await;
    let mut stream = connect(app.address).await;
    send(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: idle\r\n\r\n").await;
    assert_eq!(read_response(&mut stream, Duration::from_secs(2)).await.status, 200);
    // Idle for twice the header timeout: still open, because waiting for a request is not reading one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: idle\r\n\r\n").await;
    assert_eq!(read_response(&mut stream, Duration::from_secs(2)).await.status, 200);
    let idle_from = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(6)).await, "the idle connection is closed");
    let idle_for = idle_from.elapsed();
    assert!(
        idle_for >= Duration::from_millis(2_800) && idle_for < Duration::from_millis(4_500),
        "closed after {idle_for:?} idle"
    );
}

#[tokio::test]
async fn a_trickled_upload_that_goes_quiet_gets_408_in_the_envelope_and_its_spool_file_is_removed() {
    let app = TestApp::spawn_with(test_settings(&[("BODY_IDLE_TIMEOUT", "2s")])).await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let offer = app.offer(&company, open_offer("Rust developer")).await;
    let spool = app.files().join("spool");

    let boundary = "talqo-trickle-7c1d";
    let mut body = String::new();
    for (name, value) in [
        ("job_offer_id", offer.id.to_string()),
        ("first_name", "Jean".to_owned()),
        ("last_name", "Dupont".to_owned()),
        ("email", "jean.dupont@example.com".to_owned()),
    ] {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    ));
    body.push_str(&" ".repeat(16 * 1024));
    let head = format!(
        "POST /api/job_applications HTTP/1.1\r\nHost: trickle\r\nX-API-Key: {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n"
    );
    let mut stream = connect(app.address).await;
    send(&mut stream, head.as_bytes()).await;
    send(&mut stream, body.as_bytes()).await;
    let quiet_from = Instant::now();

    // The CV is being spooled…
    let mut spooled = false;
    for _ in 0..40 {
        if std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0) > 0 {
            spooled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(spooled, "the CV part reached the spool folder");

    // …then the client goes quiet.
    let response = read_response(&mut stream, Duration::from_secs(5)).await;
    let waited = quiet_from.elapsed();
    assert_eq!(response.status, 408, "{}", response.head);
    assert_eq!(response.envelope_message(), "Request timed out");
    assert!(waited >= Duration::from_millis(1_900) && waited < Duration::from_secs(4), "answered after {waited:?}");
    assert!(closed_within(&mut stream, Duration::from_secs(2)).await, "the connection is closed after a 408");
    let left: Vec<_> = std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "spool files left behind: {left:?}");
    // Nothing was stored, and the API log records the 408 the client read.
    let applications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_applications").fetch_one(&app.db).await.unwrap();
    assert_eq!(applications, 0);
    app.api_logs_eventually(1).await;
    let logged: Vec<i32> =
        sqlx::query_scalar("SELECT status_code::int FROM api_logs").fetch_all(&app.db).await.unwrap();
    assert_eq!(logged, [408]);
}
