//! Teamio's error shape (CONTRACT §12): every error this door answers is
//! `{"error":"<CODE>","message":"<text>"}`, plus `"fieldErrors":[{"field","message"}]` on `VALIDATION_ERROR`,
//! never the §1 envelope.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One refused field: its path (`attachments[0].content`) and the reason alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    #[schema(example = "attachments[0].content")]
    pub field: String,
    #[schema(example = "must not be blank")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// The body of every error under `/api/v1/`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamioErrorBody {
    #[schema(example = "VALIDATION_ERROR")]
    pub error: &'static str,
    #[schema(example = "firstName: must not be blank; email: Email must be valid")]
    pub message: String,
    /// Only on `VALIDATION_ERROR` (and `ATTACHMENT_TOO_LARGE`, naming the attachment).
    #[serde(rename = "fieldErrors", skip_serializing_if = "Option::is_none")]
    pub field_errors: Option<Vec<FieldError>>,
}

/// An error answer of the import API: status, code, message, and the field errors when there are some.
#[derive(Debug)]
pub struct TeamioError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field_errors: Option<Vec<FieldError>>,
    pub retry_after: Option<u64>,
}

pub type TeamioResult<T> = Result<T, TeamioError>;

impl TeamioError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        TeamioError { status, code, message: message.into(), field_errors: None, retry_after: None }
    }

    /// `400 VALIDATION_ERROR`: `message` joins `"<field>: <reason>"` with `"; "` (CONTRACT §12, step 4).
    pub fn validation(field_errors: Vec<FieldError>) -> Self {
        let message = field_errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        TeamioError {
            field_errors: Some(field_errors),
            ..Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
        }
    }

    pub fn unauthorized(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn invalid_json(message: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_JSON", message)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    }

    pub fn payload_too_large(max_bytes: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body exceeds the limit of {max_bytes} bytes"),
        )
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        TeamioError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "Too many requests. Please retry later.")
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// A failure of ours: the cause goes to the log with its chain, the client reads a fixed message.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        tracing::error!(error = format!("{cause:#}"), "internal error in the import API");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal server error")
    }
}

impl From<sqlx::Error> for TeamioError {
    fn from(error: sqlx::Error) -> Self {
        TeamioError::internal(error)
    }
}

impl IntoResponse for TeamioError {
    fn into_response(self) -> Response {
        let body = TeamioErrorBody { error: self.code, message: self.message, field_errors: self.field_errors };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_join_field_and_reason() {
        let error = TeamioError::validation(vec![
            FieldError::new("firstName", "must not be blank"),
            FieldError::new("attachments[0].content", "must not be null"),
        ]);
        assert_eq!(error.code, "VALIDATION_ERROR");
        assert_eq!(error.message, "firstName: must not be blank; attachments[0].content: must not be null");
    }
}
