//! `POST /api/v1/candidate-reactions`, its sandbox twin `/test`, and the poll
//! `GET /api/v1/candidate-reactions/{requestUuid}` (CONTRACT §12).
//!
//! The POST runs the contract's steps in order, the first failure answering: token (1), per-company limit (2),
//! Content-Type and the body read while it streams (3), the field checks (4–7), the offer (8). Then `/test`
//! answers 204 and drops everything (the spool files go with it); the production route hands the request to the
//! intake pipeline's *accept* and answers its id once the request is durable.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::auth::authorize;
use super::checks::{AttachmentKind, CheckedFile};
use super::checks::{CheckedReaction, check_reaction};
use super::error::{FieldError, TeamioError, TeamioErrorBody, TeamioResult};
use super::is_json_content_type;
use super::json_stream::{BodyError, JsonReader};
use super::reaction_body::read_reaction;
use crate::db;
use crate::db::job_offers::JobOffer;
use crate::domain::application_source::application_source;
use crate::domain::import_credentials::ImportEnvironment;
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::domain::timestamp;
use crate::http::AppState;
use crate::service::import_auth::ImportCaller;
use crate::service::intake::checks::{Refusal, check_offer};
use crate::service::intake::submission::{Consent, Door, FileRole, IncomingFile, NewSubmission};
use crate::service::intake::{IntakeError, detect_content_type};
use crate::spool::SpoolFile;

static LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// The request body, for the OpenAPI document (the server reads it as a stream).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CandidateReaction {
    /// At most 50 characters.
    #[schema(rename = "firstName", example = "Jane")]
    first_name: String,
    /// At most 50 characters.
    #[schema(example = "Smith")]
    surname: String,
    /// At most 50 characters.
    #[schema(example = "jane.smith@example.com")]
    email: String,
    /// Digits, spaces and `+ - ( ) .`, at most 50 characters.
    #[schema(example = "+420987654321")]
    phone: Option<String>,
    /// The offer's `recruitment_id` (shown by `talqo-server offer create|update`).
    #[schema(rename = "recruitmentId", example = 67890)]
    recruitment_id: i64,
    /// At most 5.
    attachments: Option<Vec<Attachment>>,
    #[schema(rename = "gdprNotice")]
    gdpr_notice: GdprNotice,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Attachment {
    /// At most 50 characters.
    #[schema(example = "cv.pdf")]
    filename: String,
    /// Base64 (standard alphabet, padding optional, white space ignored); at most MAX_ATTACHMENT_BYTES decoded.
    #[schema(example = "JVBERi0xLjQK")]
    content: String,
    /// At most 255 characters.
    #[schema(rename = "contentType", example = "application/pdf")]
    content_type: String,
    /// `CV`, `MOTIVATION_LETTER` or `OTHER` (optional on `consentText`).
    #[schema(rename = "type", example = "CV")]
    kind: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct GdprNotice {
    /// The consent document shown to the candidate; required with `validTo`.
    #[schema(rename = "consentText")]
    consent_text: Option<Attachment>,
    /// RFC 3339 with an offset, in the future: explicit consent until then.
    #[schema(rename = "validTo", example = "2027-12-31T23:59:59Z")]
    valid_to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    #[serde(rename = "requestUuid")]
    #[schema(example = "c3d4e5f6-a7b8-4012-8def-012345678901")]
    pub request_uuid: Uuid,
}

/// Import a candidate. Answered once the request is durable; processing goes on in the background.
#[utoipa::path(
    post,
    path = "/api/v1/candidate-reactions",
    tag = "Teamio import",
    request_body(content = CandidateReaction, content_type = "application/json"),
    responses(
        (status = 200, description = "Accepted: poll the requestUuid", body = Accepted),
        (status = 400, description = "`INVALID_JSON`, `VALIDATION_ERROR` (with fieldErrors), `TOO_MANY_ATTACHMENTS`, \
            `ATTACHMENT_TOO_LARGE`, `INVALID_GDPR_VALID_TO`, `INVALID_GDPR_CONSENT_TEXT`", body = TeamioErrorBody),
        (status = 401, description = "`UNAUTHORIZED`: `Access token is required`, `Invalid or expired access token`, \
            `Wrong environment for this token` (a sandbox token)", body = TeamioErrorBody),
        (status = 403, description = "`FORBIDDEN`: the recruitment belongs to another company", body = TeamioErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: body over MAX_IMPORT_BODY_BYTES", body = TeamioErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`", body = TeamioErrorBody),
        (status = 422, description = "`RECRUITMENT_NOT_FOUND`, `RECRUITMENT_NOT_ACTIVE`", body = TeamioErrorBody),
        (status = 429, description = "`TOO_MANY_REQUESTS`, per client IP or per company (IMPORT_RATE_LIMIT_PER_COMPANY)", body = TeamioErrorBody),
        (status = 500, description = "`INTERNAL_ERROR`", body = TeamioErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_reaction(State(state): State<AppState>, request: Request) -> Response {
    import(state, request, ImportEnvironment::Production).await
}

/// Check a request exactly as the import would, with sandbox credentials; nothing is stored.
#[utoipa::path(
    post,
    path = "/api/v1/candidate-reactions/test",
    tag = "Teamio import",
    request_body(content = CandidateReaction, content_type = "application/json"),
    responses(
        (status = 204, description = "The request would be accepted"),
        (status = 400, description = "As the import", body = TeamioErrorBody),
        (status = 401, description = "`UNAUTHORIZED`; a production token or API key is `Wrong environment for this token`", body = TeamioErrorBody),
        (status = 403, description = "`FORBIDDEN`", body = TeamioErrorBody),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = TeamioErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`", body = TeamioErrorBody),
        (status = 422, description = "`RECRUITMENT_NOT_FOUND`, `RECRUITMENT_NOT_ACTIVE`", body = TeamioErrorBody),
        (status = 429, description = "`TOO_MANY_REQUESTS`", body = TeamioErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn test_reaction(State(state): State<AppState>, request: Request) -> Response {
    import(state, request, ImportEnvironment::Sandbox).await
}

async fn import(state: AppState, request: Request, environment: ImportEnvironment) -> Response {
    // Step 1 (the per-IP limit ran in front of the router).
    let caller = match authorize(&state.db, request.headers(), environment).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    // Step 2: the per-company figures replace the per-IP ones on these answers.
    let window = state.import_api.company_limiter.check(caller.company_id).await;
    let mut response = match window.retry_after {
        Some(retry_after) => TeamioError::too_many_requests(retry_after).into_response(),
        None => match read_and_accept(&state, request, &caller, environment).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        },
    };
    let headers = response.headers_mut();
    headers.insert(LIMIT_HEADER.clone(), HeaderValue::from(window.limit));
    headers.insert(REMAINING_HEADER.clone(), HeaderValue::from(window.remaining));
    response.extensions_mut().insert(caller);
    response
}

async fn read_and_accept(
    state: &AppState,
    request: Request,
    caller: &ImportCaller,
    environment: ImportEnvironment,
) -> TeamioResult<Response> {
    let limits = &state.import_api;
    // Step 3.
    if !is_json_content_type(request.headers()) {
        return Err(TeamioError::unsupported_media_type());
    }
    let declared_length =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limits.max_body_bytes) {
        return Err(TeamioError::payload_too_large(limits.max_body_bytes));
    }
    // CONTRACT §12: `source` as §6.
    let headers = request.headers();
    let source = application_source(
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::REFERER).and_then(|v| v.to_str().ok()),
    );
    let mut reader = JsonReader::new(request.into_body().into_data_stream(), limits.max_body_bytes);
    let raw =
        read_reaction(&mut reader, state.intake.spool_dir(), limits.max_attachment_bytes).await.map_err(|error| {
            match error {
                BodyError::TooLarge => TeamioError::payload_too_large(limits.max_body_bytes),
                BodyError::Invalid(message) => TeamioError::invalid_json(message),
                BodyError::Read(error) => body_read_failure(error),
                BodyError::Spool(error) => {
                    TeamioError::internal(anyhow::Error::new(error).context("spooling an import attachment"))
                }
            }
        })?;
    drop(reader);
    // Steps 4 to 7.
    let reaction = check_reaction(raw, Utc::now())?;
    // Step 8.
    let offer = open_offer(state, caller, &reaction).await?;
    match environment {
        // Nothing is stored: the spool files are deleted as `reaction` drops.
        ImportEnvironment::Sandbox => Ok(StatusCode::NO_CONTENT.into_response()),
        ImportEnvironment::Production => {
            let request_uuid = accept(state, offer, reaction, source).await?;
            Ok(Json(Accepted { request_uuid }).into_response())
        }
    }
}

/// A body that stopped arriving: a layer's timeout, or a client gone (who will not read the answer).
fn body_read_failure(error: axum::Error) -> TeamioError {
    let timed_out = std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| e.source())
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut));
    if timed_out {
        TeamioError::new(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "Request timed out")
    } else {
        TeamioError::invalid_json("The request body could not be read")
    }
}

/// CONTRACT §12, step 8: the offer of `recruitmentId`, if the caller's company may import into it now.
async fn open_offer(state: &AppState, caller: &ImportCaller, reaction: &CheckedReaction) -> TeamioResult<JobOffer> {
    let offer = match reaction.recruitment_id {
        Some(recruitment_id) => db::job_offers::find_by_recruitment_id(&state.db, recruitment_id).await?,
        None => None,
    };
    check_offer(caller.company_id, offer).map_err(|refusal| match refusal {
        Refusal::OfferOfAnotherCompany => {
            TeamioError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Recruitment does not belong to your company")
        }
        Refusal::OfferNotOpen => TeamioError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "RECRUITMENT_NOT_ACTIVE",
            "Recruitment is not open for applications",
        ),
        _ => TeamioError::new(StatusCode::UNPROCESSABLE_ENTITY, "RECRUITMENT_NOT_FOUND", "Recruitment not found"),
    })
}

/// Hands the checked request to the intake pipeline's accept step: when it returns, the files are in
/// STORAGE_URL and the submission is committed; its id is the `requestUuid`. It runs in a task of its own so
/// that a client that leaves meanwhile cannot cut it halfway.
async fn accept(state: &AppState, offer: JobOffer, reaction: CheckedReaction, source: String) -> TeamioResult<Uuid> {
    let mut files = Vec::with_capacity(reaction.attachments.len() + 1);
    for attachment in reaction.attachments {
        files.push(incoming_file(attachment).await?);
    }
    if let Some(document) = reaction.consent_document {
        files.push(IncomingFile { role: FileRole::ConsentDocument, ..incoming_file(document).await? });
    }
    let submission = NewSubmission {
        door: Door::TeamioImport,
        offer,
        email: reaction.email,
        first_name: reaction.first_name,
        last_name: reaction.surname,
        phone: reaction.phone,
        linkedin_url: None,
        cover_letter: String::new(),
        source,
        files,
        consent: Some(Consent { granted: reaction.consent_valid_to.is_some(), valid_to: reaction.consent_valid_to }),
    };
    let intake = state.intake.clone();
    let accepted = tokio::spawn(async move { intake.accept(submission).await })
        .await
        .map_err(|join_error| TeamioError::internal(anyhow::anyhow!("the accept task failed: {join_error}")))?;
    match accepted {
        Ok(accepted) => Ok(accepted.id),
        Err(IntakeError::Database(error)) => Err(database_unavailable(error)),
        Err(error) => Err(TeamioError::internal(error)),
    }
}

async fn incoming_file(file: CheckedFile) -> TeamioResult<IncomingFile> {
    let spooled: SpoolFile = file.file;
    let detected_content_type = detect_content_type(&spooled).await.map_err(TeamioError::internal)?;
    Ok(IncomingFile {
        role: match file.kind {
            Some(AttachmentKind::Cv) => FileRole::Cv,
            Some(AttachmentKind::MotivationLetter) => FileRole::MotivationLetter,
            Some(AttachmentKind::Other) | None => FileRole::Other,
        },
        filename: Some(file.filename),
        declared_content_type: Some(file.declared_content_type),
        detected_content_type,
        size_bytes: file.size_bytes,
        spooled,
    })
}

/// CONTRACT §11: a database outage is a 503 to retry, not a 500.
fn database_unavailable(error: sqlx::Error) -> TeamioError {
    tracing::error!(%error, "database unavailable while accepting an import");
    TeamioError {
        retry_after: Some(2),
        ..TeamioError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable. Please retry later.",
        )
    }
}

// CONTRACT §12.
/// A request's state.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReactionStatus {
    #[serde(rename = "requestUuid")]
    pub request_uuid: Uuid,
    /// `PROCESSING`, `COMPLETED` or `FAILED`.
    #[schema(example = "COMPLETED")]
    pub status: &'static str,
    #[serde(rename = "recruitmentId")]
    #[schema(example = 67890)]
    pub recruitment_id: i64,
    /// With `COMPLETED`: `{PUBLIC_BASE_URL}/api/job_applications/{application id}`.
    pub link: Option<String>,
    /// With `FAILED`.
    #[serde(rename = "errorMessage")]
    pub error_message: Option<String>,
    #[serde(rename = "createdAt")]
    #[schema(example = "2026-03-04T10:00:00Z")]
    pub created_at: String,
    #[serde(rename = "updatedAt")]
    #[schema(example = "2026-03-04T10:00:05Z")]
    pub updated_at: String,
}

/// Where an import request stands.
#[utoipa::path(
    get,
    path = "/api/v1/candidate-reactions/{requestUuid}",
    tag = "Teamio import",
    params(("requestUuid" = String, Path, description = "The id answered by the import")),
    responses(
        (status = 200, description = "The request's status", body = ReactionStatus),
        (status = 400, description = "`VALIDATION_ERROR`: not a UUID", body = TeamioErrorBody),
        (status = 401, description = "`UNAUTHORIZED` (a sandbox token is `Wrong environment for this token`)", body = TeamioErrorBody),
        (status = 404, description = "`NOT_FOUND`: unknown, or another company's", body = TeamioErrorBody),
        (status = 429, description = "`TOO_MANY_REQUESTS` (per client IP)", body = TeamioErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reaction_status(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let caller = match authorize(&state.db, &headers, ImportEnvironment::Production).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let mut response = match find_status(&state, &caller, &raw_id).await {
        Ok(status) => Json(status).into_response(),
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(caller);
    response
}

async fn find_status(state: &AppState, caller: &ImportCaller, raw_id: &str) -> TeamioResult<ReactionStatus> {
    let Some(request_uuid) = parse_strict_uuid(raw_id) else {
        return Err(TeamioError::validation(vec![FieldError::new("requestUuid", "must be a valid UUID")]));
    };
    let not_found = || TeamioError::not_found("Candidate reaction not found");
    let submission =
        db::submissions::status_for_company(&state.db, caller.company_id, request_uuid).await?.ok_or_else(not_found)?;
    // The id the client asked for, read from the offer (an offer deleted since then reads as unknown).
    let recruitment_id = db::job_offers::find(&state.db, submission.job_offer_id)
        .await?
        .map(|offer| offer.recruitment_id)
        .ok_or_else(not_found)?;
    let (status, link, error_message) = match (submission.status.as_str(), submission.application_id) {
        ("completed", Some(application_id)) => (
            "COMPLETED",
            Some(format!("{}/api/job_applications/{application_id}", state.import_api.public_base_url)),
            None,
        ),
        ("failed", _) => ("FAILED", None, submission.error_message),
        _ => ("PROCESSING", None, None),
    };
    Ok(ReactionStatus {
        request_uuid: submission.id,
        status,
        recruitment_id,
        link,
        error_message,
        created_at: timestamp::format(&submission.created_at),
        updated_at: timestamp::format(&submission.updated_at),
    })
}
