//! The API reference: `GET /openapi.json` (OpenAPI 3.1, generated from the handlers' annotations) and `/docs`,
//! a Swagger UI whose files are compiled into the binary, so it works on a machine without internet access.
//!
//! What every career-site operation has in common is added here once, after generation, so that no handler can
//! forget it: the rate-limit headers on every answer, and the 429, 500 and 503 answers of the layers in front
//! of the handlers.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::AppState;
use super::envelope::{Pagination, Success};
use super::error::ErrorBody;
use super::job_offers::JobOfferView;
use super::{job_applications, job_offers, teamio};
use job_applications::{ApplicationCreated, ApplicationStatus};

pub const DOCUMENT_PATH: &str = "/openapi.json";
pub const DOCS_PATH: &str = "/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "talqo-server career-site API",
        description = "Talqo-compatible API for career sites: list a company's job offers and send applications \
                       with a CV.\n\n\
                       **Authentication.** Send the company's API key as `X-API-Key: <key>` or \
                       `Authorization: Bearer <key>` (when both are sent, `X-API-Key` is used). The company is \
                       the key's; a `company_id` sent anywhere is ignored.\n\n\
                       **Errors.** Every error under `/api/` except `/api/v1/` answers \
                       `{\"status\":\"error\",\"data\":null,\"message\":\"…\"}` with \
                       `Content-Type: application/json`.\n\n\
                       **Rate limit.** Each client IP may make `CAREER_API_RATE_LIMIT_PER_IP` requests (100 by \
                       default) per fixed 60-second window, counted before the key is checked. Every answer under \
                       `/api/` carries `X-RateLimit-Limit` and `X-RateLimit-Remaining`; past the limit, 429 with \
                       `Retry-After`.\n\n\
                       **Timestamps** are RFC 3339 in UTC with second precision (`2024-01-15T10:00:00Z`); ids are \
                       lowercase UUIDs."
    ),
    paths(
        // The Talqo career-site API.
        job_offers::list_job_offers,
        job_offers::get_job_offer,
        job_applications::create_job_application,
        job_applications::get_job_application,
        // The Teamio candidate import API (under /api/v1/): its handlers' annotations are listed here, tagged
        // "Teamio import". Their error answers have Teamio's shape, so the common answers below leave them out.
        teamio::token::issue_token,
        teamio::reactions::create_reaction,
        teamio::reactions::test_reaction,
        teamio::reactions::reaction_status
    ),
    components(schemas(
        JobOfferView,
        job_offers::PositiveInteger,
        job_offers::PublicationBound,
        Pagination,
        ErrorBody,
        Success<JobOfferView>,
        ApplicationCreated,
        ApplicationStatus,
        Success<ApplicationCreated>,
        Success<ApplicationStatus>
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Job offers", description = "The company's published job offers"),
        (name = "Applications", description = "Applications with a CV, and their status"),
        (name = "Teamio import", description = "Teamio's candidate import protocol under `/api/v1/`: bearer tokens of \
            import clients, JSON with base64 attachments, answered once durable and processed in the background. \
            Every error is `{\"error\":\"<CODE>\",\"message\":\"…\"}` (+ `fieldErrors` on VALIDATION_ERROR)."),
        (name = "Operations", description = "Health checks for load balancers and orchestrators, and this document")
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document served at [`DOCUMENT_PATH`]: made once per process.
pub static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

/// [`ApiDoc`] with what the annotations cannot say: the servers, the routes outside `/api`, and the answers and
/// headers common to every career-site operation.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    // Relative: the document is served by the server it describes, whatever address it is reached at.
    doc["servers"] = json!([{"url": "/", "description": "The server that serves this document"}]);
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        // `data` of an error is always null; `Option<()>` cannot say so.
        if let Some(data) = schemas.get_mut("ErrorBody").and_then(|s| s.pointer_mut("/properties/data")) {
            *data = json!({"type": "null", "description": "Always `null`."});
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(operations) = item.as_object_mut() else { continue };
            for operation in operations.values_mut() {
                if path.starts_with("/api/v1/") {
                    add_rate_limit_headers(operation);
                } else if path.starts_with("/api/") {
                    add_career_site_answers(operation);
                    add_rate_limit_headers(operation);
                }
            }
        }
        paths.extend(operations_paths());
    }
    doc
}

fn rate_limit_headers() -> Value {
    json!({
        "X-RateLimit-Limit": {
            "description": "Requests allowed per client IP per 60-second window",
            "required": true,
            "schema": {"type": "integer", "minimum": 1}
        },
        "X-RateLimit-Remaining": {
            "description": "Requests left in the current window",
            "required": true,
            "schema": {"type": "integer", "minimum": 0}
        }
    })
}

fn add_rate_limit_headers(operation: &mut Value) {
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for response in responses.values_mut() {
        let Some(response) = response.as_object_mut() else { continue };
        let headers = response.entry("headers").or_insert_with(|| Value::Object(Map::new()));
        if let (Some(headers), Value::Object(common)) = (headers.as_object_mut(), rate_limit_headers()) {
            headers.extend(common);
        }
    }
}

/// The answers of the layers in front of every career-site handler (rate limit, panic catcher, database).
fn add_career_site_answers(operation: &mut Value) {
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let retry_after = json!({
        "description": "Seconds to wait before retrying",
        "required": true,
        "schema": {"type": "integer", "minimum": 1}
    });
    let common = [
        (
            "429",
            json!({
                "description": "`Too many requests. Please retry later.`: this client IP used its requests of the window",
                "headers": {"Retry-After": retry_after.clone()},
                "content": error.clone()
            }),
        ),
        ("500", json!({"description": "`Internal server error`", "content": error.clone()})),
        (
            "503",
            json!({
                "description": "`Service temporarily unavailable. Please retry later.`: the database is unreachable",
                "content": error
            }),
        ),
    ];
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for (status, response) in common {
        // 429 is the rate limiter's, the same everywhere; a handler's own 500 or 503 says more than ours.
        if status == "429" {
            responses.insert(status.to_owned(), response);
        } else {
            responses.entry(status).or_insert(response);
        }
    }
}

/// Routes outside `/api`: no key, no rate limit.
fn operations_paths() -> Map<String, Value> {
    let health = |summary: &str, description: &str, operation_id: &str, field: &str| {
        json!({"get": {
            "tags": ["Operations"],
            "summary": summary,
            "description": description,
            "operationId": operation_id,
            "security": [],
            "responses": {
                "200": {"description": "Yes", "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["status", "data"],
                    "properties": {
                        "status": {"type": "string", "const": "success"},
                        "data": {"type": "object", "required": [field], "properties": {field: {"type": "boolean", "const": true}}}
                    }
                }}}}
            }
        }})
    };
    let mut paths = Map::new();
    paths.insert(
        "/healthz".to_owned(),
        health("Is the process up?", "Answers while the process serves.", "healthz", "healthy"),
    );
    let mut readyz =
        health("Can it serve requests?", "200 when the database answers; 503 when it does not.", "readyz", "ready");
    readyz["get"]["responses"]["503"] = json!({
        "description": "The database is unreachable",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    });
    paths.insert("/readyz".to_owned(), readyz);
    paths.insert(
        DOCUMENT_PATH.to_owned(),
        json!({"get": {
            "tags": ["Operations"],
            "summary": "This document",
            "operationId": "openapi",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}}}
        }}),
    );
    paths
}

pub fn router() -> Router<AppState> {
    // No request to another origin from the page (its default validator badge would be one).
    let ui = SwaggerUi::new(DOCS_PATH)
        .config(Config::from(DOCUMENT_PATH).validator_url("none").try_it_out_enabled(true).display_operation_id(false));
    Router::new().route(DOCUMENT_PATH, get(serve_document)).merge(ui)
}

async fn serve_document() -> Response {
    let mut response = Json(&*DOCUMENT).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_career_site_answer_declares_the_rate_limit_headers() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/healthz") && paths.contains_key("/readyz"));
        let mut checked = 0;
        for (path, item) in paths.iter().filter(|(path, _)| path.starts_with("/api/")) {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                assert!(responses.contains_key("429"), "{method} {path}");
                for (status, response) in responses {
                    assert_eq!(
                        response["headers"]["X-RateLimit-Remaining"]["required"], true,
                        "{method} {path} {status}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "{checked}");
    }

    #[test]
    fn the_document_cites_nothing_integrators_do_not_have() {
        let text = document().to_string();
        assert!(!text.contains("CONTRACT"), "{text}");
        assert!(!text.contains("§"), "{text}");
    }

    #[test]
    fn ids_and_timestamps_have_formats() {
        let doc = document();
        let offer = &doc["components"]["schemas"]["JobOffer"]["properties"];
        assert_eq!(offer["id"]["format"], "uuid");
        assert_eq!(offer["updated_at"]["format"], "date-time");
        let get_offer = &doc["paths"]["/api/job_offers/{job_offer_id}"]["get"]["parameters"][0]["schema"];
        assert_eq!(get_offer["format"], "uuid", "{get_offer}");
    }
}
