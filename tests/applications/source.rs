//! CONTRACT §6 "Source": the hostname (lowercase, no port) of `Origin`, else of `Referer`, else `career_site`;
//! `Origin: null` counts as absent, and `source` / `cv_url` fields in the body are ignored.

use crate::fixtures::{CV_PDF, Tenant, expect_created, stored_application};

/// Applies as a new person with the given headers; returns the stored source.
async fn source_with(tenant: &Tenant, person: &str, headers: &[(&str, &str)], extra: &[(&str, &str)]) -> String {
    let mut form = tenant.form(CV_PDF).person("Ana", person, &format!("{person}@example.com"));
    for (name, value) in extra {
        form = form.text(name, value);
    }
    let response = tenant
        .apply_with(&form, |mut request| {
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request
        })
        .await;
    let receipt = expect_created(response).await;
    stored_application(tenant.db(), receipt.application_id).await.source
}

#[tokio::test]
async fn the_source_is_the_origin_hostname_lowercased_without_its_port() {
    let tenant = Tenant::start().await;
    assert_eq!(
        source_with(&tenant, "a", &[("Origin", "https://Careers.My-Company.COM:8443")], &[]).await,
        "careers.my-company.com"
    );
    assert_eq!(
        source_with(
            &tenant,
            "b",
            &[("Origin", "https://jobs.acme.example"), ("Referer", "https://other.example/apply")],
            &[]
        )
        .await,
        "jobs.acme.example",
        "Origin wins over Referer"
    );
}

#[tokio::test]
async fn without_origin_the_referer_hostname_is_the_source() {
    let tenant = Tenant::start().await;
    assert_eq!(
        source_with(&tenant, "a", &[("Referer", "https://Jobs.Example.org:3000/apply?offer=1#form")], &[]).await,
        "jobs.example.org"
    );
}

#[tokio::test]
async fn origin_null_counts_as_absent() {
    let tenant = Tenant::start().await;
    assert_eq!(
        source_with(&tenant, "a", &[("Origin", "null"), ("Referer", "https://jobs.example.org/apply")], &[]).await,
        "jobs.example.org"
    );
    assert_eq!(source_with(&tenant, "b", &[("Origin", "null")], &[]).await, "career_site");
}

#[tokio::test]
async fn without_origin_or_referer_the_source_is_career_site() {
    let tenant = Tenant::start().await;
    assert_eq!(source_with(&tenant, "a", &[], &[]).await, "career_site");
}

#[tokio::test]
async fn source_and_cv_url_fields_in_the_body_are_ignored() {
    let tenant = Tenant::start().await;
    let extra = [("source", "linkedin.com"), ("cv_url", "https://evil.example/cv.pdf")];
    assert_eq!(source_with(&tenant, "a", &[], &extra).await, "career_site");
    assert_eq!(
        source_with(&tenant, "b", &[("Origin", "https://careers.acme.example")], &extra).await,
        "careers.acme.example"
    );
    // The CV is the uploaded file, not the URL.
    let stored: (String, i64) =
        sqlx::query_as("SELECT cv_content_type, cv_size_bytes FROM candidates WHERE last_name = 'b'")
            .fetch_one(tenant.db())
            .await
            .unwrap();
    assert_eq!(
        stored,
        ("application/pdf".to_owned(), i64::try_from(crate::fixtures::corpus_bytes(CV_PDF).len()).unwrap())
    );
}
