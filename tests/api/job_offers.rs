//! CONTRACT §4 and §5: the listing's filters, validation, order and pagination; one offer by id.

use chrono::{DateTime, Utc};
use serde_json::Value;
use talqo_server::db::job_offers::OfferFields;

use crate::common::{TestApp, error_message, open_offer};

fn at(raw: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(raw).unwrap().with_timezone(&Utc))
}

fn offer(
    title: &str,
    location: Option<&str>,
    job_type: Option<&str>,
    status: &str,
    published: Option<&str>,
) -> OfferFields {
    OfferFields {
        title: Some(title.to_owned()),
        description: Some(format!("# {title}\n\nDetails.")),
        location: location.map(str::to_owned),
        job_type: job_type.map(str::to_owned),
        status: Some(status.to_owned()),
        published_at: published.and_then(at),
        ..OfferFields::default()
    }
}

async fn titles(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let response = app.get(&format!("/api/job_offers{query}"), key).await;
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().iter().map(|o| o["title"].as_str().unwrap().to_owned()).collect()
}

/// A company with a small, varied set of offers, and its key.
async fn seeded() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    for fields in [
        offer("Rust developer", Some("Paris, France"), Some("CDI"), "open", Some("2024-03-01T09:00:00Z")),
        offer("Data engineer", Some("Lyon"), Some("CDD"), "open", Some("2024-02-01T09:00:00Z")),
        offer("Designer", Some("PARIS 11e"), Some("Freelance"), "open", Some("2024-01-15T10:00:00Z")),
        offer("Unpublished", Some("Paris"), Some("CDI"), "open", None),
        offer("Closed role", Some("Paris"), Some("CDI"), "closed", Some("2024-03-05T00:00:00Z")),
        offer("Discount 100% remote", Some("100% remote_ok"), None, "open", Some("2023-12-01T00:00:00Z")),
        offer("Lookalike", Some("1000 remoteXok"), None, "open", Some("2023-11-01T00:00:00Z")),
    ] {
        app.offer(&acme, fields).await;
    }
    // Offers created open are published now; an open offer without a date can still exist (imports, edits).
    sqlx::query("UPDATE job_offers SET published_at = NULL WHERE title = 'Unpublished'")
        .execute(&app.db)
        .await
        .unwrap();
    let other = app.company("other").await;
    app.offer(&other, offer("Other company's job", Some("Paris"), Some("CDI"), "open", Some("2024-04-01T00:00:00Z")))
        .await;
    (app, key)
}

#[tokio::test]
async fn the_listing_is_open_offers_newest_first_with_nulls_last() {
    let (app, key) = seeded().await;
    let response = app.get("/api/job_offers", &key).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    let titles: Vec<&str> = body["data"].as_array().unwrap().iter().map(|o| o["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["Rust developer", "Data engineer", "Designer", "Discount 100% remote", "Lookalike", "Unpublished"]
    );
    assert_eq!(body["pagination"], serde_json::json!({"page": 1, "per_page": 20, "total": 6, "total_pages": 1}));
}

#[tokio::test]
async fn items_carry_exactly_the_job_offer_fields() {
    let (app, key) = seeded().await;
    let body: Value = app.get("/api/job_offers?per_page=1", &key).await.json().await.unwrap();
    let item = body["data"][0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["description", "id", "job_type", "location", "published_at", "status", "title", "updated_at"]);
    assert_eq!(item["published_at"], "2024-03-01T09:00:00Z");
    assert_eq!(item["description"], "# Rust developer\n\nDetails.");
    let updated = item["updated_at"].as_str().unwrap();
    assert!(updated.ends_with('Z') && updated.len() == 20, "{updated}");
    let id = item["id"].as_str().unwrap();
    assert_eq!(id, id.to_lowercase());
}

#[tokio::test]
async fn filters_combine() {
    let (app, key) = seeded().await;
    assert_eq!(titles(&app, &key, "?status=closed").await, ["Closed role"]);
    assert_eq!(titles(&app, &key, "?location=paris").await, ["Rust developer", "Designer", "Unpublished"]);
    assert_eq!(titles(&app, &key, "?location=paris&job_type=CDI").await, ["Rust developer", "Unpublished"]);
    assert_eq!(titles(&app, &key, "?job_type=cdi").await, Vec::<String>::new(), "job_type is an exact match");
    assert_eq!(
        titles(&app, &key, "?published_after=2024-01-15T10:00:00Z").await,
        ["Rust developer", "Data engineer", "Designer"],
        "bounds are inclusive"
    );
    assert_eq!(
        titles(&app, &key, "?published_before=2024-01-15T10:00:00Z&published_after=2024-01-15").await,
        ["Designer"]
    );
    assert_eq!(titles(&app, &key, "?published_after=2024-02-01&published_before=2024-02-29").await, ["Data engineer"]);
    assert_eq!(
        titles(&app, &key, "?published_after=2024-02-01T10:00:00%2B01:00").await,
        ["Rust developer", "Data engineer"]
    );
}

#[tokio::test]
async fn location_percent_and_underscore_are_literal() {
    let (app, key) = seeded().await;
    assert_eq!(titles(&app, &key, "?location=100%25%20remote_").await, ["Discount 100% remote"]);
    assert_eq!(titles(&app, &key, "?location=%25").await, ["Discount 100% remote"]);
    assert_eq!(titles(&app, &key, "?location=_").await, ["Discount 100% remote"]);
}

#[tokio::test]
async fn only_the_keys_company_offers_are_listed() {
    let (app, key) = seeded().await;
    let all = titles(&app, &key, "?per_page=100").await;
    assert!(!all.iter().any(|t| t == "Other company's job"), "{all:?}");
}

#[tokio::test]
async fn pages_are_stable_and_per_page_is_capped() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    // 230 offers, many sharing a publication instant, so the id tie-break matters.
    let mut tx = app.db.begin().await.unwrap();
    let batch: Vec<OfferFields> = (0..230)
        .map(|i| {
            let published = if i % 10 == 0 { None } else { Some(format!("2024-01-{:02}T00:00:00Z", 1 + i % 5)) };
            offer(&format!("Offer {i}"), Some("Paris"), None, "open", published.as_deref())
        })
        .collect();
    talqo_server::db::job_offers::import_batch(&mut tx, acme.id, &batch).await.unwrap();
    sqlx::query("UPDATE job_offers SET published_at = NULL WHERE title ~ '^Offer [0-9]*0$'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let capped: Value = app.get("/api/job_offers?per_page=1000", &key).await.json().await.unwrap();
    assert_eq!(capped["pagination"], serde_json::json!({"page": 1, "per_page": 100, "total": 230, "total_pages": 3}));
    assert_eq!(capped["data"].as_array().unwrap().len(), 100);

    let mut seen = Vec::new();
    for page in 1..=3 {
        let body: Value =
            app.get(&format!("/api/job_offers?per_page=100&page={page}"), &key).await.json().await.unwrap();
        assert_eq!(body["pagination"]["page"], page);
        seen.extend(body["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (230, 230), "pages overlap or skip");

    let past_end: Value = app.get("/api/job_offers?per_page=100&page=4", &key).await.json().await.unwrap();
    assert_eq!(past_end["data"], serde_json::json!([]));
    assert_eq!(past_end["pagination"]["total"], 230);
}

#[tokio::test]
async fn an_empty_listing_has_zero_pages() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    let body: Value = app.get("/api/job_offers", &key).await.json().await.unwrap();
    assert_eq!(body["data"], serde_json::json!([]));
    assert_eq!(body["pagination"], serde_json::json!({"page": 1, "per_page": 20, "total": 0, "total_pages": 0}));
}

#[tokio::test]
async fn malformed_parameters_answer_400_naming_the_parameter() {
    let (app, key) = seeded().await;
    for (query, expected) in [
        ("page=0", "page must be an integer greater than or equal to 1"),
        ("page=abc", "page must be an integer greater than or equal to 1"),
        ("per_page=-1", "per_page must be an integer greater than or equal to 1"),
        ("per_page=0", "per_page must be an integer greater than or equal to 1"),
        ("published_after=yesterday", "published_after must be an ISO 8601 date (YYYY-MM-DD) or date-time (RFC 3339)"),
        (
            "published_before=2024-99-01",
            "published_before must be an ISO 8601 date (YYYY-MM-DD) or date-time (RFC 3339)",
        ),
    ] {
        let response = app.get(&format!("/api/job_offers?{query}"), &key).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(error_message(response).await, expected, "{query}");
    }
    // Unknown parameters are ignored.
    assert_eq!(app.get("/api/job_offers?colour=blue", &key).await.status(), 200);
}

#[tokio::test]
async fn one_offer_by_id() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let other = app.company("other").await;
    let (_, key) = app.api_key(&acme).await;
    let mine = app.offer(&acme, open_offer("Mine")).await;
    let theirs = app.offer(&other, open_offer("Theirs")).await;

    let response = app.get(&format!("/api/job_offers/{}", mine.id), &key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["id"], mine.id.to_string());
    assert_eq!(body["data"]["title"], "Mine");
    assert_eq!(body["data"].as_object().unwrap().len(), 8);

    // Upper-case ids are valid and answer with the lowercase id.
    let upper = app.get(&format!("/api/job_offers/{}", mine.id.to_string().to_uppercase()), &key).await;
    assert_eq!(upper.status(), 200);

    let response = app.get(&format!("/api/job_offers/{}", theirs.id), &key).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_message(response).await, "Job offer does not belong to your company");

    let response = app.get("/api/job_offers/550e8400-e29b-41d4-a716-446655440000", &key).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_message(response).await, "Job offer not found");
}

#[tokio::test]
async fn malformed_offer_ids_answer_400_before_any_query() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    for id in [
        "abc",
        "550e8400e29b41d4a716446655440000",
        "%7B550e8400-e29b-41d4-a716-446655440000%7D",
        "550e8400-e29b-41d4-a716-44665544000z",
        "1%20OR%201=1",
        "%FF",
        "",
    ] {
        let response = app.get(&format!("/api/job_offers/{id}"), &key).await;
        assert_eq!(response.status(), 400, "{id:?}");
        assert_eq!(error_message(response).await, "Invalid job offer ID format", "{id:?}");
    }
}

#[tokio::test]
async fn totals_stay_exact_through_updates_deletes_and_imports() {
    let (app, key) = seeded().await;
    let acme = talqo_server::db::companies::find_by_id_or_slug(&app.db, "acme").await.unwrap().unwrap();
    // Every kind of write: an import batch, an edit moving offers between statuses and locations, a delete.
    let mut tx = app.db.begin().await.unwrap();
    let batch: Vec<OfferFields> = (0..50)
        .map(|i| offer(&format!("Batch {i}"), if i % 2 == 0 { Some("Paris") } else { None }, Some("CDI"), "open", None))
        .collect();
    talqo_server::db::job_offers::import_batch(&mut tx, acme.id, &batch).await.unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE job_offers SET status = 'closed', location = 'Lille' WHERE title LIKE 'Batch 1%'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM job_offers WHERE title IN ('Batch 2', 'Designer')").execute(&app.db).await.unwrap();

    for (query, sql_filter) in [
        ("", "status = 'open'"),
        ("?status=closed", "status = 'closed'"),
        ("?location=paris", "status = 'open' AND location ILIKE '%paris%'"),
        ("?location=lille&status=closed", "status = 'closed' AND location ILIKE '%lille%'"),
        ("?job_type=CDI", "status = 'open' AND job_type = 'CDI'"),
        ("?job_type=CDI&location=PAR", "status = 'open' AND job_type = 'CDI' AND location ILIKE '%par%'"),
        ("?published_after=2024-01-01", "status = 'open' AND published_at >= '2024-01-01'"),
    ] {
        let body: Value = app.get(&format!("/api/job_offers{query}"), &key).await.json().await.unwrap();
        let expected: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM job_offers WHERE company_id = $1 AND {sql_filter}"))
                .bind(acme.id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(body["pagination"]["total"], expected, "{query}");
    }
}
