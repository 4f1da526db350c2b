//! `POST /api/v1/auth/token` (CONTRACT §12): an import client's credentials for an access token.

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::error::{FieldError, TeamioError, TeamioErrorBody, TeamioResult};
use super::is_json_content_type;
use crate::domain::timestamp;
use crate::http::AppState;
use crate::service::import_auth;

/// A token request is two short strings; anything much larger is not one.
const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// The import client's `client_id`; not blank.
    #[schema(example = "tic_0123456789abcdefghijklmn", min_length = 1, pattern = r"\S")]
    username: String,
    /// The import client's `client_secret`; not blank.
    #[schema(example = "tis_secret", min_length = 1, pattern = r"\S")]
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    #[serde(rename = "accessToken")]
    pub access_token: String,
    /// RFC 3339, UTC.
    #[serde(rename = "expiresAt")]
    #[schema(example = "2026-03-04T11:00:00Z")]
    pub expires_at: String,
    #[serde(rename = "tokenType")]
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
}

/// Exchange an import client's credentials for an access token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token",
    tag = "Teamio import",
    request_body(content = TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A token valid for IMPORT_TOKEN_TTL (1 hour by default) on every instance", body = TokenResponse),
        (status = 400, description = "`INVALID_JSON`, or `VALIDATION_ERROR` for a missing, non-string or blank username or password", body = TeamioErrorBody),
        (status = 401, description = "`UNAUTHORIZED` `Invalid client credentials` (unknown or revoked client, wrong secret)", body = TeamioErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = TeamioErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be application/json", body = TeamioErrorBody),
        (status = 429, description = "`TOO_MANY_REQUESTS` (per client IP)", body = TeamioErrorBody),
    )
)]
pub async fn issue_token(State(state): State<AppState>, request: Request) -> TeamioResult<Response> {
    if !is_json_content_type(request.headers()) {
        return Err(TeamioError::unsupported_media_type());
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_TOKEN_REQUEST_BYTES)
        .await
        .map_err(|_| TeamioError::payload_too_large(MAX_TOKEN_REQUEST_BYTES as u64))?;
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err(TeamioError::invalid_json("The request body must be a JSON object"));
    };
    let mut errors = Vec::new();
    let mut credential = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(name, "must not be null"));
            None
        }
        Some(Value::String(value)) if value.trim().is_empty() => {
            errors.push(FieldError::new(name, "must not be blank"));
            None
        }
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    };
    let (username, password) = (credential("username"), credential("password"));
    let (Some(username), Some(password)) = (username, password) else {
        return Err(TeamioError::validation(errors));
    };
    let issued = import_auth::issue_token(&state.db, &username, &password, state.import_api.token_ttl)
        .await
        .map_err(TeamioError::internal)?
        .ok_or_else(|| TeamioError::unauthorized("Invalid client credentials"))?;
    Ok(Json(TokenResponse {
        access_token: issued.access_token,
        expires_at: timestamp::format(&issued.expires_at),
        token_type: "Bearer",
    })
    .into_response())
}
