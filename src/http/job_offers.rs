//! `GET /api/job_offers` (CONTRACT §4) and `GET /api/job_offers/{id}` (CONTRACT §5).

use axum::extract::{Path, RawQuery, State, rejection::PathRejection};
use axum::routing::get;
use axum::{Extension, Json, Router};

use super::AppState;
use super::envelope::{Page, Pagination, Success};
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::db;
use crate::db::job_offers::JobOffer;
use crate::domain::job_offer_query::JobOfferQuery;
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::service::auth::Caller;

/// Routes relative to `/api`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/job_offers", get(list_job_offers))
        .route("/job_offers/", get(missing_job_offer_id))
        .route("/job_offers/{job_offer_id}", get(get_job_offer))
}

/// Paginated list of the company's job offers.
#[utoipa::path(
    get,
    path = "/api/job_offers",
    tag = "Job offers",
    params(
        ("page" = Option<i64>, Query, description = "Page number (≥ 1)", minimum = 1, example = 1),
        ("per_page" = Option<i64>, Query, description = "Items per page (≥ 1; values above 100 become 100)", minimum = 1, example = 20),
        ("status" = Option<String>, Query, description = "Exact status (default `open`)", example = "open"),
        ("location" = Option<String>, Query, description = "Case-insensitive substring; `%` and `_` are literal"),
        ("job_type" = Option<String>, Query, description = "Exact job type (CDI, CDD, Freelance, …)"),
        ("published_after" = Option<String>, Query, description = "published_at ≥ this RFC 3339 date-time or YYYY-MM-DD"),
        ("published_before" = Option<String>, Query, description = "published_at ≤ this RFC 3339 date-time or YYYY-MM-DD"),
    ),
    responses(
        (status = 200, description = "A page of offers, newest first", body = Page<JobOffer>, headers(
            ("X-RateLimit-Limit" = u32, description = "Requests allowed per IP per minute"),
            ("X-RateLimit-Remaining" = u32, description = "Requests left in this window"))),
        (status = 400, description = "A malformed parameter; the message names it", body = ErrorBody),
        (status = 401, description = "`API key is required` or `Invalid API key`", body = ErrorBody),
        (status = 429, description = "`Too many requests. Please retry later.`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the window ends"))),
        (status = 500, description = "Server error", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_job_offers(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<JobOffer>>> {
    let query = JobOfferQuery::parse(raw.as_deref()).map_err(ApiError::bad_request)?;
    let (offers, total) = db::job_offers::list(&state.db, caller.company_id, &query).await?;
    Ok(Json(Page { status: "success", data: offers, pagination: Pagination::new(query.page, query.per_page, total) }))
}

/// One job offer of the company.
#[utoipa::path(
    get,
    path = "/api/job_offers/{job_offer_id}",
    tag = "Job offers",
    params(("job_offer_id" = String, Path, description = "Strictly xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")),
    responses(
        (status = 200, description = "The offer", body = Success<JobOffer>),
        (status = 400, description = "`Invalid job offer ID format`", body = ErrorBody),
        (status = 401, description = "`API key is required` or `Invalid API key`", body = ErrorBody),
        (status = 403, description = "`Job offer does not belong to your company`", body = ErrorBody),
        (status = 404, description = "`Job offer not found`", body = ErrorBody),
        (status = 429, description = "`Too many requests. Please retry later.`", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_job_offer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Success<JobOffer>>> {
    // CONTRACT §5: the id's format is checked before any query.
    let id = id
        .ok()
        .and_then(|Path(raw)| parse_strict_uuid(&raw))
        .ok_or_else(|| ApiError::bad_request("Invalid job offer ID format"))?;
    let offer = db::job_offers::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("Job offer not found"))?;
    if offer.company_id != caller.company_id {
        return Err(ApiError::forbidden("Job offer does not belong to your company"));
    }
    Ok(Json(Success::new(offer)))
}

/// `GET /api/job_offers/` names no offer: a missing id is an invalid one (Talqo: "Invalid or missing UUID").
async fn missing_job_offer_id() -> ApiError {
    ApiError::bad_request("Invalid job offer ID format")
}
