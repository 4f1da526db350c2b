//! POST /jobs/{slug}/{offer_id}/apply over real HTTP: post/redirect/get, source, dedup, honeypot, consent,
//! refusals re-rendered as the form, the 410 of a closed offer, and the per-IP limit's 429 page.

use reqwest::multipart::{Form, Part};

use crate::{acme, client, closed_offer, common, corpus_cv, spawn};

fn form(email: &str) -> Form {
    let cv = std::fs::read(corpus_cv()).unwrap();
    Form::new()
        .text("first_name", "Élodie")
        .text("last_name", "Durand")
        .text("email", email.to_owned())
        .text("phone", "+33 6 00 00 00 00")
        .text("cover_letter", "Bonjour,\nje suis motivée.")
        .text("consent", "yes")
        .part("cv", Part::bytes(cv).file_name("cv.pdf").mime_str("application/pdf").unwrap())
}

async fn applications(app: &common::TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT a.source, c.email FROM job_applications a JOIN candidates c ON c.id = a.candidate_id ORDER BY a.created_at")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_application_redirects_to_the_thank_you_page_with_utm_source_as_source() {
    let app = spawn(&[]).await;
    let (_, offer) = acme(&app).await;
    let apply = app.url(&format!("/jobs/acme/{}/apply?utm_source=linkedin", offer.id));
    let response = client().post(&apply).multipart(form("elodie@example.com")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/jobs/acme/{}/applied", offer.id));
    assert_eq!(applications(&app).await, vec![("linkedin".to_owned(), "elodie@example.com".to_owned())]);
    let step: String = sqlx::query_scalar("SELECT status FROM candidate_steps").fetch_one(&app.db).await.unwrap();
    assert_eq!(step, "awaiting_advance");

    // The same candidate again: the same page, saying so; still one application.
    let again = client().post(&apply).multipart(form(" Elodie@Example.com ")).send().await.unwrap();
    assert_eq!(again.status(), 303);
    let location = again.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("/applied?existing=1"), "{location}");
    assert_eq!(applications(&app).await.len(), 1);
    let thanks = client().get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(thanks.contains("Vous aviez déjà postulé"), "{thanks}");

    // Without utm_source: job_link.
    let plain = app.url(&format!("/jobs/acme/{}/apply", offer.id));
    client().post(&plain).multipart(form("other@example.com")).send().await.unwrap();
    assert_eq!(applications(&app).await[1].0, "job_link");
}

#[tokio::test]
async fn a_filled_honeypot_gets_the_thank_you_page_and_nothing_is_created() {
    let app = spawn(&[]).await;
    let (_, offer) = acme(&app).await;
    let apply = app.url(&format!("/jobs/acme/{}/apply", offer.id));
    let response =
        client().post(&apply).multipart(form("bot@example.com").text("website", "http://spam")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(applications(&app).await.is_empty());
}

#[tokio::test]
async fn refusals_rerender_the_form_with_values_kept_and_messages_tied_to_fields() {
    let app = spawn(&[]).await;
    let (_, offer) = acme(&app).await;
    let apply = app.url(&format!("/jobs/acme/{}/apply?lang=en", offer.id));
    let bad = Form::new()
        .text("first_name", "Jean <b>")
        .text("last_name", "")
        .text("email", "jean-at-example.com")
        .text("cover_letter", "Motivé");
    let response = client().post(&apply).multipart(bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"), "the page's language");
    assert!(html.contains(r#"value="Jean &#60;b&#62;""#), "values kept, escaped: {html}");
    assert!(html.contains(">Motivé</textarea>"), "{html}");
    for (field, message) in [
        ("last_name", "Enter your last name."),
        ("email", "Enter a valid email address"),
        ("cv", "Attach your CV."),
        ("consent", "Tick this box"),
    ] {
        assert!(html.contains(&format!("<a href=\"#{field}\">{message}")), "summary links {field}: {html}");
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
        assert!(html.contains(&format!("aria-describedby=\"{field}-error\"")) || field == "cv", "{field}");
    }
    assert!(html.contains(r#"aria-invalid="true" aria-describedby="email-error""#), "{html}");
    assert!(!html.contains("id=\"first_name-error\""), "a valid field has no message");
    assert!(applications(&app).await.is_empty());
}

#[tokio::test]
async fn a_closed_offer_answers_its_form_with_the_410_page_and_creates_nothing() {
    let app = spawn(&[]).await;
    let (company, _) = acme(&app).await;
    let closed = closed_offer(&app, &company).await;
    let apply = app.url(&format!("/jobs/acme/{}/apply", closed.id));
    let response = client().post(&apply).multipart(form("late@example.com")).send().await.unwrap();
    assert_eq!(response.status(), 410);
    assert!(!response.text().await.unwrap().contains("<form"));
    assert!(applications(&app).await.is_empty());
}

#[tokio::test]
async fn past_the_per_ip_limit_the_form_gets_a_429_page_and_get_pages_are_not_limited() {
    let app = spawn(&[("CAREER_API_RATE_LIMIT_PER_IP", "1")]).await;
    let (_, offer) = acme(&app).await;
    let apply = app.url(&format!("/jobs/acme/{}/apply", offer.id));
    let first = client().post(&apply).multipart(Form::new().text("first_name", "A")).send().await.unwrap();
    assert_eq!(first.status(), 400);
    assert_eq!(first.headers()["x-ratelimit-limit"], "1");
    let second = client().post(&apply).multipart(form("a@example.com")).send().await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(second.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let retry: u64 = second.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    let html = second.text().await.unwrap();
    assert!(html.contains("Trop de tentatives") && !html.contains("<form"), "{html}");
    for _ in 0..3 {
        let page = client().get(app.url(&format!("/jobs/acme/{}", offer.id))).send().await.unwrap();
        assert_eq!(page.status(), 200);
    }
    assert!(applications(&app).await.is_empty());
}
