//! The HTTP edge: routes, the layers in front of them, and the JSON envelope. Everything that knows about
//! status codes and headers lives here; the work itself is done by [`crate::service`].
//!
//! Layers around the career-site routes, outermost first:
//! request id → trace span → head size (§11) → JSON errors → panic catcher → rate limit (§3) → API log (§8)
//! → body timeout (§11) → panic catcher → API key (§2) → handler.
//! Below them all, [`connection`] owns the sockets: timeouts, the connection cap, graceful shutdown (§11).

pub mod api_log;
pub mod application_form;
pub mod auth;
pub mod client_ip;
pub mod connection;
pub mod envelope;
pub mod error;
pub mod health;
pub mod job_applications;
pub mod job_offers;
pub mod listing_cache;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod rate_limit;
pub mod teamio;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, OriginalUri, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use ipnet::IpNet;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::ConnectionLimits;
use crate::panic_detail::panic_detail;
use crate::service::api_log::ApiLogQueue;
use crate::service::intake::Intake;
use client_ip::ClientIpHeader;
use connection::BodyTimedOut;
use error::{ErrorMessage, ErrorShape, default_message, error_shape, shaped_error_response};
use rate_limit::RateLimiter;

/// What every handler and layer can reach: one shared allocation, so that the clone every layer and
/// extractor makes of it per request is one reference count rather than one per field.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The services and settings behind [`AppState`].
pub struct SharedState {
    pub db: PgPool,
    pub rate_limiter: Arc<RateLimiter>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub api_log: ApiLogQueue,
    /// The pipeline every front door feeds; it knows `MAX_CV_BYTES` and `SPOOL_DIR`.
    pub intake: Arc<Intake>,
    /// CONTRACT §12: the Teamio import API's limits and token lifetime.
    pub import_api: Arc<teamio::ImportApi>,
    /// CONTRACT §10, §13: `PUBLIC_BASE_URL`, the base of the links the hosted pages serve.
    pub public_base_url: Arc<str>,
    /// CONTRACT §11: the one forwarded header believed from `trusted_proxies`.
    pub client_ip_header: ClientIpHeader,
    /// CONTRACT §11: timeouts and the connection cap, applied by [`serve`].
    pub connection_limits: ConnectionLimits,
    /// CONTRACT §11: how long requests in flight get once shutdown begins.
    pub shutdown_timeout: Duration,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    // Under /api: unknown paths answer 404 without asking for a key, but still count and are logged.
    let career_site = Router::new()
        .merge(job_offers::router())
        .merge(job_applications::router())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_api_key))
        // CONTRACT §12: the Teamio door checks its own bearer tokens (added after the API key layer).
        .nest("/v1", teamio::router())
        .fallback(unknown_route)
        .layer(middleware::from_fn(catch_panics))
        // Inside the API log, so that the log records the 408 the client reads.
        .layer(middleware::from_fn(answer_body_timeouts))
        .layer(middleware::from_fn_with_state(state.clone(), api_log::record_request))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::limit_by_client_ip));

    Router::new()
        .nest("/api", career_site)
        .nest("/jobs", pages::router(state.clone()))
        .merge(health::router())
        .merge(openapi::router())
        .merge(metrics::router())
        .fallback(unknown_route)
        .layer(middleware::from_fn(catch_panics))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(refuse_oversized_heads))
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

/// Serves until `shutdown` resolves, then stops accepting, gives the requests in flight
/// `state.shutdown_timeout` to finish, and returns (CONTRACT §10, §11).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.connection_limits.clone();
    let shutdown_timeout = state.shutdown_timeout;
    connection::serve_connections(listener, router(state), limits, shutdown_timeout, shutdown).await
}

/// The path as the client sent it, also inside a nested router (which strips its prefix from the URI).
fn request_path(request: &Request) -> &str {
    request.extensions().get::<OriginalUri>().map_or_else(|| request.uri().path(), |original| original.path())
}

async fn unknown_route(OriginalUri(uri): OriginalUri) -> Response {
    shaped_error_response(error_shape(uri.path()), StatusCode::NOT_FOUND, "Not found".to_owned())
}

/// A panicking handler answers 500 in its path's shape, and the server goes on.
async fn catch_panics(request: Request, next: Next) -> Response {
    let shape = error_shape(request_path(&request));
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            tracing::error!(panic = %panic_detail(panic.as_ref()), "a request handler panicked");
            shaped_error_response(shape, StatusCode::INTERNAL_SERVER_ERROR, "Internal server error".to_owned())
        }
    }
}

/// CONTRACT §11: a body that went idle answers 408, whatever the handler made of the cut-off body, and the
/// connection closes (the rest of the body will never be read).
async fn answer_body_timeouts(request: Request, next: Next) -> Response {
    let shape = error_shape(request_path(&request));
    let timed_out = request.extensions().get::<BodyTimedOut>().cloned();
    let response = next.run(request).await;
    match timed_out {
        Some(timed_out) if timed_out.is_set() && response.status() != StatusCode::REQUEST_TIMEOUT => {
            tracing::info!("request body idle for BODY_IDLE_TIMEOUT: 408");
            let mut timeout = shaped_error_response(
                shape,
                StatusCode::REQUEST_TIMEOUT,
                default_message(StatusCode::REQUEST_TIMEOUT).to_owned(),
            );
            timeout.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            timeout
        }
        _ => response,
    }
}

/// CONTRACT §11: request line and headers over 64 KiB in all → 431. hyper refuses heads beyond its read
/// buffer itself (its answer is rewritten by [`connection`]); this catches those between 64 KiB and that.
async fn refuse_oversized_heads(request: Request, next: Next) -> Response {
    let head_bytes = request.method().as_str().len()
        + request.uri().path_and_query().map_or(0, |p| p.as_str().len())
        + request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>();
    if head_bytes <= connection::MAX_HEAD_BYTES {
        return next.run(request).await;
    }
    let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    let mut refused = match error_shape(request.uri().path()) {
        ErrorShape::Outside => status.into_response(),
        shape => shaped_error_response(shape, status, default_message(status).to_owned()),
    };
    refused.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
}

/// CONTRACT §1, §11: no plain-text or HTML error ever leaves `/api`. Anything below our handlers that
/// answered an error without a JSON body (a body limit, an extractor, a timeout) is rewritten into the
/// envelope; under `/api/v1/` every error of ours is rendered again in Teamio's shape. Outside `/api`
/// (HTML pages, health checks) answers are left as their handlers made them.
async fn json_errors(request: Request, next: Next) -> Response {
    let shape = error_shape(request.uri().path());
    let timed_out = request.extensions().get::<BodyTimedOut>().cloned();
    let response = next.run(request).await;
    if shape == ErrorShape::Outside {
        return response;
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let ours = response.extensions().get::<ErrorMessage>().map(|m| m.0.clone());
    let body_timed_out = timed_out.is_some_and(|t| t.is_set()) && status != StatusCode::REQUEST_TIMEOUT;
    if is_json && !body_timed_out && !(shape == ErrorShape::Teamio && ours.is_some()) {
        return response;
    }
    let (status, message) = if body_timed_out {
        (StatusCode::REQUEST_TIMEOUT, default_message(StatusCode::REQUEST_TIMEOUT).to_owned())
    } else {
        (status, ours.unwrap_or_else(|| default_message(status).to_owned()))
    };
    let (parts, _body) = response.into_parts();
    let mut rewritten = shaped_error_response(shape, status, message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if body_timed_out {
        rewritten.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    rewritten
}
