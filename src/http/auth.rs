//! The API key check (CONTRACT §2), as a layer on the career-site routes: it runs after the rate limiter and
//! before any handler, and hands the [`Caller`] to the handler (request extensions) and to the API log
//! (response extensions), and the company's [`OffersVersion`](crate::service::auth::OffersVersion) to the
//! listing's cache.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::service::auth::{Caller, authenticate_with_offers_version};

pub async fn require_api_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match presented_key(request.headers()) {
        PresentedKey::Missing => return unauthorized("API key is required"),
        PresentedKey::Unreadable => return unauthorized("Invalid API key"),
        PresentedKey::Value(raw) => match authenticate_with_offers_version(&state.db, &raw).await {
            Ok(Some((caller, offers_version))) => {
                request.extensions_mut().insert(offers_version);
                caller
            }
            Ok(None) => return unauthorized("Invalid API key"),
            Err(error) => return ApiError::internal(error).into_response(),
        },
    };
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    response.extensions_mut().insert::<Caller>(caller);
    response
}

fn unauthorized(message: &'static str) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, message).into_response()
}

enum PresentedKey {
    Missing,
    Unreadable,
    Value(String),
}

/// `X-API-Key` wins over `Authorization: Bearer` when both are sent. An empty value is a missing key.
fn presented_key(headers: &HeaderMap) -> PresentedKey {
    if let Some(value) = headers.get("x-api-key") {
        return match value.to_str() {
            Ok(v) if v.trim().is_empty() => PresentedKey::Missing,
            Ok(v) => PresentedKey::Value(v.to_owned()),
            Err(_) => PresentedKey::Unreadable,
        };
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return PresentedKey::Missing;
    };
    let Ok(value) = value.to_str() else {
        return PresentedKey::Unreadable;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            PresentedKey::Value(token.trim().to_owned())
        }
        // `Bearer` with nothing after it, or another scheme: no API key was given.
        _ => PresentedKey::Missing,
    }
}
