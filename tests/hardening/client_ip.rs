//! CONTRACT §11, client IP behind proxies: with TRUSTED_PROXIES set, only CLIENT_IP_HEADER is believed.

use crate::common::{TestApp, test_settings};

async fn logged_ips(app: &TestApp, at_least: i64) -> Vec<String> {
    app.api_logs_eventually(at_least).await;
    sqlx::query_scalar("SELECT host(ip) FROM api_logs ORDER BY created_at, id").fetch_all(&app.db).await.unwrap()
}

#[tokio::test]
async fn with_x_real_ip_a_forged_x_forwarded_for_is_ignored() {
    let app = TestApp::spawn_with(test_settings(&[
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
        ("CLIENT_IP_HEADER", "x-real-ip"),
        ("CAREER_API_RATE_LIMIT_PER_IP", "3"),
    ]))
    .await;
    // The proxy sets X-Real-IP; the client rotates its own X-Forwarded-For to escape its limit.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let response = app
            .client
            .get(app.url("/api/job_offers"))
            .header("X-Real-IP", "198.51.100.7")
            .header("X-Forwarded-For", format!("6.6.6.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429], "one window for the real client");
    assert_eq!(logged_ips(&app, 3).await, ["198.51.100.7"; 3]);
}

#[tokio::test]
async fn with_forwarded_the_rfc_7239_for_address_counts() {
    let app =
        TestApp::spawn_with(test_settings(&[("TRUSTED_PROXIES", "127.0.0.1"), ("CLIENT_IP_HEADER", "forwarded")]))
            .await;
    let response = app
        .client
        .get(app.url("/api/job_offers"))
        .header("Forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")
        .header("X-Forwarded-For", "6.6.6.6")
        .header("X-Real-IP", "7.7.7.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(logged_ips(&app, 1).await, ["2001:db8:cafe::17"]);
}
