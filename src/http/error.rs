//! The error side of the envelope (CONTRACT §1): every error leaves as
//! `{"status":"error","data":null,"message":"…"}` with `Content-Type: application/json`.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        tracing::error!(error = format!("{cause:#}"), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, self.message.into_owned())
    }
}

pub fn error_response(status: StatusCode, message: String) -> Response {
    let body = ErrorBody { status: "error", data: None, message };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
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
        s if s.is_server_error() => "Internal server error",
        _ => "Request failed",
    }
}
