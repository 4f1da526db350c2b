//! `GET /metrics` (Prometheus text format, outside auth and rate limiting like the health routes) and the
//! layer that, for every request, counts it, times it and writes one access-log line. The metric names and
//! recording functions are in [`crate::observability`].

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::client_ip::client_ip;
use crate::observability;

/// The route label of requests that matched no route: one series for all of them, whatever the path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

async fn render(State(state): State<AppState>) -> Response {
    let body = observability::render(&state.db);
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Counts and times every request by its route pattern, and logs one line for it at the default level:
/// method, route, path (never the query string), status, latency, request id and client IP. Never a header
/// value such as a key, never a body (CONTRACT §8).
pub async fn observe_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED_ROUTE, MatchedPath::as_str).to_owned();
    // Bounded: a URI may be 64 KiB long (CONTRACT §11).
    let path: String = request.uri().path().chars().take(512).collect();
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| {
            client_ip(peer.ip(), request.headers(), &state.trusted_proxies, state.client_ip_header).to_string()
        })
        .unwrap_or_default();

    let response = next.run(request).await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    observability::record_http_request(method.as_str(), &route, status, elapsed);
    tracing::info!(
        target: "talqo_server::access",
        method = %method,
        route,
        path,
        status,
        latency_ms = (elapsed.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        request_id,
        client_ip,
        "request"
    );
    response
}
