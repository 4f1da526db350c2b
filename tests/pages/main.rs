//! The hosted job pages and the apply form (CONTRACT §13) over real HTTP against real PostgreSQL, and in a
//! real headless Chromium (tests/browser/pages.mjs): one fresh database and server per test.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod form;
mod pages;

use common::TestApp;
use talqo_server::db;
use talqo_server::db::companies::{Company, PageSettingsChanges};
use talqo_server::db::job_offers::{JobOffer, OfferFields};

pub const BASE_URL: &str = "https://jobs.example.test";

/// A server whose PUBLIC_BASE_URL is [`BASE_URL`], with the given variables.
pub async fn spawn(overrides: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("PUBLIC_BASE_URL", BASE_URL)];
    vars.extend_from_slice(overrides);
    TestApp::spawn_with(common::test_settings(&vars)).await
}

/// A company `acme` (French) framed by one origin, with an open offer whose description is hostile.
pub async fn acme(app: &TestApp) -> (Company, JobOffer) {
    let company = app.company("acme").await;
    let origins = vec!["https://careers.acme.test".to_owned()];
    let company = db::companies::update_page_settings(
        &app.db,
        company.id,
        &PageSettingsChanges { embed_origins: Some(&origins), accent_color: Some(Some("#0f766e")), logo: None },
    )
    .await
    .unwrap()
    .unwrap();
    let offer = app
        .offer(
            &company,
            OfferFields {
                title: Some("Développeuse Rust </script><script>alert(1)</script>".to_owned()),
                description: Some(HOSTILE_DESCRIPTION.to_owned()),
                location: Some("Paris, France".to_owned()),
                job_type: Some("CDI".to_owned()),
                status: Some("open".to_owned()),
                ..OfferFields::default()
            },
        )
        .await;
    (company, offer)
}

pub const HOSTILE_DESCRIPTION: &str = "# Le poste\n\nDe **vraies** missions.\n\n\
    <script>window.xss = 1; alert('xss')</script>\n\n<img src=x onerror=\"alert('img')\">\n\n\
    <iframe src=\"https://evil.example\"></iframe>\n\n[Cliquez](javascript:alert('link')) \
    [data](data:text/html,hello) <a href=\"javascript:alert(2)\">raw</a>\n\n- [x] fait\n- [ ] à faire\n\n\
    | a | b |\n|---|---|\n| 1 | 2 |\n\nhttps://acme.test/equipe\n";

pub async fn closed_offer(app: &TestApp, company: &Company) -> JobOffer {
    app.offer(
        company,
        OfferFields {
            title: Some("Stage data".to_owned()),
            status: Some("closed".to_owned()),
            ..OfferFields::default()
        },
    )
    .await
}

pub fn corpus_cv() -> std::path::PathBuf {
    common::corpus_dir().join("cv").join("altacv_sample.pdf")
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}
