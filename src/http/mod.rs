//! The HTTP edge: routes, the layers in front of them, and the JSON envelope. Everything that knows about
//! status codes and headers lives here; the work itself is done by [`crate::service`].
//!
//! Layers around the career-site routes, outermost first:
//! request id → trace span → JSON errors → rate limit (§3) → API log (§8) → panic catcher → API key (§2) → handler.

pub mod api_log;
pub mod application_form;
pub mod auth;
pub mod client_ip;
pub mod envelope;
pub mod error;
pub mod health;
pub mod job_applications;
pub mod job_offers;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod rate_limit;

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::service::api_log::ApiLogQueue;
use crate::service::intake::Intake;
use error::{ApiError, default_message, error_response};
use rate_limit::RateLimiter;

/// What every handler and layer can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub rate_limiter: Arc<RateLimiter>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub api_log: ApiLogQueue,
    /// The pipeline every front door feeds; it knows `MAX_CV_BYTES` and `SPOOL_DIR`.
    pub intake: Arc<Intake>,
    /// CONTRACT §10, §13: `PUBLIC_BASE_URL`, the base of the links the hosted pages serve.
    pub public_base_url: Arc<str>,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    // Under /api: unknown paths answer 404 without asking for a key, but still count and are logged.
    let career_site = Router::new()
        .merge(job_offers::router())
        .merge(job_applications::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_api_key))
        .fallback(unknown_route)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), api_log::record_request))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit_by_client_ip));

    Router::new()
        .nest("/api", career_site)
        .nest("/jobs", pages::router(state.clone()))
        .merge(health::router())
        .merge(openapi::router())
        .merge(metrics::router())
        .fallback(unknown_route)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(json_errors))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
            let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), route, request_id)
        }))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::observe_request))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("Not found")
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "a request handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error".to_owned())
}

/// CONTRACT §1: no plain-text or HTML error ever leaves the server. Anything below our handlers that
/// answered an error without a JSON body (a body limit, an extractor) is rewritten into the envelope.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // CONTRACT §13: the hosted pages' errors are pages, never the envelope.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_page {
        return response;
    }
    let (parts, _body) = response.into_parts();
    let mut rewritten = error_response(status, default_message(status).to_owned());
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten.into_response()
}
