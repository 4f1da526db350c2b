//! The Teamio import API (CONTRACT §12), a second front door into the intake pipeline: job boards and ATSs
//! that speak Teamio's protocol push candidates as JSON with base64 attachments, get a `requestUuid` once the
//! request is durable, and poll it while a background worker processes it.
//!
//! This module only speaks the protocol: the token endpoint, the bearer check, the per-company limit, the
//! streaming body reader and its field checks, and Teamio's error shape ([`error::TeamioError`]) for every
//! answer it gives. Accepting and processing the submission is [`crate::service::intake`]'s.
//!
//! Routes, relative to `/api/v1` (the per-IP limit of §3 and the API log of §8 wrap them from outside):
//! - `POST /auth/token`
//! - `POST /candidate-reactions`, `POST /candidate-reactions/test`
//! - `GET /candidate-reactions/{requestUuid}`

pub mod auth;
pub mod base64_spool;
pub mod checks;
pub mod company_limit;
pub mod error;
pub mod json_stream;
pub mod reaction_body;
pub mod reactions;
pub mod token;

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use super::AppState;
use crate::config::Settings;
use company_limit::CompanyRateLimiter;
use error::TeamioError;

/// What the import API needs beside the shared state.
pub struct ImportApi {
    pub token_ttl: Duration,
    pub company_limiter: CompanyRateLimiter,
    pub max_body_bytes: u64,
    pub max_attachment_bytes: u64,
    /// CONTRACT §12: a completed request's `link` is `{PUBLIC_BASE_URL}/api/job_applications/{id}`.
    pub public_base_url: String,
}

impl ImportApi {
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let limit = settings.import.rate_limit_per_company;
        let company_limiter = match &settings.redis_url {
            Some(url) => CompanyRateLimiter::redis(limit, url, &settings.redis_key_prefix).await?,
            None => CompanyRateLimiter::in_memory(limit),
        };
        Ok(ImportApi {
            token_ttl: settings.import.token_ttl,
            company_limiter,
            max_body_bytes: settings.import.max_body_bytes,
            max_attachment_bytes: settings.import.max_attachment_bytes,
            public_base_url: settings.public_base_url.clone(),
        })
    }
}

/// The routes under `/api/v1`. Unknown paths and methods answer in Teamio's shape here already.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(token::issue_token))
        .route("/candidate-reactions", post(reactions::create_reaction))
        .route("/candidate-reactions/test", post(reactions::test_reaction))
        .route("/candidate-reactions/{request_uuid}", get(reactions::reaction_status))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
}

async fn not_found() -> TeamioError {
    TeamioError::not_found("Not found")
}

async fn method_not_allowed() -> TeamioError {
    TeamioError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "Method not allowed")
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = crate::panic_detail::panic_detail(panic.as_ref());
    axum::response::IntoResponse::into_response(TeamioError::internal(anyhow::anyhow!("a handler panicked: {detail}")))
}

/// `application/json`, with parameters such as `charset` allowed (CONTRACT §12, step 3).
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}
