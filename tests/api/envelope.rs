//! CONTRACT §1: every error is the JSON envelope, whatever produced it.

use crate::common::{TestApp, error_message};

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_the_envelope() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;

    let response = app.get("/api/nowhere", &key).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_message(response).await, "Not found");

    let response = app.client.get(app.url("/not-api")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_message(response).await, "Not found");

    for method in [reqwest::Method::POST, reqwest::Method::DELETE, reqwest::Method::PUT] {
        let response = app
            .client
            .request(method.clone(), app.url("/api/job_offers"))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert!(response.headers().get("x-ratelimit-limit").is_some());
        assert_eq!(error_message(response).await, "Method not allowed", "{method}");
    }
}

#[tokio::test]
async fn a_missing_offer_id_is_an_invalid_one() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let response = app.get("/api/job_offers/", &key).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_message(response).await, "Invalid job offer ID format");
}
