//! CONTRACT §8: every request past the rate limiter is logged, in the background, without secrets.

use crate::common::{TestApp, test_settings};

/// company_id, api_key_id, method, endpoint, status_code, latency_ms, ip, user_agent
type LogRow = (Option<uuid::Uuid>, Option<uuid::Uuid>, String, String, i16, i32, Option<String>, Option<String>);

#[tokio::test]
async fn requests_are_logged_with_company_key_status_and_client() {
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "3")])).await;
    let company = app.company("acme").await;
    let (key_id, key) = app.api_key(&company).await;
    let ok = app
        .client
        .get(app.url("/api/job_offers?status=open"))
        .header("X-API-Key", &key)
        .header("User-Agent", "career-site/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(app.get("/api/job_offers/abc", "bad-key").await.status(), 401);
    assert_eq!(app.get("/api/job_offers/abc", &key).await.status(), 400);
    assert_eq!(app.get("/api/job_offers", &key).await.status(), 429, "the limit is 3");

    assert_eq!(app.api_logs_eventually(3).await, 3);
    let rows: Vec<LogRow> = sqlx::query_as(
        "SELECT company_id, api_key_id, method, endpoint, status_code, latency_ms, host(ip), user_agent
         FROM api_logs ORDER BY id",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "the refused request is not logged: {rows:?}");
    let (company_id, api_key_id, method, endpoint, status, latency, ip, agent) = &rows[0];
    assert_eq!((*company_id, *api_key_id), (Some(company.id), Some(key_id)));
    assert_eq!((method.as_str(), endpoint.as_str(), *status), ("GET", "/api/job_offers", 200));
    assert!(*latency >= 0);
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(agent.as_deref(), Some("career-site/1.0"));
    assert_eq!((rows[1].0, rows[1].1, rows[1].4), (None, None, 401));
    assert_eq!((rows[2].0, rows[2].4, rows[2].3.as_str()), (Some(company.id), 400, "/api/job_offers/abc"));

    // No log row holds the key, and the key's last use is recorded.
    let leaked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_logs WHERE row_to_json(api_logs)::text LIKE '%' || $1 || '%'")
            .bind(&key)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(leaked, 0);
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(last_used.is_some());
}

#[tokio::test]
async fn shutdown_flushes_the_log_queue() {
    let mut app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    for _ in 0..25 {
        assert_eq!(app.get("/api/job_offers", &key).await.status(), 200);
    }
    app.stop().await.expect("a clean shutdown");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM api_logs").fetch_one(&app.db).await.unwrap();
    assert_eq!(count, 25);
}
