//! CONTRACT §11, bad characters: a NUL or other C0 control character in a listing filter is a 400 that names
//! the filter, never a 500 from PostgreSQL.

use crate::common::{TestApp, error_message, open_offer};

#[tokio::test]
async fn a_control_character_in_any_filter_is_400_naming_it() {
    let app = TestApp::spawn().await;
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    app.offer(&company, open_offer("Rust developer")).await;
    for filter in ["location", "status", "job_type", "published_after", "published_before"] {
        for bad in ["%00", "Paris%00", "x%1Bx", "Lyon%0D%0AX-Injected:%201"] {
            let response = app.get(&format!("/api/job_offers?{filter}={bad}"), &key).await;
            assert_eq!(response.status(), 400, "{filter}={bad}");
            assert_eq!(error_message(response).await, format!("{filter} is invalid"), "{filter}={bad}");
        }
    }
    // Ordinary text still filters.
    let response = app.get("/api/job_offers?location=Saint-%C3%89tienne%20100%25", &key).await;
    assert_eq!(response.status(), 200);
}
