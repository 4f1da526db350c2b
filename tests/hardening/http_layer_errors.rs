//! CONTRACT §11: what the HTTP layer refuses by itself (431, 414, 413; 408 is in `slow_clients`) is the
//! envelope on /api and Teamio's shape under /api/v1/; outside /api, answers are left as they are.

use std::time::Duration;

use crate::common::{TestApp, error_message, test_settings};
use crate::raw_http::{RawResponse, connect, read_response, send};

/// Sends a GET for `target` with `extra_headers` over a raw socket and reads the answer.
async fn raw_get(app: &TestApp, target: &str, extra_headers: &str) -> RawResponse {
    let mut stream = connect(app.address).await;
    let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\n{extra_headers}\r\n");
    send(&mut stream, request.as_bytes()).await;
    read_response(&mut stream, Duration::from_secs(5)).await
}

fn big_header(bytes: usize) -> String {
    format!("X-Padding: {}\r\n", "a".repeat(bytes))
}

fn many_headers(count: usize) -> String {
    (0..count).map(|i| format!("X-Header-{i}: {i}\r\n")).collect()
}

#[tokio::test]
async fn headers_over_64_kib_are_431_in_the_envelope() {
    let app = TestApp::spawn().await;
    // Just over the limit (the router's check), far over it (hyper's own refusal), and too many headers.
    for (what, headers) in
        [("70 KiB", big_header(70 * 1024)), ("200 KiB", big_header(200 * 1024)), ("150 headers", many_headers(150))]
    {
        let response = raw_get(&app, "/api/job_offers", &headers).await;
        assert_eq!(response.status, 431, "{what}: {}", response.head);
        assert_eq!(response.envelope_message(), "Request headers too large", "{what}");
    }
    // 60 KiB of headers is within the limit: the request goes on to the key check.
    let response = raw_get(&app, "/api/job_offers", &big_header(60 * 1024)).await;
    assert_eq!(response.status, 401, "{}", response.head);
    // The server is fine afterwards.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_uri_over_64_kib_is_414_or_431_in_the_envelope() {
    let app = TestApp::spawn().await;
    for length in [66 * 1024, 100 * 1024] {
        let target = format!("/api/job_offers?location={}", "b".repeat(length));
        let response = raw_get(&app, &target, "").await;
        assert!(matches!(response.status, 414 | 431), "{length}: {}", response.head);
        let message = response.envelope_message();
        assert!(message == "Request URI too long" || message == "Request headers too large", "{message}");
    }
}

#[tokio::test]
async fn a_body_over_its_limit_is_413_in_the_envelope() {
    let app = TestApp::spawn_with(test_settings(&[("MAX_CV_BYTES", "1000")])).await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    // An unknown part of 5 MiB: over MAX_CV_BYTES plus the allowance for the other parts (4 MiB).
    let form = reqwest::multipart::Form::new().text("padding", "p".repeat(5 * 1024 * 1024));
    let response =
        app.client.post(app.url("/api/job_applications")).header("X-API-Key", &key).multipart(form).send().await;
    let response = response.expect("an answer");
    assert_eq!(response.status(), 413);
    assert_eq!(error_message(response).await, "Request body too large");
}

#[tokio::test]
async fn under_api_v1_the_http_layer_speaks_teamio() {
    let app = TestApp::spawn().await;
    let teamio = |response: &RawResponse, status: u16, code: &str| {
        assert_eq!(response.status, status, "{}", response.head);
        assert!(response.header("content-type").unwrap_or_default().starts_with("application/json"));
        let body = response.json();
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(body.get("status").is_none(), "not the Talqo envelope: {body}");
    };
    teamio(&raw_get(&app, "/api/v1/nowhere", "").await, 404, "NOT_FOUND");
    teamio(&raw_get(&app, "/api/v1/nowhere", &big_header(70 * 1024)).await, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
    teamio(&raw_get(&app, "/api/v1/nowhere", &big_header(200 * 1024)).await, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
    let long = raw_get(&app, &format!("/api/v1/x?q={}", "c".repeat(66 * 1024)), "").await;
    let code = if long.status == 414 { "URI_TOO_LONG" } else { "REQUEST_HEADER_FIELDS_TOO_LARGE" };
    teamio(&long, long.status, code);
    // The rate limiter's 429 too.
    let limited = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "1")])).await;
    raw_get(&limited, "/api/v1/nowhere", "").await;
    let refused = raw_get(&limited, "/api/v1/nowhere", "").await;
    teamio(&refused, 429, "TOO_MANY_REQUESTS");
    assert!(refused.header("retry-after").is_some());
    // And /api itself keeps the envelope.
    assert_eq!(raw_get(&app, "/api/nowhere", "").await.envelope_message(), "Not found");
}

#[tokio::test]
async fn outside_api_the_http_layer_leaves_answers_alone() {
    let app = TestApp::spawn().await;
    // Pages render their own errors: no JSON is forced onto them.
    let response = raw_get(&app, "/jobs/acme", &big_header(200 * 1024)).await;
    assert_eq!(response.status, 431);
    assert!(response.header("content-type").is_none(), "{}", response.head);
    let mut stream = connect(app.address).await;
    send(&mut stream, b"POST /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n").await;
    let response = read_response(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(response.status, 405);
    assert!(!response.header("content-type").unwrap_or_default().contains("json"), "{}", response.head);
}
