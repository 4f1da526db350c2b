//! The listing's cache never answers stale (a changed offer, a revoked key: seen by the next request on every
//! instance), its ETag answers 304, and date-bounded totals from the day counters are exact.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use talqo_server::db::job_offers::OfferFields;

use crate::common::{TestApp, error_message, open_offer, test_settings};

fn published(title: &str, location: &str, at: DateTime<Utc>) -> OfferFields {
    OfferFields { location: Some(location.to_owned()), published_at: Some(at), ..open_offer(title) }
}

fn titles(body: &Value) -> Vec<String> {
    body["data"].as_array().expect("data").iter().map(|o| o["title"].as_str().unwrap_or("").to_owned()).collect()
}

async fn listing(app: &TestApp, key: &str, query: &str) -> (reqwest::StatusCode, Option<String>, Value) {
    let response = app.get(&format!("/api/job_offers{query}"), key).await;
    let status = response.status();
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, etag, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_matching_if_none_match_answers_304_without_a_body() {
    let app = TestApp::spawn().await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    app.offer(&acme, open_offer("Rust developer")).await;

    let first = app.get("/api/job_offers?location=", &key).await;
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    assert_eq!(first.headers()["cache-control"], "private, no-cache");
    assert!(first.headers()["vary"].to_str().unwrap().contains("X-API-Key"));

    for if_none_match in [etag.clone(), format!("W/{etag}"), format!("\"something-else\", {etag}")] {
        let revalidated = app
            .client
            .get(app.url("/api/job_offers"))
            .header("X-API-Key", &key)
            .header("If-None-Match", &if_none_match)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), 304, "{if_none_match}");
        assert_eq!(revalidated.headers()["etag"], etag.as_str());
        assert!(revalidated.headers().contains_key("x-ratelimit-remaining"));
        assert!(revalidated.bytes().await.unwrap().is_empty());
    }

    // Another tag, another query, or no key: no 304.
    let stale = app
        .client
        .get(app.url("/api/job_offers"))
        .header("X-API-Key", &key)
        .header("If-None-Match", "\"0123456789abcdef\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    let other_query = app
        .client
        .get(app.url("/api/job_offers?status=closed"))
        .header("X-API-Key", &key)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(other_query.status(), 200);
    let no_key = app.client.get(app.url("/api/job_offers")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
}

#[tokio::test]
async fn a_changed_offer_is_seen_at_once_by_every_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_with(first.settings.clone()).await;
    let acme = first.company("acme").await;
    let (_, key) = first.api_key(&acme).await;
    let offer = first.offer(&acme, open_offer("Rust developer")).await;

    // Both instances have the listing (and the tag) cached.
    let mut etags = Vec::new();
    for app in [&first, &second] {
        for _ in 0..2 {
            let (status, etag, body) = listing(app, &key, "").await;
            assert_eq!((status, titles(&body)), (reqwest::StatusCode::OK, vec!["Rust developer".to_owned()]));
            etags.push(etag.unwrap());
        }
    }
    assert!(etags.iter().all(|e| *e == etags[0]), "the same answer has the same tag everywhere: {etags:?}");

    // An operator's edit (as `offer update` makes it), then at once a request to each instance.
    let edit = OfferFields { title: Some("Senior Rust developer".to_owned()), ..OfferFields::default() };
    talqo_server::db::job_offers::update(&first.db, offer.id, &edit).await.unwrap().unwrap();
    for app in [&second, &first] {
        let (_, etag, body) = listing(app, &key, "").await;
        assert_eq!(titles(&body), ["Senior Rust developer"]);
        assert_ne!(etag.as_deref(), Some(etags[0].as_str()));
        let revalidated = app
            .client
            .get(app.url("/api/job_offers"))
            .header("X-API-Key", &key)
            .header("If-None-Match", &etags[0])
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), 200, "an old tag must not get 304");
    }

    // Any write to the table, even one made outside the server: an insert, a close, a delete.
    sqlx::query(
        "INSERT INTO job_offers (company_id, title, status, published_at) VALUES ($1, 'Designer', 'open', now())",
    )
    .bind(acme.id)
    .execute(&second.db)
    .await
    .unwrap();
    assert_eq!(titles(&listing(&first, &key, "").await.2).len(), 2);
    sqlx::query("UPDATE job_offers SET status = 'closed' WHERE title = 'Designer'").execute(&first.db).await.unwrap();
    assert_eq!(titles(&listing(&second, &key, "").await.2), ["Senior Rust developer"]);
    assert_eq!(titles(&listing(&second, &key, "?status=closed").await.2), ["Designer"]);
    sqlx::query("DELETE FROM job_offers WHERE title = 'Designer'").execute(&first.db).await.unwrap();
    let (_, _, closed) = listing(&second, &key, "?status=closed").await;
    assert_eq!((titles(&closed).len(), &closed["pagination"]["total"]), (0, &Value::from(0)));
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_by_every_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_with(first.settings.clone()).await;
    let acme = first.company("acme").await;
    let (key_id, key) = first.api_key(&acme).await;
    let (_, other_key) = first.api_key(&acme).await;
    first.offer(&acme, open_offer("Rust developer")).await;
    for app in [&first, &second] {
        for _ in 0..2 {
            assert_eq!(app.get("/api/job_offers", &key).await.status(), 200);
        }
    }

    talqo_server::db::api_keys::revoke(&first.db, key_id).await.unwrap().unwrap();
    for app in [&second, &first] {
        let refused = app.get("/api/job_offers", &key).await;
        assert_eq!(refused.status(), 401);
        assert_eq!(error_message(refused).await, "Invalid API key");
        // The company's other key still reads the cached listing.
        assert_eq!(app.get("/api/job_offers", &other_key).await.status(), 200);
    }
}

#[tokio::test]
async fn date_bounded_totals_from_day_counters_match_a_count() {
    // Hundreds of listings from one address.
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "100000")])).await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    let day = DateTime::parse_from_rfc3339("2024-03-10T00:00:00Z").unwrap().with_timezone(&Utc);
    // Offers at midnight, just before and after it, and through several days, in four cities.
    let mut n = 0;
    for days in -3..=3i64 {
        for seconds in [0, 1, 3_600 * 12, 86_399] {
            n += 1;
            let city = ["Lyon", "Paris", "Lille", "Nice"][n % 4];
            let job_type = if n % 2 == 0 { "CDI" } else { "Stage" };
            let at = day + TimeDelta::days(days) + TimeDelta::seconds(seconds);
            let offer =
                OfferFields { job_type: Some(job_type.to_owned()), ..published(&format!("Offer {n}"), city, at) };
            app.offer(&acme, offer).await;
        }
    }
    app.offer(&acme, OfferFields { published_at: None, ..open_offer("Never published") }).await;
    sqlx::query("UPDATE job_offers SET published_at = NULL WHERE title = 'Never published'")
        .execute(&app.db)
        .await
        .unwrap();
    // Moving an offer to another day, and closing one, must move the day counts too.
    sqlx::query("UPDATE job_offers SET published_at = published_at - interval '2 days' WHERE title = 'Offer 9'")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE job_offers SET status = 'closed' WHERE title = 'Offer 14'").execute(&app.db).await.unwrap();
    sqlx::query("UPDATE job_offers SET job_type = 'CDI' WHERE title = 'Offer 15'").execute(&app.db).await.unwrap();
    sqlx::query("DELETE FROM job_offers WHERE title = 'Offer 20'").execute(&app.db).await.unwrap();

    let bounds = [
        "2024-03-10",
        "2024-03-10T00:00:00Z",
        "2024-03-10T00:00:01Z",
        "2024-03-09T23:59:59Z",
        "2024-03-10T12:00:00Z",
        "2024-03-08T06:30:00%2B02:00",
        "2024-03-12T23:59:59Z",
        "2024-03-11",
        "2020-01-01",
        "2030-01-01",
    ];
    let mut queries = Vec::new();
    for after in bounds {
        queries.push(format!("published_after={after}"));
        queries.push(format!("published_before={after}"));
        for before in bounds {
            queries.push(format!("published_after={after}&published_before={before}"));
        }
    }
    for query in queries {
        // `par` matches fewer cities than it leaves out (they are walked), `i` more (those left out are).
        for (location, job_type) in
            [("", ""), ("&location=par", ""), ("", "CDI"), ("&location=par", "Stage"), ("&location=i", "CDI")]
        {
            let type_filter = if job_type.is_empty() { String::new() } else { format!("&job_type={job_type}") };
            let query = format!("?{query}{location}{type_filter}");
            let (status, _, body) = listing(&app, &key, &query).await;
            assert_eq!(status, 200, "{query}: {body}");
            let parse = |name: &str| {
                query.split(['?', '&']).find_map(|p| p.strip_prefix(&format!("{name}="))).map(|raw| {
                    let raw = raw.replace("%2B", "+");
                    talqo_server::domain::timestamp::parse_date_or_datetime(&raw).unwrap()
                })
            };
            let expected: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM job_offers WHERE company_id = $1 AND status = 'open'
                   AND ($2::timestamptz IS NULL OR published_at >= $2)
                   AND ($3::timestamptz IS NULL OR published_at <= $3)
                   AND ($4 = '' OR location ILIKE '%' || substr($4, 11) || '%') AND ($5 = '' OR job_type = $5)",
            )
            .bind(acme.id)
            .bind(parse("published_after"))
            .bind(parse("published_before"))
            .bind(location)
            .bind(job_type)
            .fetch_one(&app.db)
            .await
            .unwrap();
            assert_eq!(body["pagination"]["total"], expected, "{query}");
            assert_eq!(body["data"].as_array().unwrap().len() as i64, expected.min(20), "{query}");
        }
    }
}
