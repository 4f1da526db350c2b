//! CONTRACT §10: the database is created if missing, health checks, the OpenAPI document.

use serde_json::Value;

use crate::common::TestApp;

#[tokio::test]
async fn the_server_creates_and_migrates_its_database() {
    let app = TestApp::spawn().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    for table in ["api_keys", "api_logs", "companies", "job_offers"] {
        assert!(tables.iter().any(|t| t == table), "{table} missing from {tables:?}");
    }
}

#[tokio::test]
async fn health_checks_need_no_key() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers().get("x-request-id").is_some());
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let app = TestApp::spawn().await;
    // Terminate the server's connections and forbid new ones: the database is "unreachable".
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", crate::common::postgres_base_url())).await.unwrap();
    sqlx::raw_sql(&format!("ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS false", app.db_name))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&app.db_name)
        .execute(&admin)
        .await
        .unwrap();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(crate::common::error_message(response).await, "Database unavailable");
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
    sqlx::raw_sql(&format!("ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS true", app.db_name))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let list = &doc["paths"]["/api/job_offers"]["get"];
    let params: Vec<&str> =
        list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["page", "per_page", "status", "location", "job_type", "published_after", "published_before"] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    for status in ["200", "400", "401", "429"] {
        assert!(list["responses"][status].is_object(), "{status}");
    }
    assert!(list["responses"]["200"]["headers"]["X-RateLimit-Remaining"].is_object());
    let one = &doc["paths"]["/api/job_offers/{job_offer_id}"]["get"];
    for status in ["200", "400", "403", "404"] {
        assert!(one["responses"][status].is_object(), "{status}");
    }
    assert!(doc["components"]["schemas"]["JobOffer"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}
