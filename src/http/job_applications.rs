//! `POST /api/job_applications` (CONTRACT §6) and `GET /api/job_applications/{id}` (CONTRACT §7).
//!
//! The POST handler runs the request's checks in the contract's order (first failure answers), then hands a
//! [`Submission`] to the intake pipeline.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Path, Request, State, rejection::PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;

use super::AppState;
use super::application_form::{ContentTypeCheck, FormError, check_content_type, read_application_form};
use super::envelope::Success;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::cv::{CvRejection, detect_cv_format};
use crate::db;
use crate::db::job_applications::{ApplicationReceipt, JobApplication};
use crate::domain::application_source::application_source;
use crate::domain::candidate::CandidateEmail;
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::service::auth::Caller;
use crate::service::intake::{IntakeError, OfferRefusal, Outcome, SpooledCv, Submission};

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

/// The 200 answer for an application that already existed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ExistingApplication {
    #[schema(example = "success")]
    status: &'static str,
    data: ApplicationReceipt,
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
        (status = 201, description = "Application created (`status` is `new`, or `rejected` under auto-reject)", body = Success<ApplicationReceipt>),
        (status = 200, description = "The candidate already applied: the application as it is now", body = ExistingApplication),
        (status = 400, description = "`job_offer_id is required`, `Invalid job_offer_id format`, `first_name, last_name, and email are required`, \
            `email is invalid`, `cv file is required (multipart field \"cv\")`, `CV validation failed: …`, `Invalid multipart payload`, \
            `Job offer is not open for applications`, `<field> is too long`", body = ErrorBody),
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
    // CONTRACT §6, item 2 and 3.
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
    let mut form = read_application_form(body, boundary, state.max_cv_bytes, &state.spool_dir).await.map_err(
        |error| match error {
            FormError::Invalid => ApiError::bad_request("Invalid multipart payload"),
            FormError::CvTooLarge => cv_too_large(state.max_cv_bytes),
            FormError::FieldTooLong(field) => ApiError::bad_request(format!("{field} is too long")),
            FormError::BodyTooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
            FormError::Spool(error) => ApiError::internal(anyhow::Error::new(error).context("spooling a CV")),
        },
    )?;

    let cv = form.cv.take();

    // Item 4.
    let offer_id = form.text("job_offer_id").ok_or_else(|| ApiError::bad_request("job_offer_id is required"))?;
    let offer_id = parse_strict_uuid(offer_id).ok_or_else(|| ApiError::bad_request("Invalid job_offer_id format"))?;
    // Item 5.
    let (Some(first_name), Some(last_name), Some(email)) =
        (form.text("first_name"), form.text("last_name"), form.text("email"))
    else {
        return Err(ApiError::bad_request("first_name, last_name, and email are required"));
    };
    let email = CandidateEmail::parse(email).ok_or_else(|| ApiError::bad_request("email is invalid"))?;
    // Item 6.
    let Some(cv) = cv else {
        return Err(ApiError::bad_request("cv file is required (multipart field \"cv\")"));
    };
    // Item 7: size, then format from the bytes (never the part's Content-Type or file name).
    if cv.too_large {
        return Err(cv_too_large(state.max_cv_bytes));
    }
    if cv.size == 0 {
        return Err(cv_rejected(&CvRejection::Empty));
    }
    let cv_path = cv.file.to_path_buf();
    let format = match tokio::task::spawn_blocking(move || detect_cv_format(&cv_path)).await {
        Ok(Ok(format)) => format,
        Ok(Err(CvRejection::Io(error))) => {
            return Err(ApiError::internal(anyhow::Error::new(error).context("reading a spooled CV")));
        }
        Ok(Err(rejection)) => return Err(cv_rejected(&rejection)),
        Err(join_error) => return Err(ApiError::internal(anyhow::anyhow!("CV format detection failed: {join_error}"))),
    };
    // Item 8.
    let offer = match state.intake.open_offer(caller.company_id, offer_id).await? {
        Ok(offer) => offer,
        Err(OfferRefusal::NotFound) => return Err(ApiError::not_found("Job offer not found")),
        Err(OfferRefusal::OtherCompany) => {
            return Err(ApiError::forbidden("Job offer does not belong to your company"));
        }
        Err(OfferRefusal::NotOpen) => return Err(ApiError::bad_request("Job offer is not open for applications")),
    };
    // Item 9.
    if let Some(field) = form.first_too_long() {
        return Err(ApiError::bad_request(format!("{field} is too long")));
    }

    let optional = |name: &str| form.text(name).map(str::to_owned);
    let submission = Submission {
        offer,
        email,
        first_name: first_name.to_owned(),
        last_name: last_name.to_owned(),
        phone: optional("phone"),
        linkedin_url: optional("linkedin_url"),
        cover_letter: form.fields.get("cover_letter").map(|f| f.value.clone()).unwrap_or_default(),
        source,
        cv: SpooledCv { file: cv.file, format, size_bytes: cv.size },
    };
    // The pipeline runs in a task of its own: a client that gives up (a proxy's timeout) does not cancel it
    // halfway, so the candidate is still created and the client's retry gets the 200.
    let intake = state.intake.clone();
    let outcome = state
        .intake_tasks
        .spawn(async move { intake.submit(submission).await })
        .await
        .map_err(|join_error| ApiError::internal(anyhow::anyhow!("the intake task failed: {join_error}")))?;
    match outcome {
        Ok(Outcome::Created(receipt)) => Ok((StatusCode::CREATED, Json(Success::new(receipt))).into_response()),
        Ok(Outcome::AlreadyExists(receipt)) => {
            Ok(Json(ExistingApplication { status: "success", data: receipt, message: "Application already exists" })
                .into_response())
        }
        Err(IntakeError::Upload(error)) => {
            tracing::error!(
                error = format!("{:#}", anyhow::Error::new(IntakeError::Upload(error))),
                "CV upload failed"
            );
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Failed to upload CV: object storage request failed"))
        }
        Err(IntakeError::StillProcessing) => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The same application is still being processed. Please retry later.",
            )
            .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            Ok(response)
        }
        Err(IntakeError::Internal(error)) => Err(ApiError::internal(error)),
    }
}

fn cv_too_large(max_bytes: u64) -> ApiError {
    ApiError::bad_request(format!("CV validation failed: CV file too large (max {max_bytes} bytes)"))
}

fn cv_rejected(rejection: &CvRejection) -> ApiError {
    ApiError::bad_request(Cow::Owned(format!("CV validation failed: {rejection}")))
}

// CONTRACT §7. (Doc comments of annotated handlers become the OpenAPI description.)
/// An application's status.
#[utoipa::path(
    get,
    path = "/api/job_applications/{application_id}",
    tag = "Applications",
    params(("application_id" = uuid::Uuid, Path, description = "The application's id: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal digits in either case", pattern = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")),
    responses(
        (status = 200, description = "The application", body = Success<JobApplication>),
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
) -> ApiResult<Json<Success<JobApplication>>> {
    let id = id
        .ok()
        .and_then(|Path(raw)| parse_strict_uuid(&raw))
        .ok_or_else(|| ApiError::bad_request("Invalid application ID format"))?;
    let application =
        db::job_applications::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("Application not found"))?;
    if application.company_id != caller.company_id {
        return Err(ApiError::forbidden("Application does not belong to your company"));
    }
    Ok(Json(Success::new(application)))
}

async fn missing_application_id() -> ApiError {
    ApiError::bad_request("Invalid application ID format")
}
