//! What operators watch: `GET /metrics` in the Prometheus text format, outside auth and rate limiting, whose
//! counters follow the traffic; and `API_LOG_RETENTION`, which deletes old `api_logs` rows and only those.
//!
//! The metrics recorder is one per process and the tests of this binary run side by side, so counters are
//! compared before and after this test's own requests, on label sets only this test produces where it can.

use std::time::{Duration, Instant};

use chrono::Utc;
use talqo_server::db;

use crate::common::{TestApp, test_settings};
use crate::prometheus::{self, Exposition};

async fn scrape(app: &TestApp) -> Exposition {
    let response = app.client.get(app.url("/metrics")).send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();
    prometheus::parse(&text).unwrap_or_else(|error| panic!("/metrics is not Prometheus text: {error}\n{text}"))
}

const REQUESTS: &str = "talqo_http_requests_total";

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_requests_by_route_and_status() {
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "3")])).await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let before = scrape(&app).await;

    // DELETE on an offer answers 405: a label set no other test produces.
    for _ in 0..2 {
        let answer = app.client.delete(app.url("/api/job_offers/7")).header("X-API-Key", &key).send().await.unwrap();
        assert_eq!(answer.status(), 405);
    }
    assert_eq!(app.get("/api/job_offers", &key).await.status(), 200);
    // The limit is 3 per window: this one and the next are refused.
    assert_eq!(app.get("/api/job_offers", &key).await.status(), 429);
    assert_eq!(app.get("/api/job_offers/not-a-uuid-at-all", &key).await.status(), 429);
    // Paths that match no route share one label, whatever the path.
    for path in ["/nowhere/1", "/nowhere/2"] {
        assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), 404);
    }

    let after = scrape(&app).await;
    let moved = |labels: &[(&str, &str)]| after.sum(REQUESTS, labels) - before.sum(REQUESTS, labels);
    assert!(moved(&[("method", "DELETE"), ("route", "/api/job_offers/{job_offer_id}"), ("status", "405")]) >= 2.0);
    assert!(moved(&[("method", "GET"), ("route", "/api/job_offers"), ("status", "200")]) >= 1.0);
    assert!(moved(&[("method", "GET"), ("route", "/api/job_offers"), ("status", "429")]) >= 1.0);
    assert!(moved(&[("method", "GET"), ("route", "/api/job_offers/{job_offer_id}"), ("status", "429")]) >= 1.0);
    assert!(moved(&[("method", "GET"), ("route", "unmatched"), ("status", "404")]) >= 2.0);
    assert!(
        after
            .samples
            .iter()
            .all(|s| !s.labels.get("route").is_some_and(|r| r.contains("nowhere") || r.contains("not-a-uuid"))),
        "routes are patterns, never paths"
    );
    let refused =
        after.sum("talqo_rate_limit_refusals_total", &[]) - before.sum("talqo_rate_limit_refusals_total", &[]);
    assert!(refused >= 2.0, "{refused}");

    // Latency histograms per route, and the pool.
    let timed = |e: &Exposition| {
        e.sum(
            "talqo_http_request_duration_seconds_count",
            &[("method", "DELETE"), ("route", "/api/job_offers/{job_offer_id}")],
        )
    };
    assert!(timed(&after) - timed(&before) >= 2.0);
    assert_eq!(after.types.get("talqo_http_request_duration_seconds").map(String::as_str), Some("histogram"));
    assert!(after.sum("talqo_db_pool_max_connections", &[]) >= 1.0);
    assert!(after.has("talqo_db_pool_connections"));

    // /metrics itself needs no key and is not rate-limited: the window above is spent, and it still answers.
    for _ in 0..5 {
        scrape(&app).await;
    }
}

#[tokio::test]
async fn the_outbox_backlog_is_a_gauge() {
    let app = TestApp::spawn().await;
    // The first refresh runs at start-up: the gauges exist even when the outbox is empty.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = scrape(&app).await;
        if metrics.has("talqo_email_outbox_due") {
            assert_eq!(metrics.types.get("talqo_email_outbox_due").map(String::as_str), Some("gauge"));
            assert!(metrics.has("talqo_email_outbox_retrying"));
            break;
        }
        assert!(Instant::now() < deadline, "no outbox gauge");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Inserts `count` API log rows created `age` ago.
async fn insert_logs(pool: &sqlx::PgPool, count: i64, age: chrono::Duration, endpoint: &str) {
    sqlx::query(
        "INSERT INTO api_logs (method, endpoint, status_code, latency_ms, created_at)
         SELECT 'GET', $3, 200, 1, $2 - (n || ' seconds')::interval FROM generate_series(1, $1) AS n",
    )
    .bind(count)
    .bind(Utc::now() - age)
    .bind(endpoint)
    .execute(pool)
    .await
    .expect("insert API log rows");
}

#[tokio::test]
async fn retention_deletes_old_api_log_rows_in_batches_and_keeps_the_rest() {
    let settings = test_settings(&[("API_LOG_RETENTION", "30d")]);
    // The rows exist before the server starts, whose first retention pass runs at start-up.
    let pool = db::connect_and_migrate(&settings.database_url, 2).await.expect("create the test database");
    // More than two delete batches of old rows.
    insert_logs(&pool, 12_001, chrono::Duration::days(31), "/old").await;
    insert_logs(&pool, 50, chrono::Duration::days(400), "/old").await;
    insert_logs(&pool, 20, chrono::Duration::days(29), "/recent").await;
    insert_logs(&pool, 5, chrono::Duration::zero(), "/recent").await;
    pool.close().await;

    let app = TestApp::spawn_with(settings).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let old: i64 = sqlx::query_scalar("SELECT count(*) FROM api_logs WHERE endpoint = '/old'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if old == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{old} old rows left");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recent: i64 = sqlx::query_scalar("SELECT count(*) FROM api_logs WHERE endpoint = '/recent'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(recent, 25, "rows younger than API_LOG_RETENTION stay");
}

#[tokio::test]
async fn a_retention_of_zero_keeps_every_row() {
    let settings = test_settings(&[("API_LOG_RETENTION", "0")]);
    let pool = db::connect_and_migrate(&settings.database_url, 2).await.expect("create the test database");
    insert_logs(&pool, 10, chrono::Duration::days(3650), "/ancient").await;
    pool.close().await;
    let app = TestApp::spawn_with(settings).await;
    // A server with a retention deletes at start-up (the test above waits for it); give this one as long.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM api_logs").fetch_one(&app.db).await.unwrap();
    assert_eq!(kept, 10);
}
