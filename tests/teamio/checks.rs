//! The checks of `POST /api/v1/candidate-reactions`, run through `/test` (CONTRACT §12, steps 2 to 8): each code,
//! message and field path, in the contract's order; and `/test` storing nothing.

use serde_json::{Value, json};
use talqo_server::db::job_offers::OfferFields;

use crate::common::{TestApp, open_offer, test_settings};
use crate::support::{Door, b64, files_under, reaction, teamio_error};

async fn field_errors(door: &Door, body: &Value) -> (String, Vec<(String, String)>) {
    let (status, code, message, fields) = teamio_error(door.check(body).await).await;
    assert_eq!((status, code.as_str()), (400, "VALIDATION_ERROR"), "{message}");
    let joined: Vec<String> = fields.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    assert_eq!(message, joined.join("; "));
    (message, fields)
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(f, m)| (f.to_string(), m.to_string())).collect()
}

#[tokio::test]
async fn a_valid_request_passes_the_sandbox_and_nothing_is_stored() {
    let door = Door::open(TestApp::spawn().await).await;
    let response = door.check(&reaction(door.offer.recruitment_id)).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    for table in ["candidates", "job_applications", "email_outbox"] {
        let rows: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&door.app.db).await.unwrap();
        assert_eq!(rows, 0, "{table}");
    }
    for dir in ["storage", "spool", "mail"] {
        assert_eq!(files_under(&door.app.files().join(dir)), 0, "{dir}");
    }
    // Only its api_logs entry, with the company.
    assert_eq!(door.app.api_logs_eventually(3).await, 3);
    let logged: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT company_id FROM api_logs WHERE endpoint = '/api/v1/candidate-reactions/test'")
            .fetch_one(&door.app.db)
            .await
            .unwrap();
    assert_eq!(logged, Some(door.company.id));
}

#[tokio::test]
async fn every_field_error_is_reported_at_once_with_its_path() {
    let door = Door::open(TestApp::spawn().await).await;
    let (_, fields) = field_errors(&door, &json!({})).await;
    assert_eq!(
        fields,
        pairs(&[
            ("firstName", "must not be null"),
            ("surname", "must not be null"),
            ("email", "must not be null"),
            ("recruitmentId", "must not be null"),
            ("gdprNotice", "must not be null"),
        ])
    );
    let long = "é".repeat(51);
    let body = json!({
        "firstName": "   ", "surname": long, "email": "not-an-email", "phone": "+33 (0)1 23.45-67 ext",
        "recruitmentId": "12", "attachments": [
            null,
            {"filename": "x".repeat(51), "content": "SGVsbG8*", "contentType": "", "type": "cv"},
            {"content": "", "type": "OTHER", "filename": "a.txt", "contentType": 7},
            5
        ],
        "gdprNotice": {"validTo": 20300101, "consentText": "text"}
    });
    let (_, fields) = field_errors(&door, &body).await;
    assert_eq!(
        fields,
        pairs(&[
            ("firstName", "must not be blank"),
            ("surname", "size must be between 0 and 50"),
            ("email", "Email must be valid"),
            ("phone", "must contain only digits, spaces and + - ( ) ."),
            ("recruitmentId", "must be an integer"),
            ("attachments[0]", "must not be null"),
            ("attachments[1].filename", "size must be between 0 and 50"),
            ("attachments[1].contentType", "must not be blank"),
            ("attachments[1].type", "must be one of CV, MOTIVATION_LETTER, OTHER"),
            ("attachments[1].content", "must be valid Base64"),
            ("attachments[2].contentType", "must be a string"),
            ("attachments[2].content", "must not be blank"),
            ("attachments[3]", "must be an object"),
            ("gdprNotice.validTo", "must be a string"),
            ("gdprNotice.consentText", "must be an object"),
        ])
    );
}

#[tokio::test]
async fn field_rules_take_their_edge_values() {
    let door = Door::open(TestApp::spawn().await).await;
    let id = door.offer.recruitment_id;
    let base = reaction(id);
    let with = |path: &[&str], value: Value| {
        let mut body = base.clone();
        let mut slot = &mut body;
        for key in path {
            slot = match key.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*key],
            };
        }
        *slot = value;
        body
    };
    // Accepted: 50 characters after trimming, an empty phone, DOCX's own content type, consentText without type,
    // white space inside base64, padding left out.
    for body in [
        with(&["firstName"], json!(format!("  {}  ", "é".repeat(50)))),
        with(&["phone"], json!("")),
        with(&["email"], json!(format!("  {}@example.com ", "a".repeat(38)))),
        with(
            &["attachments", "0", "contentType"],
            json!("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ),
        with(&["gdprNotice", "consentText", "type"], Value::Null),
        with(&["attachments", "1", "content"], json!("SSB3b3Vs\nZCBsb3Zl\r\nIHRvIGpvaW4u")),
        with(&["attachments", "1", "content"], json!("SGVsbG8")),
        with(&["attachments"], Value::Null),
        with(&["gdprNotice"], json!({})),
        with(&["gdprNotice"], json!({"consentText": null, "validTo": null})),
        with(&["recruitmentId"], json!(id)),
        with(&["unknownField"], json!({"nested": [1, "x", {"a": null}]})),
    ] {
        let response = door.check(&body).await;
        assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    }
    // Refused, one field each.
    for (body, field, reason) in [
        (with(&["email"], json!(format!("{}@example.com", "a".repeat(39)))), "email", "size must be between 0 and 50"),
        (with(&["phone"], json!("1".repeat(51))), "phone", "size must be between 0 and 50"),
        (with(&["recruitmentId"], json!(1.5)), "recruitmentId", "must be an integer"),
        (with(&["recruitmentId"], json!(0)), "recruitmentId", "must be greater than or equal to 1"),
        (with(&["recruitmentId"], json!(-4)), "recruitmentId", "must be greater than or equal to 1"),
        (
            with(&["attachments", "0", "contentType"], json!("x".repeat(256))),
            "attachments[0].contentType",
            "size must be between 0 and 255",
        ),
        (with(&["attachments", "0", "type"], Value::Null), "attachments[0].type", "must not be null"),
        (with(&["attachments", "0", "content"], json!("SGVsbG8=x")), "attachments[0].content", "must be valid Base64"),
        (with(&["attachments", "0", "content"], json!("SGVsbG8-")), "attachments[0].content", "must be valid Base64"),
        (with(&["attachments", "0", "filename"], Value::Null), "attachments[0].filename", "must not be null"),
        (
            with(&["gdprNotice", "consentText", "content"], json!("  ")),
            "gdprNotice.consentText.content",
            "must not be blank",
        ),
        (
            with(&["gdprNotice", "consentText", "filename"], json!("")),
            "gdprNotice.consentText.filename",
            "must not be blank",
        ),
        (with(&["firstName"], json!("Ja\u{0}ne")), "firstName", "must not contain control characters"),
        (with(&["attachments"], json!({"a": 1})), "attachments", "must be an array"),
        (with(&["gdprNotice"], json!([])), "gdprNotice", "must be an object"),
    ] {
        let (_, fields) = field_errors(&door, &body).await;
        assert_eq!(fields, pairs(&[(field, reason)]), "{field}");
    }
}

#[tokio::test]
async fn step_3_answers_415_413_and_invalid_json() {
    let door = Door::open(TestApp::spawn_with(test_settings(&[("MAX_IMPORT_BODY_BYTES", "4096")])).await).await;
    let url = door.app.url("/api/v1/candidate-reactions/test");
    let body = reaction(door.offer.recruitment_id).to_string();
    let send = |content_type: &'static str, body: String| {
        door.app.client.post(&url).bearer_auth(&door.sandbox).header("content-type", content_type).body(body).send()
    };
    for content_type in ["text/plain", "multipart/form-data; boundary=x", "application/jsonp"] {
        let (status, code, _, _) = teamio_error(send(content_type, body.clone()).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (415, "UNSUPPORTED_MEDIA_TYPE"), "{content_type}");
    }
    assert_eq!(send("Application/JSON; charset=UTF-8", body.clone()).await.unwrap().status(), 204);
    for bad in ["", "not json", "[1,2]", "\"x\"", "{\"firstName\":}", "{\"a\":1} {}"] {
        let (status, code, _, _) = teamio_error(send("application/json", bad.to_owned()).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "INVALID_JSON"), "{bad:?}");
    }
    // Over the limit: declared, and cut while streaming (no Content-Length).
    let large = format!("{{\"padding\":\"{}\"}}", "a".repeat(5000));
    let (status, code, _, _) = teamio_error(send("application/json", large.clone()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (413, "PAYLOAD_TOO_LARGE"));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        large.into_bytes().chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let streamed = door
        .app
        .client
        .post(&url)
        .bearer_auth(&door.sandbox)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(teamio_error(streamed).await.1, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn attachments_beyond_five_then_too_large_files_then_the_gdpr_notice_are_refused_in_that_order() {
    let door = Door::open(TestApp::spawn_with(test_settings(&[("MAX_ATTACHMENT_BYTES", "1000")])).await).await;
    let mut body = reaction(door.offer.recruitment_id);
    let small = body["attachments"][1].clone();
    let mut big = small.clone();
    big["content"] = json!(b64(&[7u8; 1001]));

    // Six attachments, one of them too large: step 5 answers.
    body["attachments"] = json!([small, small, big, small, small, small]);
    let (status, code, message, _) = teamio_error(door.check(&body).await).await;
    assert_eq!((status, code.as_str()), (400, "TOO_MANY_ATTACHMENTS"), "{message}");
    // A field error as well: step 4 answers first.
    body["firstName"] = json!("");
    assert_eq!(teamio_error(door.check(&body).await).await.1, "VALIDATION_ERROR");
    body["firstName"] = json!("Jane");

    // Five, the third and the consent document too large: the first one decoded is named.
    body["attachments"] = json!([small, small, big, big, small]);
    body["gdprNotice"]["consentText"] = big.clone();
    body["gdprNotice"]["validTo"] = json!("yesterday");
    let (status, code, message, fields) = teamio_error(door.check(&body).await).await;
    assert_eq!((status, code.as_str()), (400, "ATTACHMENT_TOO_LARGE"));
    assert!(message.starts_with("attachments[2].content: "), "{message}");
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].0, "attachments[2].content");
    // Exactly at the limit is accepted.
    let mut at_limit = small.clone();
    at_limit["content"] = json!(b64(&[7u8; 1000]));
    body["attachments"] = json!([at_limit]);
    body["gdprNotice"]["consentText"] = small.clone();

    // Step 7.
    for valid_to in ["yesterday", "2099-12-31", "2099-12-31T23:59:59", "2020-01-01T00:00:00Z"] {
        body["gdprNotice"]["validTo"] = json!(valid_to);
        let (status, code, _, _) = teamio_error(door.check(&body).await).await;
        assert_eq!((status, code.as_str()), (400, "INVALID_GDPR_VALID_TO"), "{valid_to}");
    }
    body["gdprNotice"]["validTo"] = json!("2099-12-31T23:59:59+02:00");
    assert_eq!(door.check(&body).await.status(), 204);
    body["gdprNotice"]["consentText"] = Value::Null;
    let (status, code, _, _) = teamio_error(door.check(&body).await).await;
    assert_eq!((status, code.as_str()), (400, "INVALID_GDPR_CONSENT_TEXT"));
    // Consent text without validTo: implicit consent, accepted; neither: accepted.
    body["gdprNotice"] = json!({"consentText": small});
    assert_eq!(door.check(&body).await.status(), 204);
    body["gdprNotice"] = json!({});
    assert_eq!(door.check(&body).await.status(), 204);
}

#[tokio::test]
async fn step_8_names_other_companies_unknown_and_closed_recruitments() {
    let door = Door::open(TestApp::spawn().await).await;
    let other = door.app.company("other").await;
    let theirs = door.app.offer(&other, open_offer("Theirs")).await;
    let closed =
        door.app.offer(&door.company, OfferFields { status: Some("closed".into()), ..open_offer("Closed") }).await;
    let active =
        door.app.offer(&door.company, OfferFields { status: Some("active".into()), ..open_offer("Active") }).await;
    for (recruitment_id, expected) in [
        (theirs.recruitment_id, (403, "FORBIDDEN")),
        (9_007_199_254_740_991, (422, "RECRUITMENT_NOT_FOUND")),
        (i64::MAX, (422, "RECRUITMENT_NOT_FOUND")),
        (closed.recruitment_id, (422, "RECRUITMENT_NOT_ACTIVE")),
    ] {
        let (status, code, message, _) = teamio_error(door.check(&reaction(recruitment_id)).await).await;
        assert_eq!((status, code.as_str()), expected, "{message}");
    }
    assert_eq!(door.check(&reaction(active.recruitment_id)).await.status(), 204);
}

#[tokio::test]
async fn each_company_has_its_own_import_limit_and_polls_do_not_count() {
    let app = TestApp::spawn_with(test_settings(&[("IMPORT_RATE_LIMIT_PER_COMPANY", "3")])).await;
    let door = Door::open(app).await;
    let body = reaction(door.offer.recruitment_id);
    for remaining in [2, 1, 0] {
        let response = door.check(&body).await;
        assert_eq!(response.status(), 204);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining.to_string().as_str());
    }
    // Polls are not counted and carry the per-IP figures.
    let poll = door
        .app
        .client
        .get(door.app.url("/api/v1/candidate-reactions/00000000-0000-4000-8000-000000000000"))
        .bearer_auth(&door.production)
        .send()
        .await
        .unwrap();
    assert_eq!(poll.headers()["x-ratelimit-limit"], "100");
    let refused = door.post("/api/v1/candidate-reactions", &door.production, &body).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    let (status, code, message, _) = teamio_error(refused).await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (429, "TOO_MANY_REQUESTS", "Too many requests. Please retry later.")
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_under_api_v1_answer_in_teamio_shape() {
    let door = Door::open(TestApp::spawn().await).await;
    let missing = door.app.client.get(door.app.url("/api/v1/nothing-here")).send().await.unwrap();
    let (status, code, _, _) = teamio_error(missing).await;
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    let wrong_method = door.app.client.delete(door.app.url("/api/v1/candidate-reactions")).send().await.unwrap();
    let (status, code, _, _) = teamio_error(wrong_method).await;
    assert_eq!((status, code.as_str()), (405, "METHOD_NOT_ALLOWED"));
    let malformed = door
        .app
        .client
        .get(door.app.url("/api/v1/candidate-reactions/not-a-uuid"))
        .bearer_auth(&door.production)
        .send()
        .await
        .unwrap();
    let (status, code, message, fields) = teamio_error(malformed).await;
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (400, "VALIDATION_ERROR", "requestUuid: must be a valid UUID")
    );
    assert_eq!(fields, pairs(&[("requestUuid", "must be a valid UUID")]));
}

#[tokio::test]
async fn the_openapi_document_describes_the_four_routes_and_their_codes() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = &doc["paths"];
    for (path, method, codes) in [
        ("/api/v1/auth/token", "post", &["200", "400", "401", "415"][..]),
        ("/api/v1/candidate-reactions", "post", &["200", "400", "401", "403", "413", "415", "422", "429"][..]),
        ("/api/v1/candidate-reactions/test", "post", &["204", "400", "401", "422"][..]),
        ("/api/v1/candidate-reactions/{requestUuid}", "get", &["200", "400", "401", "404"][..]),
    ] {
        let responses = &paths[path][method]["responses"];
        for code in codes {
            assert!(responses.get(*code).is_some(), "{method} {path} {code}");
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ReactionStatus"]["properties"].get("requestUuid").is_some());
    assert!(schemas["CandidateReaction"]["properties"].get("recruitmentId").is_some());
    assert!(schemas["TeamioErrorBody"]["properties"].get("fieldErrors").is_some());
}

#[tokio::test]
async fn the_company_limit_is_shared_through_redis_by_every_instance() {
    let prefix = format!("talqo-test-{}", uuid::Uuid::new_v4().simple());
    let redis = [("REDIS_URL", "redis://127.0.0.1:6379"), ("REDIS_KEY_PREFIX", prefix.as_str())];
    let mut first = redis.to_vec();
    first.push(("IMPORT_RATE_LIMIT_PER_COMPANY", "3"));
    let door = Door::open(TestApp::spawn_with(test_settings(&first)).await).await;
    let mut settings = test_settings(&first);
    settings.database_url = door.app.settings.database_url.clone();
    let second = TestApp::spawn_with(settings).await;
    let body = reaction(door.offer.recruitment_id);
    let send = |app: &TestApp| {
        app.client.post(app.url("/api/v1/candidate-reactions/test")).bearer_auth(&door.sandbox).json(&body).send()
    };
    // Both instances count in the same window, unless the minute turns in between (then the count restarts).
    let window = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60;
    let statuses = [
        send(&door.app).await.unwrap().status().as_u16(),
        send(&second).await.unwrap().status().as_u16(),
        send(&door.app).await.unwrap().status().as_u16(),
        send(&second).await.unwrap().status().as_u16(),
    ];
    let same_window =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60 == window;
    if same_window {
        assert_eq!(statuses, [204, 204, 204, 429]);
    }
    std::mem::forget(second);
}
