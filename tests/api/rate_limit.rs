//! CONTRACT §3: a fixed window per client IP, counted before the key, with headers on every response.

use crate::common::{TestApp, error_message, test_settings};

#[tokio::test]
async fn every_career_site_response_carries_the_rate_limit_headers() {
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "50")])).await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let responses = [
        app.get("/api/job_offers", &key).await,
        app.get("/api/job_offers", "bad-key").await,
        app.get("/api/job_offers/not-an-id", &key).await,
        app.get("/api/no-such-route", &key).await,
    ];
    for (i, response) in responses.iter().enumerate() {
        assert_eq!(response.headers()["x-ratelimit-limit"], "50", "response {i}");
        assert_eq!(response.headers()["x-ratelimit-remaining"], (49 - i).to_string().as_str(), "response {i}");
    }
}

#[tokio::test]
async fn past_the_limit_the_answer_is_429_with_retry_after_even_with_bad_keys() {
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "3")])).await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    // Requests with bad keys count too: the limiter runs before the key check.
    for _ in 0..3 {
        assert_eq!(app.get("/api/job_offers", "bad").await.status(), 401);
    }
    let refused = app.get("/api/job_offers", &key).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-limit"], "3");
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(error_message(refused).await, "Too many requests. Please retry later.");

    // Health checks are outside the limit.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().get("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Untrusted peer: X-Forwarded-For is ignored, so rotating it does not escape the limit.
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "2")])).await;
    for i in 0..2 {
        let response = app
            .client
            .get(app.url("/api/job_offers"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let refused =
        app.client.get(app.url("/api/job_offers")).header("X-Forwarded-For", "198.51.100.99").send().await.unwrap();
    assert_eq!(refused.status(), 429);

    // Trusted peer (loopback): each forwarded client has its own window.
    let app = TestApp::spawn_with(test_settings(&[
        ("CAREER_API_RATE_LIMIT_PER_IP", "2"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ]))
    .await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..2 {
            let response =
                app.client.get(app.url("/api/job_offers")).header("X-Forwarded-For", client).send().await.unwrap();
            assert_eq!(response.status(), 401, "{client}");
        }
    }
    // CONTRACT §11: only CLIENT_IP_HEADER (X-Forwarded-For by default) is believed, X-Real-IP is ignored.
    let refused =
        app.client.get(app.url("/api/job_offers")).header("X-Forwarded-For", "198.51.100.2").send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let logged: Vec<String> = {
        app.api_logs_eventually(4).await;
        sqlx::query_scalar("SELECT DISTINCT host(ip) FROM api_logs ORDER BY 1").fetch_all(&app.db).await.unwrap()
    };
    assert_eq!(logged, ["198.51.100.1", "198.51.100.2"]);
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_limit() {
    let prefix = format!("talqo-test-{}", uuid::Uuid::new_v4().simple());
    let redis_url = std::env::var("TALQO_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let vars = [
        ("CAREER_API_RATE_LIMIT_PER_IP", "4"),
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let first = TestApp::spawn_with(test_settings(&vars)).await;
    let second = TestApp::spawn_with(test_settings(&vars)).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &first } else { &second };
        let response = app.get("/api/job_offers", "bad").await;
        statuses.push((
            response.status().as_u16(),
            response.headers()["x-ratelimit-remaining"].to_str().unwrap().to_owned(),
        ));
    }
    // A window boundary may fall inside the loop; the counts then restart, which this allows for.
    let refused = statuses.iter().filter(|(s, _)| *s == 429).count();
    assert!(refused >= 1, "{statuses:?}");
    assert_eq!(statuses[0], (401, "3".to_owned()), "{statuses:?}");
    assert_eq!(statuses[1], (401, "2".to_owned()), "the second instance sees the first one's count: {statuses:?}");
}
