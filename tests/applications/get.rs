//! CONTRACT §7: `GET /api/job_applications/{id}` answers exactly the application's fields, checks the id's
//! format before any query, and shows a company only its own applications.

use serde_json::Value;

use crate::fixtures::{
    CV_PDF, Form, Tenant, expect_created, expect_error, keys_of, lowercase_uuid, offer_fields, stored_application,
    utc_seconds,
};

#[tokio::test]
async fn an_application_is_read_back_with_exactly_its_fields() {
    let tenant = Tenant::start().await;
    let response =
        tenant.apply_with(&tenant.form(CV_PDF), |r| r.header("Origin", "https://careers.acme.example")).await;
    let receipt = expect_created(response).await;
    sqlx::query("UPDATE job_applications SET status = 'in_progress' WHERE id = $1")
        .bind(receipt.application_id)
        .execute(tenant.db())
        .await
        .unwrap();

    let response = tenant.app.get(&format!("/api/job_applications/{}", receipt.application_id), &tenant.key).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-ratelimit-remaining"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys_of(&body), ["data", "status"], "{body}");
    assert_eq!(body["status"], "success");
    let data = &body["data"];
    assert_eq!(
        keys_of(data),
        ["candidate_id", "created_at", "id", "job_offer_id", "source", "status", "updated_at"],
        "{body}"
    );
    assert_eq!(lowercase_uuid(&data["id"]), receipt.application_id);
    assert_eq!(lowercase_uuid(&data["candidate_id"]), receipt.candidate_id);
    assert_eq!(lowercase_uuid(&data["job_offer_id"]), tenant.offer.id);
    assert_eq!(data["status"], "in_progress", "the current status");
    assert_eq!(data["source"], "careers.acme.example");
    assert_eq!(utc_seconds(&data["created_at"]), receipt.created_at);
    let updated_at = utc_seconds(&data["updated_at"]);
    assert!(updated_at >= receipt.created_at, "{updated_at} before {}", receipt.created_at);

    // Either case of hex digits names the same application.
    let upper = receipt.application_id.to_string().to_uppercase();
    let response = tenant.app.get(&format!("/api/job_applications/{upper}"), &tenant.key).await;
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["data"]["id"], receipt.application_id.to_string());
}

#[tokio::test]
async fn a_malformed_or_missing_application_id_is_an_invalid_format() {
    let tenant = Tenant::start().await;
    for path in [
        "/api/job_applications/",
        "/api/job_applications/abc",
        "/api/job_applications/550e8400e29b41d4a716446655440000",
        "/api/job_applications/%7B550e8400-e29b-41d4-a716-446655440000%7D",
        "/api/job_applications/urn:uuid:550e8400-e29b-41d4-a716-446655440000",
        "/api/job_applications/550e8400-e29b-41d4-a716-44665544000g",
        "/api/job_applications/550e8400-e29b-41d4-a716-4466554400000",
        "/api/job_applications/1%20OR%201=1",
        "/api/job_applications/%20550e8400-e29b-41d4-a716-446655440000",
    ] {
        let response = tenant.app.get(path, &tenant.key).await;
        assert_eq!(response.status(), 400, "{path}");
        expect_error(response, 400, "Invalid application ID format").await;
    }
}

#[tokio::test]
async fn an_unknown_application_is_not_found() {
    let tenant = Tenant::start().await;
    let response = tenant.app.get(&format!("/api/job_applications/{}", uuid::Uuid::new_v4()), &tenant.key).await;
    expect_error(response, 404, "Application not found").await;
    // An offer's id is not an application's.
    let response = tenant.app.get(&format!("/api/job_applications/{}", tenant.offer.id), &tenant.key).await;
    expect_error(response, 404, "Application not found").await;
}

#[tokio::test]
async fn another_companys_application_is_forbidden() {
    let tenant = Tenant::start().await;
    let other = tenant.app.company("other").await;
    let (_, other_key) = tenant.app.api_key(&other).await;
    let other_offer = tenant.app.offer(&other, offer_fields("Their job", "open")).await;
    let response = tenant
        .app
        .client
        .post(tenant.app.url("/api/job_applications"))
        .header("X-API-Key", &other_key)
        .multipart(Form::application(other_offer.id, CV_PDF).build())
        .send()
        .await
        .unwrap();
    let theirs = expect_created(response).await;
    assert_eq!(stored_application(tenant.db(), theirs.application_id).await.company_id, other.id);

    let response = tenant.app.get(&format!("/api/job_applications/{}", theirs.application_id), &tenant.key).await;
    expect_error(response, 403, "Application does not belong to your company").await;
    let response = tenant.app.get(&format!("/api/job_applications/{}", theirs.application_id), &other_key).await;
    assert_eq!(response.status(), 200);
}
