//! `POST /api/job_applications` (CONTRACT §6) and `GET /api/job_applications/{id}` (CONTRACT §7): the Talqo
//! API's door into the intake pipeline. The POST handler reads the multipart body, hands it to the pipeline's
//! checks and maps what comes back to the Talqo document's answers; [`talqo_refusal`] is the one place those
//! messages are written.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Path, Request, State, rejection::PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::application_form::{ContentTypeCheck, FormError, check_content_type, read_application_form};
use super::envelope::Success;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::cv::CvRejection;
use crate::db;
use crate::db::job_applications::{ApplicationReceipt, JobApplication};
use crate::domain::application_source::application_source;
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::domain::timestamp;
use crate::service::auth::Caller;
use crate::service::intake::{
    Door, FILE_MISSING_MESSAGE, Field, IntakeError, NewSubmission, OFFER_NOT_OPEN_MESSAGE, Outcome, Refusal,
};

pub const UNSUPPORTED_CONTENT_TYPE: &str =
    "Unsupported Content-Type. Use multipart/form-data with the CV in the \"cv\" file field.";

/// Routes relative to `/api`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/job_applications", post(create_job_application))
        .route("/job_applications/", get(missing_application_id))
        .route("/job_applications/{application_id}", get(get_job_application))
}

/// The multipart form, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ApplicationFormFields {
    /// The offer (must be the company's, and `open` or `active`).
    #[schema(format = Uuid, pattern = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")]
    job_offer_id: String,
    /// Trimmed; not blank. At most 64 KiB (UTF-8), like every text field.
    #[schema(min_length = 1, max_length = 65536, pattern = r"\S")]
    first_name: String,
    #[schema(min_length = 1, max_length = 65536, pattern = r"\S")]
    last_name: String,
    /// `local@domain`, no spaces, at most 254 characters; trimmed and lowercased.
    #[schema(min_length = 3, max_length = 254, pattern = r"^\s*[^\s@]+@[^\s@]+\s*$")]
    email: String,
    /// PDF or DOCX, detected from its bytes; at most MAX_CV_BYTES (10 MiB by default).
    #[schema(value_type = String, format = Binary)]
    cv: Vec<u8>,
    #[schema(max_length = 65536)]
    phone: Option<String>,
    #[schema(max_length = 65536)]
    linkedin_url: Option<String>,
    /// Stored as-is; empty when omitted.
    #[schema(max_length = 65536)]
    cover_letter: Option<String>,
}

// CONTRACT §6.
/// What `POST /api/job_applications` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApplicationCreated {
    pub application_id: Uuid,
    pub candidate_id: Uuid,
    /// `new`, `rejected` under auto-reject, or the current status of an existing application.
    pub status: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2024-01-15T10:00:00Z")]
    pub created_at: DateTime<Utc>,
}

impl From<ApplicationReceipt> for ApplicationCreated {
    fn from(receipt: ApplicationReceipt) -> Self {
        ApplicationCreated {
            application_id: receipt.application_id,
            candidate_id: receipt.candidate_id,
            status: receipt.status,
            created_at: receipt.created_at,
        }
    }
}

// CONTRACT §7.
/// What `GET /api/job_applications/{id}` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApplicationStatus {
    pub id: Uuid,
    pub candidate_id: Uuid,
    pub job_offer_id: Uuid,
    pub status: String,
    /// Domain the application came from, e.g. `careers.my-company.com`, or `career_site`.
    pub source: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2024-01-15T10:00:00Z")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2024-01-15T11:00:00Z")]
    pub updated_at: DateTime<Utc>,
}

impl From<JobApplication> for ApplicationStatus {
    fn from(application: JobApplication) -> Self {
        ApplicationStatus {
            id: application.id,
            candidate_id: application.candidate_id,
            job_offer_id: application.job_offer_id,
            status: application.status,
            source: application.source,
            created_at: application.created_at,
            updated_at: application.updated_at,
        }
    }
}

/// The 200 answer for an application that already existed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExistingApplication {
    #[schema(example = "success")]
    status: &'static str,
    data: ApplicationCreated,
    #[schema(example = "Application already exists")]
    message: &'static str,
}

/// Create an application from a career site, with the CV as a file.
#[utoipa::path(
    post,
    path = "/api/job_applications",
    tag = "Applications",
    request_body(content = ApplicationFormFields, content_type = "multipart/form-data"),
    params(
        ("Origin" = Option<String>, Header, description = "The application's source is this URL's hostname"),
        ("Referer" = Option<String>, Header, description = "Used for the source when Origin is absent"),
    ),
    responses(
        (status = 201, description = "Application created (`status` is `new`, or `rejected` under auto-reject)", body = Success<ApplicationCreated>),
        (status = 200, description = "The candidate already applied: the application as it is now", body = ExistingApplication),
        (status = 400, description = "`job_offer_id is required`, `Invalid job_offer_id format`, `first_name, last_name, and email are required`, \
            `email is invalid`, `cv file is required (multipart field \"cv\")`, `CV validation failed: …`, `Invalid multipart payload`, \
            `Job offer is not open for applications`, `<field> is too long`, `<field> is invalid`", body = ErrorBody),
        (status = 401, description = "`API key is required` or `Invalid API key`", body = ErrorBody),
        (status = 403, description = "`Job offer does not belong to your company`", body = ErrorBody),
        (status = 404, description = "`Job offer not found`", body = ErrorBody),
        (status = 413, description = "`Request body too large` (parts other than the CV beyond a few MiB)", body = ErrorBody),
        (status = 415, description = "`Unsupported Content-Type. Use multipart/form-data with the CV in the \"cv\" file field.`", body = ErrorBody),
        (status = 429, description = "`Too many requests. Please retry later.`", body = ErrorBody),
        (status = 500, description = "`Failed to upload CV: …`", body = ErrorBody),
        (status = 503, description = "The same application is being processed by another request; retry", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn create_job_application(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> ApiResult<Response> {
    // CONTRACT §6, items 2 and 3.
    let boundary = match check_content_type(request.headers()) {
        ContentTypeCheck::Multipart(boundary) => boundary,
        ContentTypeCheck::Unsupported => {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, UNSUPPORTED_CONTENT_TYPE));
        }
        ContentTypeCheck::MissingBoundary => return Err(ApiError::bad_request("Invalid multipart payload")),
    };
    let headers = request.headers();
    let source = application_source(
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::REFERER).and_then(|v| v.to_str().ok()),
    );
    let body: Body = request.into_body();
    let intake = &state.intake;
    let fields =
        read_application_form(body, boundary, intake.max_cv_bytes(), intake.spool_dir()).await.map_err(|error| {
            match error {
                FormError::Invalid => ApiError::bad_request("Invalid multipart payload"),
                FormError::CvTooLarge => talqo_refusal(&Refusal::CvTooLarge { max_bytes: intake.max_cv_bytes() }),
                FormError::FieldTooLong(field) => talqo_refusal(&Refusal::TooLong(field)),
                FormError::BodyTooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
                FormError::Spool(error) => ApiError::internal(anyhow::Error::new(error).context("spooling a CV")),
            }
        })?;
    // Items 4 to 9: the first refusal answers.
    let checked = match intake.check_application(caller.company_id, fields).await.map_err(intake_error)? {
        Ok(checked) => checked,
        Err(refusals) => {
            let first = refusals.first().ok_or_else(|| ApiError::internal(anyhow::anyhow!("refused for no reason")))?;
            return Err(talqo_refusal(first));
        }
    };
    let outcome = match intake.submit(NewSubmission::from_checked(Door::TalqoApi, checked, source)).await {
        Ok(outcome) => outcome,
        Err(IntakeError::StillProcessing) => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The same application is still being processed. Please retry later.",
            )
            .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return Ok(response);
        }
        Err(error) => return Err(intake_error(error)),
    };
    match outcome {
        Outcome::Created(receipt) => {
            Ok((StatusCode::CREATED, Json(Success::new(ApplicationCreated::from(receipt)))).into_response())
        }
        Outcome::AlreadyExists(receipt) => Ok(Json(ExistingApplication {
            status: "success",
            data: receipt.into(),
            message: "Application already exists",
        })
        .into_response()),
        // The offer closed between the checks and the processing.
        Outcome::Failed(OFFER_NOT_OPEN_MESSAGE) => Err(talqo_refusal(&Refusal::OfferNotOpen)),
        Outcome::Failed(reason) => {
            debug_assert_eq!(reason, FILE_MISSING_MESSAGE);
            Err(ApiError::internal(anyhow::anyhow!("processing failed: {reason}")))
        }
    }
}

/// The Talqo document's answer to each refusal of the pipeline (CONTRACT §6 items 4 to 9, §11).
fn talqo_refusal(refusal: &Refusal) -> ApiError {
    match refusal {
        Refusal::Missing(Field::JobOfferId) => ApiError::bad_request("job_offer_id is required"),
        Refusal::MalformedJobOfferId => ApiError::bad_request("Invalid job_offer_id format"),
        Refusal::Missing(Field::Cv) => ApiError::bad_request("cv file is required (multipart field \"cv\")"),
        Refusal::Missing(_) => ApiError::bad_request("first_name, last_name, and email are required"),
        Refusal::EmailInvalid => ApiError::bad_request("email is invalid"),
        Refusal::CvEmpty => cv_rejected(&CvRejection::Empty),
        Refusal::CvUnsupportedFormat => cv_rejected(&CvRejection::Unsupported),
        Refusal::CvTooLarge { max_bytes } => {
            ApiError::bad_request(format!("CV validation failed: CV file too large (max {max_bytes} bytes)"))
        }
        Refusal::OfferNotFound => ApiError::not_found("Job offer not found"),
        Refusal::OfferOfAnotherCompany => ApiError::forbidden("Job offer does not belong to your company"),
        Refusal::OfferNotOpen => ApiError::bad_request(OFFER_NOT_OPEN_MESSAGE),
        Refusal::TooLong(field) => ApiError::bad_request(format!("{} is too long", field.name())),
        Refusal::InvalidCharacters(field) => ApiError::bad_request(format!("{} is invalid", field.name())),
    }
}

fn cv_rejected(rejection: &CvRejection) -> ApiError {
    ApiError::bad_request(Cow::Owned(format!("CV validation failed: {rejection}")))
}

fn intake_error(error: IntakeError) -> ApiError {
    match error {
        IntakeError::Upload(error) => {
            tracing::error!(
                error = format!("{:#}", anyhow::Error::new(IntakeError::Upload(error))),
                "CV upload failed"
            );
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Failed to upload CV: object storage request failed")
        }
        IntakeError::StillProcessing => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "Service temporarily unavailable")
        }
        IntakeError::Database(error) => error.into(),
        IntakeError::Internal(error) => ApiError::internal(error),
    }
}

// CONTRACT §7. (Doc comments of annotated handlers become the OpenAPI description.)
/// An application's status.
#[utoipa::path(
    get,
    path = "/api/job_applications/{application_id}",
    tag = "Applications",
    params(("application_id" = uuid::Uuid, Path, description = "The application's id: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal digits in either case", pattern = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")),
    responses(
        (status = 200, description = "The application", body = Success<ApplicationStatus>),
        (status = 400, description = "`Invalid application ID format`", body = ErrorBody),
        (status = 401, description = "`API key is required` or `Invalid API key`", body = ErrorBody),
        (status = 403, description = "`Application does not belong to your company`", body = ErrorBody),
        (status = 404, description = "`Application not found`", body = ErrorBody),
        (status = 429, description = "`Too many requests. Please retry later.`", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_job_application(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Success<ApplicationStatus>>> {
    let id = id
        .ok()
        .and_then(|Path(raw)| parse_strict_uuid(&raw))
        .ok_or_else(|| ApiError::bad_request("Invalid application ID format"))?;
    let application =
        db::job_applications::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("Application not found"))?;
    if application.company_id != caller.company_id {
        return Err(ApiError::forbidden("Application does not belong to your company"));
    }
    Ok(Json(Success::new(application.into())))
}

async fn missing_application_id() -> ApiError {
    ApiError::bad_request("Invalid application ID format")
}
