//! The error side of the envelope (CONTRACT §1): every error leaves as
//! `{"status":"error","data":null,"message":"…"}` with `Content-Type: application/json`, except under
//! `/api/v1/`, where Teamio's `{"error":"<CODE>","message":"…"}` is spoken instead (CONTRACT §12).
//! [`error_shape`] is the one place that decides which, from the request's path.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db;

/// An error answer: a status and the message the client reads. Internal causes are logged, never shown.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// A failure of ours: the cause goes to the log with its chain, the client reads a fixed message.
    /// A database outage anywhere in the chain is not a bug of ours: it answers 503 (CONTRACT §11).
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        let outage = cause.chain().any(|e| e.downcast_ref::<sqlx::Error>().is_some_and(db::is_database_unavailable));
        if outage {
            tracing::warn!(error = format!("{cause:#}"), "database unavailable");
            return Self::unavailable();
        }
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// CONTRACT §11: the database (or another part we need) is down; the answer carries `Retry-After`.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE)
    }
}

pub const UNAVAILABLE_MESSAGE: &str = "Service temporarily unavailable. Please retry later.";
/// `Retry-After` on every 503: long enough for a restarting PostgreSQL, short enough not to lose a candidate.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u32 = 5;

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::internal(error)
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Always `"error"`.
    #[schema(example = "error")]
    pub status: &'static str,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    pub data: Option<()>,
    pub message: String,
}

/// Teamio's error body (CONTRACT §12), for every error under `/api/v1/`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TeamioErrorBody {
    /// `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `REQUEST_TIMEOUT`, `PAYLOAD_TOO_LARGE`, `TOO_MANY_REQUESTS`, …
    pub error: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.message.into_owned();
        let mut response = error_response(self.status, message.clone());
        // The JSON-errors layer reads this to re-render the same error in Teamio's shape under /api/v1/.
        response.extensions_mut().insert(ErrorMessage(message));
        response
    }
}

/// The message of an error answer, kept beside the rendered body so that it can be rendered again in
/// another shape without parsing the body.
#[derive(Clone, Debug)]
pub struct ErrorMessage(pub String);

/// Which error body a path speaks (CONTRACT §1, §11, §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorShape {
    /// `/api/…`: the Talqo envelope.
    Envelope,
    /// `/api/v1/…`: Teamio's `{"error","message"}`.
    Teamio,
    /// Everything outside `/api` (health checks, the OpenAPI document, HTML pages): their handlers render
    /// their own errors and the HTTP layer leaves them alone; the server's own 404 there is the envelope.
    Outside,
}

/// The one function that decides the error shape, used by the fallback, the JSON-errors layer, the panic
/// catcher, the rate limiter, the 503 of an outage, and the connection layer's own 408/414/431.
pub fn error_shape(path: &str) -> ErrorShape {
    let path = path.split('?').next().unwrap_or(path);
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    if under("/api/v1") {
        ErrorShape::Teamio
    } else if under("/api") {
        ErrorShape::Envelope
    } else {
        ErrorShape::Outside
    }
}

/// An error answer in the shape `shape` speaks. 503s carry `Retry-After`.
pub fn shaped_error_response(shape: ErrorShape, status: StatusCode, message: String) -> Response {
    let mut response = match shape {
        ErrorShape::Teamio => {
            let body = TeamioErrorBody { error: teamio_code(status).to_owned(), message: message.clone() };
            let mut response = (status, Json(body)).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        ErrorShape::Envelope | ErrorShape::Outside => error_response(status, message.clone()),
    };
    response.extensions_mut().insert(ErrorMessage(message));
    response
}

pub fn error_response(status: StatusCode, message: String) -> Response {
    let body = ErrorBody { status: "error", data: None, message };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS));
    }
    response
}

/// Teamio's error code for a status the HTTP layer produces (CONTRACT §12). 414 and 431 have no code in
/// Teamio's list: they take the HTTP reason phrase, like `REQUEST_TIMEOUT` and `PAYLOAD_TOO_LARGE` do
/// (docs/compatibility.md).
pub fn teamio_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::URI_TOO_LONG => "URI_TOO_LONG",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "REQUEST_HEADER_FIELDS_TOO_LARGE",
        StatusCode::TOO_MANY_REQUESTS => "TOO_MANY_REQUESTS",
        StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
        s if s.is_server_error() => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    }
}

/// The message used when something below our handlers (the router, a body limit, a panic) answered with an
/// error of its own and no JSON body.
pub fn default_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::UNAUTHORIZED => "API key is required",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported Content-Type",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests. Please retry later.",
        StatusCode::REQUEST_TIMEOUT => "Request timed out",
        StatusCode::URI_TOO_LONG => "Request URI too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "Request headers too large",
        StatusCode::SERVICE_UNAVAILABLE => UNAVAILABLE_MESSAGE,
        s if s.is_server_error() => "Internal server error",
        _ => "Request failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_decides_the_shape() {
        for (path, shape) in [
            ("/api/job_offers", ErrorShape::Envelope),
            ("/api", ErrorShape::Envelope),
            ("/api/", ErrorShape::Envelope),
            ("/api/v1", ErrorShape::Teamio),
            ("/api/v1/recruitments?x=1", ErrorShape::Teamio),
            ("/api/v10/x", ErrorShape::Envelope),
            ("/apiary", ErrorShape::Outside),
            ("/jobs/acme", ErrorShape::Outside),
            ("/healthz", ErrorShape::Outside),
        ] {
            assert_eq!(error_shape(path), shape, "{path}");
        }
    }

    #[test]
    fn every_http_layer_status_has_a_teamio_code() {
        assert_eq!(teamio_code(StatusCode::REQUEST_TIMEOUT), "REQUEST_TIMEOUT");
        assert_eq!(teamio_code(StatusCode::BAD_GATEWAY), "INTERNAL_ERROR");
        assert_eq!(teamio_code(StatusCode::SERVICE_UNAVAILABLE), "SERVICE_UNAVAILABLE");
        assert_eq!(teamio_code(StatusCode::IM_A_TEAPOT), "BAD_REQUEST");
    }
}
