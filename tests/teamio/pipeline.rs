//! Imports through the pipeline (CONTRACT §12): accepted, polled while PROCESSING, then COMPLETED with the
//! attachments and consent stored, or FAILED; one application per identity; processing that survives a
//! restart and is shared by several instances.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use talqo_server::db;
use talqo_server::domain::candidate::{CandidateEmail, CandidateIdentity};
use uuid::Uuid;

use crate::common::{TestApp, test_settings};
use crate::support::{Door, ServerProcess, reaction, teamio_error};

/// Test settings where polling many times a second never meets the per-IP limit.
fn unthrottled(overrides: &[(&str, &str)]) -> talqo_server::config::Settings {
    let mut all = vec![("CAREER_API_RATE_LIMIT_PER_IP", "100000")];
    all.extend_from_slice(overrides);
    test_settings(&all)
}

/// Imports and returns the requestUuid.
async fn import(door: &Door, app: &TestApp, body: &Value) -> Uuid {
    let response = app
        .client
        .post(app.url("/api/v1/candidate-reactions"))
        .bearer_auth(&door.production)
        .json(body)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer.as_object().unwrap().len(), 1, "only requestUuid: {answer}");
    answer["requestUuid"].as_str().unwrap().parse().unwrap()
}

async fn poll(base_url: &str, token: &str, id: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base_url}/api/v1/candidate-reactions/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("poll");
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls until the request leaves PROCESSING.
async fn settled(base_url: &str, token: &str, id: Uuid, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let status = poll(base_url, token, &id.to_string()).await;
        if status["status"] != "PROCESSING" {
            return status;
        }
        assert!(started.elapsed() < within, "still PROCESSING after {within:?}: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_import_completes_with_its_attachments_consent_letter_and_email() {
    let app = TestApp::spawn_with(unthrottled(&[("PUBLIC_BASE_URL", "https://talqo.example/")])).await;
    let door = Door::open(app).await;
    let id = import(&door, &door.app, &reaction(door.offer.recruitment_id)).await;
    let base = door.app.url("");
    let done = settled(&base, &door.production, id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["recruitmentId"], door.offer.recruitment_id);
    assert_eq!(done["requestUuid"], id.to_string());
    assert!(done["errorMessage"].is_null());
    let link = done["link"].as_str().unwrap();
    let application_id = link.strip_prefix("https://talqo.example/api/job_applications/").expect(link);
    for key in ["createdAt", "updatedAt"] {
        assert!(done[key].as_str().unwrap().ends_with('Z'), "{done}");
    }
    // Any credential of the company reads it, in any case; the application is there for the Talqo API.
    let (_, key) = door.app.api_key(&door.company).await;
    let by_key = poll(&base, &key, &id.to_string().to_uppercase()).await;
    assert_eq!(by_key["link"], link);
    let application: Value =
        door.app.get(&format!("/api/job_applications/{application_id}"), &key).await.json().await.unwrap();
    assert_eq!(application["data"]["source"], "career_site");

    let application_id: Uuid = application_id.parse().unwrap();
    let (cover_letter, rating): (String, Option<i16>) =
        sqlx::query_as("SELECT cover_letter, rating FROM job_applications WHERE id = $1")
            .bind(application_id)
            .fetch_one(&door.app.db)
            .await
            .unwrap();
    assert_eq!(cover_letter, "I would love to join.");
    assert!(rating.is_some(), "the PDF CV is scored");
    let attachments: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT filename, declared_content_type, detected_content_type, size_bytes FROM application_attachments
         WHERE application_id = $1 ORDER BY position",
    )
    .bind(application_id)
    .fetch_all(&door.app.db)
    .await
    .unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!((attachments[0].0.as_str(), attachments[0].2.as_str()), ("cv.pdf", "application/pdf"));
    assert_eq!((attachments[1].0.as_str(), attachments[1].1.as_str()), ("letter.txt", "text/plain"));
    let consent: (bool, Option<chrono::DateTime<chrono::Utc>>, Option<String>) = sqlx::query_as(
        "SELECT granted, valid_to, document_filename FROM application_consents WHERE application_id = $1",
    )
    .bind(application_id)
    .fetch_one(&door.app.db)
    .await
    .unwrap();
    assert!(consent.0);
    assert_eq!(consent.1.unwrap().to_rfc3339(), "2099-12-31T23:59:59+00:00");
    assert_eq!(consent.2.as_deref(), Some("gdpr.txt"));
    // Operators see the same through `talqo-server application show` (CONTRACT §10, §12).
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_talqo-server"))
        .args(["application", "show", &application_id.to_string()])
        .env_clear()
        .env("DATABASE_URL", &door.app.settings.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["id"], application_id.to_string());
    assert_eq!(shown["cover_letter"], "I would love to join.");
    assert_eq!(shown["scoring"]["status"], "scored");
    assert_eq!(shown["steps"][0]["status"], "awaiting_advance");
    let shown_attachments = shown["attachments"].as_array().unwrap();
    assert_eq!(shown_attachments.len(), 2, "{shown}");
    assert_eq!(shown_attachments[0]["filename"], "cv.pdf");
    assert_eq!(shown_attachments[0]["detected_content_type"], "application/pdf");
    assert_eq!(shown_attachments[1]["declared_content_type"], "text/plain");
    assert!(shown_attachments[1]["size_bytes"].as_i64().unwrap() > 0);
    assert_eq!(shown["consents"][0]["granted"], true);
    assert_eq!(shown["consents"][0]["valid_to"], "2099-12-31T23:59:59Z");
    assert_eq!(shown["consents"][0]["has_document"], true);
    assert!(shown["consents"][0]["recorded_at"].as_str().unwrap().ends_with('Z'));
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE application_id = $1")
        .bind(application_id)
        .fetch_one(&door.app.db)
        .await
        .unwrap();
    assert_eq!(emails, 1);

    // Another company's credential, and unknown ids, read nothing.
    let other = door.app.company("other").await;
    let (_, other_key) = door.app.api_key(&other).await;
    for (token, raw_id) in [(other_key.as_str(), id.to_string()), (key.as_str(), Uuid::new_v4().to_string())] {
        let response = door
            .app
            .client
            .get(door.app.url(&format!("/api/v1/candidate-reactions/{raw_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, code, _, _) = teamio_error(response).await;
        assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    }
}

#[tokio::test]
async fn a_request_is_processing_while_its_candidate_is_busy_then_completes() {
    let door = Door::open(TestApp::spawn_with(unthrottled(&[])).await).await;
    // Another submission of the same candidate holds the identity's lock: processing waits for it.
    let email = CandidateEmail::parse("jane.smith@example.com").unwrap();
    let identity = CandidateIdentity::new(&email, "Jane", "Smith");
    let mut busy = door.app.db.begin().await.unwrap();
    db::identity_locks::lock(&mut busy, door.company.id, &identity, door.offer.id).await.unwrap();
    let id = import(&door, &door.app, &reaction(door.offer.recruitment_id)).await;
    let base = door.app.url("");
    for _ in 0..3 {
        let waiting = poll(&base, &door.production, &id.to_string()).await;
        assert_eq!(waiting["status"], "PROCESSING", "{waiting}");
        assert!(waiting["link"].is_null() && waiting["errorMessage"].is_null());
        assert_eq!(waiting["recruitmentId"], door.offer.recruitment_id);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    busy.rollback().await.unwrap();
    let done = settled(&base, &door.production, id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
}

#[tokio::test]
async fn a_request_fails_when_its_offer_closed_before_processing() {
    let door = Door::open(TestApp::spawn_with(unthrottled(&[])).await).await;
    // The offer closes in the very transaction that accepts the request: after the door's check, before any
    // processing.
    sqlx::raw_sql(
        "CREATE FUNCTION close_offer_on_submission() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN UPDATE job_offers SET status = 'closed' WHERE id = NEW.job_offer_id; RETURN NEW; END $$;
         CREATE TRIGGER close_offer AFTER INSERT ON submissions
             FOR EACH ROW EXECUTE FUNCTION close_offer_on_submission();",
    )
    .execute(&door.app.db)
    .await
    .unwrap();
    let id = import(&door, &door.app, &reaction(door.offer.recruitment_id)).await;
    let failed = settled(&door.app.url(""), &door.production, id, Duration::from_secs(60)).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["errorMessage"], "Job offer is not open for applications");
    assert!(failed["link"].is_null());
    let applications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_applications").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(applications, 0);
}

#[tokio::test]
async fn the_same_identity_imported_twice_completes_with_one_application() {
    let door = Door::open(TestApp::spawn_with(unthrottled(&[])).await).await;
    let mut body = reaction(door.offer.recruitment_id);
    let first = import(&door, &door.app, &body).await;
    // The same person, written differently, with another CV that is not a PDF: kept unscored, never a failure.
    body["firstName"] = json!("  JANE ");
    body["email"] = json!("jane.smith@example.com");
    body["attachments"][0]["content"] = json!(crate::support::b64(b"a plain text CV"));
    let second = import(&door, &door.app, &body).await;
    let base = door.app.url("");
    let a = settled(&base, &door.production, first, Duration::from_secs(60)).await;
    let b = settled(&base, &door.production, second, Duration::from_secs(60)).await;
    assert_eq!((a["status"].as_str(), b["status"].as_str()), (Some("COMPLETED"), Some("COMPLETED")));
    assert_eq!(a["link"], b["link"]);
    let applications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_applications").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(applications, 1);
    let attachments: i64 =
        sqlx::query_scalar("SELECT count(*) FROM application_attachments").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(attachments, 4, "the second request's attachments are added");
    let consents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM application_consents").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(consents, 2);
}

#[tokio::test]
async fn two_instances_share_the_imports_and_each_completes_once() {
    let door = Door::open(TestApp::spawn_with(unthrottled(&[])).await).await;
    let mut settings = unthrottled(&[]);
    settings.database_url = door.app.settings.database_url.clone();
    settings.storage_url = door.app.settings.storage_url.clone();
    let second = TestApp::spawn_with(settings).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let mut body = reaction(door.offer.recruitment_id);
        body["email"] = json!(format!("candidate{n}@example.com"));
        let app = if n % 2 == 0 { &door.app } else { &second };
        ids.push(import(&door, app, &body).await);
    }
    for (n, id) in ids.iter().enumerate() {
        let base = if n % 2 == 0 { second.url("") } else { door.app.url("") };
        let done = settled(&base, &door.production, *id, Duration::from_secs(90)).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
    }
    let applications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_applications").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(applications, 8);
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(emails, 8);
    std::mem::forget(second);
}

#[tokio::test]
async fn a_server_killed_while_imports_are_processing_leaves_each_to_complete_after_a_restart() {
    let door = Door::open(TestApp::spawn_with(unthrottled(&[])).await).await;
    let files = door.app.files();
    let env = [
        ("DATABASE_URL", door.app.settings.database_url.clone()),
        ("STORAGE_URL", door.app.settings.storage_url.clone()),
        ("MAIL_URL", format!("file://{}", files.join("mail").display())),
        ("SPOOL_DIR", files.join("spool").display().to_string()),
        ("DATABASE_MAX_CONNECTIONS", "4".to_owned()),
        ("CAREER_API_RATE_LIMIT_PER_IP", "100000".to_owned()),
    ];
    let mut first = ServerProcess::start(&env).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let mut body = reaction(door.offer.recruitment_id);
        body["email"] = json!(format!("restart{n}@example.com"));
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/candidate-reactions", first.base_url))
            .bearer_auth(&door.production)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        ids.push(answer["requestUuid"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    first.kill();
    let processing: i64 = sqlx::query_scalar("SELECT count(*) FROM submissions WHERE status = 'processing'")
        .fetch_one(&door.app.db)
        .await
        .unwrap();
    let second = ServerProcess::start(&env).await;
    for id in &ids {
        let done = settled(&second.base_url, &door.production, *id, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "COMPLETED", "{done}");
    }
    let applications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_applications").fetch_one(&door.app.db).await.unwrap();
    assert_eq!(applications, 8);
    eprintln!("{processing} of 8 imports were still processing when the server was killed");
    drop(second);
}
