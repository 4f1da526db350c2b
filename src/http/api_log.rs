//! Records every career-site request that passed the rate limiter into the API log queue (CONTRACT §8).

use std::time::Instant;

use axum::extract::{OriginalUri, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;

use super::AppState;
use super::client_ip::ClientIp;
use crate::db::api_logs::ApiLogEntry;
use crate::service::auth::Caller;
use crate::service::import_auth::{ImportCaller, ImportCredential};

pub async fn record_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let created_at = Utc::now();
    let method = request.method().to_string();
    // Inside `/api` the router sees the path without its prefix; the log keeps the path as sent.
    let endpoint = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path().to_owned(), |uri| uri.path().to_owned());
    let ip = request.extensions().get::<ClientIp>().map(|c| c.0);
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(512).collect());
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);

    let response = next.run(request).await;

    let caller = response.extensions().get::<Caller>().copied();
    // CONTRACT §12: the import API's callers (an import client's token, or an API key).
    let import_caller = response.extensions().get::<ImportCaller>().copied();
    let caller = caller.or_else(|| match import_caller?.credential {
        ImportCredential::ApiKey(api_key_id) => Some(Caller { company_id: import_caller?.company_id, api_key_id }),
        ImportCredential::Client(_) => None,
    });
    state.api_log.record(ApiLogEntry {
        company_id: caller.map(|c| c.company_id).or(import_caller.map(|c| c.company_id)),
        api_key_id: caller.map(|c| c.api_key_id),
        method,
        endpoint,
        status_code: response.status().as_u16(),
        latency_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        ip,
        user_agent,
        request_id,
        created_at,
    });
    response
}
