//! CONTRACT §8: applications and their reads are logged with endpoint, status and company, and no log row
//! holds the API key or the CV's contents.

use crate::fixtures::{CV_PDF, Tenant, expect_created};

/// company_id, api_key_id, method, endpoint, status_code
type LogRow = (Option<uuid::Uuid>, Option<uuid::Uuid>, String, String, i16);

#[tokio::test]
async fn a_post_and_a_get_are_logged_without_the_key_or_the_cv() {
    let tenant = Tenant::start().await;
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    let path = format!("/api/job_applications/{}", receipt.application_id);
    assert_eq!(tenant.app.get(&path, &tenant.key).await.status(), 200);
    let refused = tenant.post().header("Content-Type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(refused.status(), 415);

    assert_eq!(tenant.app.api_logs_eventually(3).await, 3);
    let rows: Vec<LogRow> =
        sqlx::query_as("SELECT company_id, api_key_id, method, endpoint, status_code FROM api_logs ORDER BY id")
            .fetch_all(tenant.db())
            .await
            .unwrap();
    let company = Some(tenant.company.id);
    let key = Some(tenant.key_id);
    assert_eq!(
        rows,
        [
            (company, key, "POST".to_owned(), "/api/job_applications".to_owned(), 201),
            (company, key, "GET".to_owned(), path.clone(), 200),
            (company, key, "POST".to_owned(), "/api/job_applications".to_owned(), 415),
        ]
    );

    // Neither the key nor any part of the CV (its header, its text) is in any column of any row.
    let cv_text: String =
        sqlx::query_scalar("SELECT cv_text FROM job_applications").fetch_one(tenant.db()).await.unwrap();
    let cv_snippet: String = cv_text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    for needle in [tenant.key.as_str(), &tenant.key[..12], "%PDF", cv_snippet.as_str()] {
        let leaked: i64 =
            sqlx::query_scalar("SELECT count(*) FROM api_logs WHERE strpos(row_to_json(api_logs)::text, $1) > 0")
                .bind(needle)
                .fetch_one(tenant.db())
                .await
                .unwrap();
        assert_eq!(leaked, 0, "{needle:?} is in the API log");
    }
}
