//! GET pages: headers, 404 / 410, JSON-LD, the inert description, the sitemap and the feed.

use serde_json::Value;

use crate::{BASE_URL, acme, client, closed_offer, spawn};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The text of the page's `<script type="application/ld+json">`.
fn json_ld(html: &str) -> Option<&str> {
    let start = html.find("<script type=\"application/ld+json\">")? + "<script type=\"application/ld+json\">".len();
    let length = html[start..].find("</script>")?;
    Some(&html[start..start + length])
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_answer_304_to_their_etag() {
    let app = spawn(&[]).await;
    let (_, offer) = acme(&app).await;
    for path in ["/jobs/acme".to_owned(), format!("/jobs/acme/{}", offer.id)] {
        let response = client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(header(&response, "content-type").starts_with("text/html"), "{path}");
        let csp = header(&response, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'self' https://careers.acme.test"), "{csp}");
        assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "referrer-policy"), "strict-origin-when-cross-origin");
        let etag = header(&response, "etag").to_owned();
        assert!(etag.starts_with('"'), "{path}: {etag}");
        let again = client().get(app.url(&path)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        let other = client().get(app.url(&path)).header("If-None-Match", "\"nope\"").send().await.unwrap();
        assert_eq!(other.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn unknown_companies_offers_and_drafts_are_404_pages_never_the_envelope() {
    let app = spawn(&[]).await;
    let (company, _) = acme(&app).await;
    let other = app.company("other").await;
    let others_offer = app.offer(&other, common_open("Elsewhere")).await;
    let draft = app
        .offer(
            &company,
            talqo_server::db::job_offers::OfferFields { status: Some("draft".into()), ..common_open("Draft") },
        )
        .await;
    for path in [
        "/jobs/nobody".to_owned(),
        "/jobs/acme/not-a-uuid".to_owned(),
        format!("/jobs/acme/{}", uuid::Uuid::new_v4()),
        format!("/jobs/acme/{}", others_offer.id),
        format!("/jobs/acme/{}", draft.id),
        "/jobs/acme/a/b/c/d".to_owned(),
    ] {
        let response = client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(header(&response, "content-type").starts_with("text/html"), "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>Page introuvable</h1>"), "{path}: {html}");
    }
    let english = client().get(app.url("/jobs/nobody?lang=en")).send().await.unwrap();
    assert!(english.text().await.unwrap().contains("<h1>Page not found</h1>"));
}

fn common_open(title: &str) -> talqo_server::db::job_offers::OfferFields {
    crate::common::open_offer(title)
}

#[tokio::test]
async fn a_closed_offer_is_a_410_page_without_form_or_json_ld_and_noindex() {
    let app = spawn(&[]).await;
    let (company, _) = acme(&app).await;
    let closed = closed_offer(&app, &company).await;
    let response = client().get(app.url(&format!("/jobs/acme/{}", closed.id))).send().await.unwrap();
    assert_eq!(response.status(), 410);
    assert_eq!(header(&response, "x-robots-tag"), "noindex");
    let html = response.text().await.unwrap();
    assert!(html.contains("<meta name=\"robots\" content=\"noindex\">"), "{html}");
    assert!(!html.contains("<form") && !html.contains("application/ld+json"), "{html}");
    assert!(html.contains("Stage data") && html.contains("ne reçoit plus de candidatures"), "{html}");
}

#[tokio::test]
async fn the_json_ld_holds_the_required_job_posting_properties() {
    let app = spawn(&[]).await;
    let (_, offer) = acme(&app).await;
    let html = client().get(app.url(&format!("/jobs/acme/{}", offer.id))).send().await.unwrap().text().await.unwrap();
    let text = json_ld(&html).expect("a JSON-LD block");
    // The title holds `</script>`: inside the block every `<` is escaped, so the block ends where it should.
    assert!(!text.contains('<'), "{text}");
    let posting: Value = serde_json::from_str(text).unwrap();
    assert_eq!(posting["@type"], "JobPosting");
    assert_eq!(posting["title"], offer.title);
    assert!(posting["description"].as_str().unwrap().contains("<h3>Le poste</h3>"), "{posting}");
    assert!(posting["datePosted"].as_str().unwrap().ends_with('Z'), "{posting}");
    assert_eq!(posting["hiringOrganization"]["name"], "Company acme");
    assert_eq!(posting["jobLocation"]["address"]["addressLocality"], "Paris");
    assert_eq!(posting["jobLocation"]["address"]["addressCountry"], "France");
    assert_eq!(posting["employmentType"], "FULL_TIME");
    assert_eq!(posting["identifier"]["value"], offer.id.to_string());
    assert_eq!(posting["directApply"], true);
    assert_eq!(posting["url"], format!("{BASE_URL}/jobs/acme/{}", offer.id));
}

#[tokio::test]
async fn a_hostile_description_renders_inert() {
    let app = spawn(&[]).await;
    let (_, offer) = acme(&app).await;
    let html = client().get(app.url(&format!("/jobs/acme/{}", offer.id))).send().await.unwrap().text().await.unwrap();
    let start = html.find("<div class=\"description\">").unwrap();
    let description = &html[start..start + html[start..].find("</article>").unwrap()];
    // Every element of the description: only harmless tags, no handlers, no script URLs.
    for tag in description.split('<').skip(1).filter(|t| t.starts_with(|c: char| c.is_ascii_alphabetic())) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        let name = tag.split([' ', '/']).next().unwrap_or("");
        assert!(!["script", "img", "iframe", "input", "object", "embed", "style"].contains(&name), "<{tag}");
        for forbidden in [" on", "javascript:", "data:", "src="] {
            assert!(!tag.contains(forbidden), "{forbidden} in <{tag}");
        }
    }
    assert!(description.contains("&lt;script&gt;"), "raw HTML is shown as text: {description}");
    assert!(description.contains("<table>"), "{description}");
    assert!(description.contains(r#"<a href="https://acme.test/equipe" rel="nofollow noopener">"#), "{description}");
    assert!(description.contains("☑") && description.contains("☐"), "{description}");
    // The only script of the page is the JSON-LD data block.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
}

#[tokio::test]
async fn the_list_shows_open_and_active_offers_newest_first_and_filters_as_the_api() {
    let app = spawn(&[]).await;
    let (company, _) = acme(&app).await;
    closed_offer(&app, &company).await;
    let mut active = common_open("Chef de projet");
    active.status = Some("active".into());
    active.location = Some("Lyon 100%".into());
    active.published_at = Some(chrono::Utc::now() + chrono::Duration::minutes(5));
    app.offer(&company, active).await;
    let html = client().get(app.url("/jobs/acme")).send().await.unwrap().text().await.unwrap();
    let (lyon, paris) = (html.find("Chef de projet").unwrap(), html.find("Développeuse Rust").unwrap());
    assert!(lyon < paris, "newest first");
    assert!(!html.contains("Stage data"), "closed offers are not listed");
    assert!(html.contains("2 offres ouvertes"), "{html}");
    let filtered = client().get(app.url("/jobs/acme?location=100%25")).send().await.unwrap().text().await.unwrap();
    assert!(filtered.contains("Chef de projet") && !filtered.contains("Développeuse Rust"), "% is literal");
    let english = client().get(app.url("/jobs/acme?lang=en")).send().await.unwrap().text().await.unwrap();
    assert!(english.contains("<html lang=\"en\">") && english.contains("2 open positions"), "{english}");
    assert!(english.contains("lang=en"), "links keep the chosen language");
}

#[tokio::test]
async fn the_sitemap_and_the_feed_list_every_published_offer() {
    let app = spawn(&[]).await;
    let (company, offer) = acme(&app).await;
    let closed = closed_offer(&app, &company).await;
    let sitemap = client().get(app.url("/jobs/acme/sitemap.xml")).send().await.unwrap();
    assert!(header(&sitemap, "content-type").starts_with("application/xml"));
    let sitemap = sitemap.text().await.unwrap();
    assert!(sitemap.contains(&format!("<loc>{BASE_URL}/jobs/acme/{}</loc><lastmod>", offer.id)), "{sitemap}");
    assert!(!sitemap.contains(&closed.id.to_string()));
    let feed = client().get(app.url("/jobs/acme/feed.xml")).send().await.unwrap().text().await.unwrap();
    assert!(feed.starts_with("<?xml") && feed.contains("<source>") && feed.contains("<job>"), "{feed}");
    assert!(feed.contains(&format!("<referencenumber><![CDATA[{}]]></referencenumber>", offer.id)), "{feed}");
    assert!(
        feed.contains("<jobtype><![CDATA[fulltime]]></jobtype>") && feed.contains("<city><![CDATA[Paris]]></city>")
    );
    assert!(!feed.contains(&closed.id.to_string()));
}

#[tokio::test]
async fn the_logo_and_the_accent_colour_are_served_from_the_same_origin() {
    let app = spawn(&[]).await;
    let (company, offer) = acme(&app).await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRfake".to_vec();
    let changes = talqo_server::db::companies::PageSettingsChanges {
        logo: Some(Some((png.as_slice(), "image/png"))),
        ..Default::default()
    };
    talqo_server::db::companies::update_page_settings(&app.db, company.id, &changes).await.unwrap();
    let html = client().get(app.url(&format!("/jobs/acme/{}", offer.id))).send().await.unwrap().text().await.unwrap();
    let logo_src = html.split("<img src=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a logo");
    assert!(logo_src.starts_with("/jobs/acme/logo?v="), "{logo_src}");
    let logo = client().get(app.url(logo_src)).send().await.unwrap();
    assert_eq!(header(&logo, "content-type"), "image/png");
    assert!(header(&logo, "cache-control").contains("immutable"));
    assert_eq!(logo.bytes().await.unwrap().as_ref(), png.as_slice());
    assert!(html.contains("href=\"/jobs/_assets/accent/0f766e.css\""), "{html}");
    let accent = client().get(app.url("/jobs/_assets/accent/0f766e.css")).send().await.unwrap();
    assert!(header(&accent, "content-type").starts_with("text/css"));
    assert!(accent.text().await.unwrap().contains("--accent:#0f766e"));
    let stylesheet = html.split("<link rel=\"stylesheet\" href=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let css = client().get(app.url(stylesheet)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.text().await.unwrap().contains(".error-summary"));
    // Nothing on the page is loaded from another origin: every element that loads something names a path.
    for tag in
        html.split('<').skip(1).filter(|t| t.starts_with("img ") || t.starts_with("link ") || t.starts_with("script "))
    {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if tag.contains("rel=\"canonical\"") {
            continue;
        }
        for attribute in ["src=\"", "href=\""] {
            if let Some(value) = tag.split(attribute).nth(1) {
                assert!(value.starts_with('/') && !value.starts_with("//"), "<{tag}");
            }
        }
    }
}
