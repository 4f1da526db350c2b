//! CONTRACT §2: both headers, both messages, revocation at once, the key implies the company.

use crate::common::{TestApp, error_message, open_offer};

#[tokio::test]
async fn requests_without_a_key_are_refused_with_api_key_is_required() {
    let app = TestApp::spawn().await;
    let no_header = app.client.get(app.url("/api/job_offers")).send().await.unwrap();
    assert_eq!(no_header.status(), 401);
    assert_eq!(error_message(no_header).await, "API key is required");

    for (name, value) in
        [("X-API-Key", ""), ("X-API-Key", "   "), ("Authorization", "Bearer "), ("Authorization", "Basic abc")]
    {
        let response = app.client.get(app.url("/api/job_offers")).header(name, value).send().await.unwrap();
        assert_eq!(response.status(), 401, "{name}: {value:?}");
        assert_eq!(error_message(response).await, "API key is required", "{name}: {value:?}");
    }
}

#[tokio::test]
async fn unknown_keys_are_refused_with_invalid_api_key() {
    let app = TestApp::spawn().await;
    for key in ["nope", "tlq_0000000000000000000000000000000000000000", "tlq_0000000000000000000000000000000000000000x"]
    {
        let response = app.get("/api/job_offers", key).await;
        assert_eq!(response.status(), 401, "{key}");
        assert_eq!(error_message(response).await, "Invalid API key", "{key}");
    }
}

#[tokio::test]
async fn both_headers_authenticate_and_x_api_key_wins() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;

    let bearer = app.client.get(app.url("/api/job_offers")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(bearer.status(), 200);
    let lowercase = app
        .client
        .get(app.url("/api/job_offers"))
        .header("Authorization", format!("bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase.status(), 200);

    // A wrong X-API-Key is not rescued by a right Bearer token.
    let both = app
        .client
        .get(app.url("/api/job_offers"))
        .header("X-API-Key", "tlq_wrongwrongwrongwrongwrongwrongwrongwron")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 401);
    assert_eq!(error_message(both).await, "Invalid API key");
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (key_id, key) = app.api_key(&company).await;
    assert_eq!(app.get("/api/job_offers", &key).await.status(), 200);

    talqo_server::db::api_keys::revoke(&app.db, key_id).await.unwrap().unwrap();
    let response = app.get("/api/job_offers", &key).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_message(response).await, "Invalid API key");
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE encode(key_hash, 'escape') LIKE '%' || $1 || '%'
         OR prefix = $1 OR label = $1",
    )
    .bind(&key)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(found, 0);
}

#[tokio::test]
async fn a_company_id_in_the_query_is_ignored() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let other = app.company("other").await;
    app.offer(&other, open_offer("Other's offer")).await;
    let (_, key) = app.api_key(&acme).await;
    let body: serde_json::Value =
        app.get(&format!("/api/job_offers?company_id={}", other.id), &key).await.json().await.unwrap();
    assert_eq!(body["pagination"]["total"], 0, "{body}");
}
