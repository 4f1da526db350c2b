//! `GET /api/job_offers` (CONTRACT §4), answered from the instance's [`ListingCache`] while the company's
//! offers are unchanged, and `GET /api/job_offers/{id}` (CONTRACT §5).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State, rejection::PathRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use uuid::Uuid;

use super::AppState;
use super::envelope::{Page, Pagination, Success};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::listing_cache::{CachedListing, ListingCache, ListingKey};
use crate::db;
use crate::db::job_offers::JobOffer;
use crate::domain::job_offer_query::JobOfferQuery;
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::domain::timestamp;
use crate::service::auth::{Caller, OffersVersion};

// CONTRACT §4: exactly these fields. (Doc comments here become the OpenAPI description.)
/// A job offer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = JobOffer)]
pub struct JobOfferView {
    pub id: Uuid,
    pub title: String,
    /// Markdown (CommonMark + GFM).
    pub description: String,
    pub location: Option<String>,
    pub job_type: Option<String>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2024-01-15T10:00:00Z")]
    pub published_at: Option<DateTime<Utc>>,
    /// open, closed, active, draft, or a company's own value.
    pub status: String,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2024-01-15T10:00:00Z")]
    pub updated_at: DateTime<Utc>,
}

impl From<JobOffer> for JobOfferView {
    fn from(offer: JobOffer) -> Self {
        JobOfferView {
            id: offer.id,
            title: offer.title,
            description: offer.description,
            location: offer.location,
            job_type: offer.job_type,
            published_at: offer.published_at,
            status: offer.status,
            updated_at: offer.updated_at,
        }
    }
}

/// Routes relative to `/api`. Each call makes the listing cache of one server instance.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/job_offers", get(list_job_offers))
        .route("/job_offers/", get(missing_job_offer_id))
        .route("/job_offers/{job_offer_id}", get(get_job_offer))
        .layer(Extension(Arc::new(ListingCache::default())))
}

/// The listing's answers may be kept by the client that asked (they depend on its key, so no shared cache),
/// and are revalidated with `If-None-Match` before reuse: a 304 costs the server one statement and the client
/// no body, and a changed offer is never served stale (docs/compatibility.md).
const LISTING_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, no-cache");
const LISTING_VARY: HeaderValue = HeaderValue::from_static("X-API-Key, Authorization");

/// Paginated list of the company's job offers.
///
/// Answers carry an `ETag`; sending it back in `If-None-Match` answers 304 with no body while the listing
/// is unchanged.
#[utoipa::path(
    get,
    path = "/api/job_offers",
    tag = "Job offers",
    params(
        ("page" = Option<PositiveInteger>, Query, description = "Page number, from 1. Default 1.", example = 1),
        ("per_page" = Option<PositiveInteger>, Query, description = "Items per page, from 1; values above 100 become 100. Default 20.", example = 20),
        ("status" = Option<String>, Query, description = "Exact status. Default `open`.", pattern = r"^[^\x00-\x1F]*$", example = "open"),
        ("location" = Option<String>, Query, description = "Case-insensitive substring of the location; `%` and `_` are literal characters.", pattern = r"^[^\x00-\x1F]*$", example = "lyon"),
        ("job_type" = Option<String>, Query, description = "Exact job type (CDI, CDD, Freelance, Stage, …).", pattern = r"^[^\x00-\x1F]*$", example = "CDI"),
        ("published_after" = Option<PublicationBound>, Query, description = "Offers published at or after this RFC 3339 date-time, or this date's 00:00:00Z."),
        ("published_before" = Option<PublicationBound>, Query, description = "Offers published at or before this RFC 3339 date-time, or this date's 00:00:00Z."),
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of a listing already held: 304 while it is unchanged."),
    ),
    responses(
        (status = 200, description = "A page of offers, newest first (unpublished last)", body = Page<JobOfferView>, headers(
            ("ETag" = String, description = "Tag of this answer, for `If-None-Match`"),
            ("Cache-Control" = String, description = "`private, no-cache`: keep it, but revalidate with `If-None-Match` before reuse"),
            ("Vary" = String, description = "`X-API-Key, Authorization`"))),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`; no body", headers(
            ("ETag" = String, description = "Tag of the current answer"),
            ("Cache-Control" = String, description = "`private, no-cache`"),
            ("Vary" = String, description = "`X-API-Key, Authorization`"))),
        (status = 400, description = "A malformed parameter; the message names it, e.g. `page must be an integer greater than or equal to 1`", body = ErrorBody),
        (status = 401, description = "`API key is required` or `Invalid API key`", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn list_job_offers(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<ListingCache>>,
    Extension(caller): Extension<Caller>,
    offers_version: Option<Extension<OffersVersion>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = JobOfferQuery::parse(raw.as_deref()).map_err(ApiError::bad_request)?;
    refuse_control_characters(&query)?;
    let key = ListingKey::new(caller.company_id, &query);
    let cached = offers_version.and_then(|Extension(version)| cache.get(&key, version).map(|hit| (version, hit)));
    let listing = match cached {
        Some((_, hit)) => hit,
        None => {
            let (offers, total) = db::job_offers::list(&state.db, caller.company_id, &query).await?;
            let page = Page {
                status: "success",
                data: offers.into_iter().map(JobOfferView::from).collect::<Vec<_>>(),
                pagination: Pagination::new(query.page, query.per_page, total),
            };
            let body = serde_json::to_vec(&page).map_err(ApiError::internal)?;
            // Without a version (never, behind the key check) the answer is made fresh and not kept.
            let version = offers_version.map(|Extension(version)| version);
            let listing = CachedListing::new(version.unwrap_or(OffersVersion(0)), body);
            if let Some(version) = version {
                cache.insert(key, CachedListing { version, ..listing.clone() });
            }
            listing
        }
    };
    let not_modified =
        headers.get(header::IF_NONE_MATCH).is_some_and(|if_none_match| listing.matches_if_none_match(if_none_match));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut ok = Response::new(Body::from(listing.body.clone()));
        ok.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ok
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, listing.etag);
    response_headers.insert(header::CACHE_CONTROL, LISTING_CACHE_CONTROL);
    response_headers.insert(header::VARY, LISTING_VARY);
    Ok(response)
}

/// A blank query value counts as absent (as HTML forms send empty fields).
const BLANK: &str = r"^\s*$";

/// `page` / `per_page` in the OpenAPI document: an integer from 1, read at any size (a page past the end is
/// empty, a `per_page` above 100 is 100); surrounding spaces are ignored and a blank value counts as absent.
pub struct PositiveInteger;

impl utoipa::PartialSchema for PositiveInteger {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*([0-9]*[1-9][0-9]*|\+0*[1-9][0-9]{0,17})?\s*$")),
            )
            .description(Some("An integer from 1; a blank value counts as absent."))
            .into()
    }
}

impl utoipa::ToSchema for PositiveInteger {}

/// `published_after` / `published_before` in the OpenAPI document: an RFC 3339 date-time, or a date meaning
/// its 00:00:00Z; a blank value counts as absent.
pub struct PublicationBound;

impl utoipa::PartialSchema for PublicationBound {
    fn schema() -> RefOr<Schema> {
        let string = |format: KnownFormat| {
            ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(string(KnownFormat::DateTime))
            .item(string(KnownFormat::Date))
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(BLANK)))
            .description(Some("An RFC 3339 date-time, or a date (YYYY-MM-DD) meaning its 00:00:00Z."))
            .into()
    }
}

impl utoipa::ToSchema for PublicationBound {}

/// PostgreSQL refuses NUL in text, and no status, location or job type holds a control character: a filter
/// with one is a client error, not a server one (CONTRACT §11).
fn refuse_control_characters(query: &JobOfferQuery) -> ApiResult<()> {
    for (name, value) in
        [("status", Some(&query.status)), ("location", query.location.as_ref()), ("job_type", query.job_type.as_ref())]
    {
        if value.is_some_and(|v| v.chars().any(|c| c.is_ascii_control() && c != '\x7f')) {
            return Err(ApiError::bad_request(format!("{name} is invalid")));
        }
    }
    Ok(())
}

/// One job offer of the company.
#[utoipa::path(
    get,
    path = "/api/job_offers/{job_offer_id}",
    tag = "Job offers",
    params(("job_offer_id" = Uuid, Path, description = "The offer's id: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hexadecimal digits in either case", pattern = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")),
    responses(
        (status = 200, description = "The offer", body = Success<JobOfferView>),
        (status = 400, description = "`Invalid job offer ID format`", body = ErrorBody),
        (status = 401, description = "`API key is required` or `Invalid API key`", body = ErrorBody),
        (status = 403, description = "`Job offer does not belong to your company`", body = ErrorBody),
        (status = 404, description = "`Job offer not found`", body = ErrorBody),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_job_offer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Success<JobOfferView>>> {
    // CONTRACT §5: the id's format is checked before any query.
    let id = id
        .ok()
        .and_then(|Path(raw)| parse_strict_uuid(&raw))
        .ok_or_else(|| ApiError::bad_request("Invalid job offer ID format"))?;
    let offer = db::job_offers::find(&state.db, id).await?.ok_or_else(|| ApiError::not_found("Job offer not found"))?;
    if offer.company_id != caller.company_id {
        return Err(ApiError::forbidden("Job offer does not belong to your company"));
    }
    Ok(Json(Success::new(JobOfferView::from(offer))))
}

/// `GET /api/job_offers/` names no offer: a missing id is an invalid one (Talqo: "Invalid or missing UUID").
async fn missing_job_offer_id() -> ApiError {
    ApiError::bad_request("Invalid job offer ID format")
}
