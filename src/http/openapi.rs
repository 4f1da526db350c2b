//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::AppState;
use super::envelope::{Pagination, Success};
use super::error::ErrorBody;
use super::{job_applications, job_offers};
use crate::db::job_offers::JobOffer;
use job_applications::{ApplicationCreated, ApplicationStatus};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "talqo-server career-site API",
        description = "Talqo-compatible API for career sites: list a company's job offers and send applications \
                       with a CV. The company is inferred from the API key. Every error answers \
                       `{\"status\":\"error\",\"data\":null,\"message\":\"…\"}`. Each client IP may make \
                       CAREER_API_RATE_LIMIT_PER_IP requests per fixed 60-second window."
    ),
    paths(
        job_offers::list_job_offers,
        job_offers::get_job_offer,
        job_applications::create_job_application,
        job_applications::get_job_application
    ),
    components(schemas(
        JobOffer,
        Pagination,
        ErrorBody,
        Success<JobOffer>,
        ApplicationCreated,
        ApplicationStatus,
        Success<ApplicationCreated>,
        Success<ApplicationStatus>
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "Job offers", description = "The company's published job offers"),
        (name = "Applications", description = "Applications with a CV, and their status")
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

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
