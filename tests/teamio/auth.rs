//! Credentials, tokens and the bearer check (CONTRACT §12 "Credentials").

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use talqo_server::db;
use talqo_server::domain::import_credentials::ImportEnvironment;

use crate::common::{TestApp, test_settings};
use crate::support::{Door, client, reaction, teamio_error, token};

#[tokio::test]
async fn a_client_exchanges_its_credentials_for_a_bearer_token_of_the_configured_lifetime() {
    let app = TestApp::spawn_with(test_settings(&[("IMPORT_TOKEN_TTL", "15m")])).await;
    let company = app.company("acme").await;
    let (id, secret) = client(&app, &company, ImportEnvironment::Production).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"username": id, "password": secret}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
    let token = body["accessToken"].as_str().unwrap();
    assert!(token.starts_with("tit_") && token.len() == 44, "{token}");
    let expires_at: DateTime<Utc> = body["expiresAt"].as_str().unwrap().parse().unwrap();
    let ttl = (expires_at - Utc::now()).num_seconds();
    assert!((880..=901).contains(&ttl), "{ttl}");
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'));
    // Only the hash is stored, and the client's use is recorded.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM import_tokens WHERE token_hash = sha256($1::bytea)")
        .bind(token.as_bytes())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let used: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM import_clients WHERE client_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(used.is_some());
}

#[tokio::test]
async fn the_token_endpoint_takes_json_only_and_names_each_bad_credential_field() {
    let app = TestApp::spawn().await;
    let url = app.url("/api/v1/auth/token");
    let form = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=a&password=b")
        .send()
        .await
        .unwrap();
    let (status, code, _, _) = teamio_error(form).await;
    assert_eq!((status, code.as_str()), (415, "UNSUPPORTED_MEDIA_TYPE"));

    let not_json = app.client.post(&url).header("content-type", "application/json").body("{nope").send().await.unwrap();
    assert_eq!(teamio_error(not_json).await.1, "INVALID_JSON");

    for (body, expected) in [
        (json!({}), vec![("username", "must not be null"), ("password", "must not be null")]),
        (
            json!({"username": "  ", "password": 5}),
            vec![("username", "must not be blank"), ("password", "must be a string")],
        ),
        (json!({"username": "tic_x", "password": null}), vec![("password", "must not be null")]),
    ] {
        let response = app.client.post(&url).json(&body).send().await.unwrap();
        let (status, code, message, fields) = teamio_error(response).await;
        assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"), "{body}");
        let expected: Vec<(String, String)> = expected.iter().map(|(f, m)| (f.to_string(), m.to_string())).collect();
        assert_eq!(fields, expected, "{body}");
        let joined: Vec<String> = expected.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        assert_eq!(message, joined.join("; "));
    }
}

#[tokio::test]
async fn wrong_unknown_or_revoked_credentials_are_invalid_client_credentials() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (id, secret) = client(&app, &company, ImportEnvironment::Production).await;
    let (other_id, _) = client(&app, &company, ImportEnvironment::Production).await;
    let revoked: uuid::Uuid = sqlx::query_scalar("SELECT id FROM import_clients WHERE client_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    for (username, password) in [
        (id.as_str(), "tis_wrong"),
        (other_id.as_str(), secret.as_str()),
        ("tic_000000000000000000000000", secret.as_str()),
        ("someone", "secret"),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        let (status, code, message, _) = teamio_error(response).await;
        assert_eq!((status, code.as_str(), message.as_str()), (401, "UNAUTHORIZED", "Invalid client credentials"));
    }
    db::import_clients::revoke(&app.db, revoked).await.unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": id, "password": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(teamio_error(response).await.2, "Invalid client credentials");
}

#[tokio::test]
async fn the_bearer_check_answers_its_three_messages() {
    let door = Door::open(TestApp::spawn().await).await;
    let body = reaction(door.offer.recruitment_id);
    let url = door.app.url("/api/v1/candidate-reactions");

    // Missing: no header, another scheme, an empty bearer, or only X-API-Key (not read here).
    let (_, key) = door.app.api_key(&door.company).await;
    for request in [
        door.app.client.post(&url).json(&body),
        door.app.client.post(&url).header("authorization", "Basic dXNlcjpwYXNz").json(&body),
        door.app.client.post(&url).header("authorization", "Bearer ").json(&body),
        door.app.client.post(&url).header("x-api-key", &key).json(&body),
    ] {
        let (status, code, message, _) = teamio_error(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str(), message.as_str()), (401, "UNAUTHORIZED", "Access token is required"));
    }
    // Unknown.
    for token in
        ["tit_0000000000000000000000000000000000000000", "garbage", "tlq_0000000000000000000000000000000000000000"]
    {
        let response = door.post("/api/v1/candidate-reactions", token, &body).await;
        let (status, _, message, _) = teamio_error(response).await;
        assert_eq!((status, message.as_str()), (401, "Invalid or expired access token"), "{token}");
    }
    // Wrong environment, both ways; an API key is a production token.
    let cases = [
        ("/api/v1/candidate-reactions", door.sandbox.clone()),
        ("/api/v1/candidate-reactions/test", door.production.clone()),
        ("/api/v1/candidate-reactions/test", key.clone()),
    ];
    for (path, token) in cases {
        let (status, _, message, _) = teamio_error(door.post(path, &token, &body).await).await;
        assert_eq!((status, message.as_str()), (401, "Wrong environment for this token"), "{path}");
    }
    let poll = door
        .app
        .client
        .get(door.app.url("/api/v1/candidate-reactions/00000000-0000-4000-8000-000000000000"))
        .bearer_auth(&door.sandbox)
        .send()
        .await
        .unwrap();
    assert_eq!(teamio_error(poll).await.2, "Wrong environment for this token");
    // The scheme's case does not matter.
    let lower = door
        .app
        .client
        .post(door.app.url("/api/v1/candidate-reactions/test"))
        .header("authorization", format!("bearer {}", door.sandbox))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 204);
}

#[tokio::test]
async fn expired_tokens_and_revoked_clients_stop_working_at_once_and_a_new_token_keeps_the_old_one() {
    let door = Door::open(TestApp::spawn().await).await;
    let body = reaction(door.offer.recruitment_id);
    let (id, secret) = client(&door.app, &door.company, ImportEnvironment::Sandbox).await;
    let first = token(&door.app, &id, &secret).await;
    let second = token(&door.app, &id, &secret).await;
    assert_ne!(first, second);
    for t in [&first, &second] {
        assert_eq!(door.check(&body).await.status(), 204);
        assert_eq!(door.post("/api/v1/candidate-reactions/test", t, &body).await.status(), 204);
    }
    // Expiry is checked against the database on every request.
    sqlx::query("UPDATE import_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' WHERE token_hash = sha256($1::bytea)")
        .bind(first.as_bytes())
        .execute(&door.app.db)
        .await
        .unwrap();
    let expired = door.post("/api/v1/candidate-reactions/test", &first, &body).await;
    assert_eq!(teamio_error(expired).await.2, "Invalid or expired access token");
    // Revocation: the very next request.
    let client_row: uuid::Uuid = sqlx::query_scalar("SELECT id FROM import_clients WHERE client_id = $1")
        .bind(&id)
        .fetch_one(&door.app.db)
        .await
        .unwrap();
    db::import_clients::revoke(&door.app.db, client_row).await.unwrap();
    let revoked = door.post("/api/v1/candidate-reactions/test", &second, &body).await;
    assert_eq!(teamio_error(revoked).await.2, "Invalid or expired access token");
    // Other clients' tokens are untouched.
    assert_eq!(door.check(&body).await.status(), 204);
}

#[tokio::test]
async fn a_token_works_on_another_instance_sharing_the_database() {
    let door = Door::open(TestApp::spawn().await).await;
    let mut settings = test_settings(&[]);
    settings.database_url = door.app.settings.database_url.clone();
    let second = TestApp::spawn_with(settings).await;
    let response = second
        .client
        .post(second.url("/api/v1/candidate-reactions/test"))
        .bearer_auth(&door.sandbox)
        .json(&reaction(door.offer.recruitment_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // The second instance shares the first one's database: keep it when this one drops.
    std::mem::forget(second);
}
