//! The `job_offers` table: the listing (CONTRACT §4), lookups (§5), and the operator's writes.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::job_offer_query::JobOfferQuery;
use crate::domain::timestamp;

/// A job offer as the API shows it: exactly the fields of CONTRACT §4.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct JobOffer {
    pub id: Uuid,
    #[serde(skip)]
    pub company_id: Uuid,
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

const COLUMNS: &str = "id, company_id, title, description, location, job_type, published_at, status, updated_at";

/// One page of a company's offers and the total matching the filters.
pub async fn list(db: &PgPool, company_id: Uuid, query: &JobOfferQuery) -> sqlx::Result<(Vec<JobOffer>, i64)> {
    let total: i64 = total_sql("", company_id, query).build_query_scalar().fetch_one(db).await?;
    if query.offset() >= total {
        return Ok((Vec::new(), total));
    }
    let offers = page_sql("", company_id, query).build_query_as().fetch_all(db).await?;
    Ok((offers, total))
}

/// The listing's total, after `prefix` (empty, or `EXPLAIN …` for the benchmark). Without date bounds it is a
/// sum over `job_offer_counts`, kept by triggers (migration 3): a few rows per distinct location and job type
/// instead of every matching offer. With date bounds it counts the matching offers.
pub fn total_sql<'a>(prefix: &str, company_id: Uuid, query: &JobOfferQuery) -> QueryBuilder<'a, Postgres> {
    if query.published_after.is_some() || query.published_before.is_some() {
        let mut count = QueryBuilder::new(format!("{prefix}SELECT count(*) FROM job_offers"));
        push_filters(&mut count, company_id, query);
        return count;
    }
    let mut sum = QueryBuilder::new(format!("{prefix}SELECT COALESCE(sum(offers), 0)::bigint FROM job_offer_counts"));
    sum.push(" WHERE company_id = ").push_bind(company_id);
    sum.push(" AND status = ").push_bind(query.status.clone());
    if let Some(pattern) = query.location_pattern() {
        sum.push(" AND location ILIKE ").push_bind(pattern);
    }
    if let Some(job_type) = &query.job_type {
        sum.push(" AND job_type = ").push_bind(job_type.clone());
    }
    sum
}

/// One page of the listing, after `prefix`.
pub fn page_sql<'a>(prefix: &str, company_id: Uuid, query: &JobOfferQuery) -> QueryBuilder<'a, Postgres> {
    let mut page = QueryBuilder::new(format!("{prefix}SELECT {COLUMNS} FROM job_offers"));
    push_filters(&mut page, company_id, query);
    // CONTRACT §4: newest first, nulls last, then id, so pages neither overlap nor skip.
    page.push(" ORDER BY published_at DESC NULLS LAST, id LIMIT ")
        .push_bind(query.per_page)
        .push(" OFFSET ")
        .push_bind(query.offset());
    page
}

fn push_filters(sql: &mut QueryBuilder<'_, Postgres>, company_id: Uuid, query: &JobOfferQuery) {
    sql.push(" WHERE company_id = ").push_bind(company_id);
    sql.push(" AND status = ").push_bind(query.status.clone());
    if let Some(pattern) = query.location_pattern() {
        // Backslash is ILIKE's default escape character; the pattern escapes % and _ with it.
        sql.push(" AND location ILIKE ").push_bind(pattern);
    }
    if let Some(job_type) = &query.job_type {
        sql.push(" AND job_type = ").push_bind(job_type.clone());
    }
    if let Some(after) = query.published_after {
        sql.push(" AND published_at >= ").push_bind(after);
    }
    if let Some(before) = query.published_before {
        sql.push(" AND published_at <= ").push_bind(before);
    }
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<JobOffer>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_offers WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// The fields an operator sets on an offer.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferFields {
    pub id: Option<Uuid>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub location: Option<String>,
    pub job_type: Option<String>,
    pub status: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    /// Accepted so that a listing's own output can be imported again; the database keeps its own.
    #[serde(default)]
    pub updated_at: Option<serde::de::IgnoredAny>,
}

/// `published_at` defaults to now for offers created open or active (CONTRACT §10).
fn default_published_at(fields: &OfferFields) -> Option<DateTime<Utc>> {
    fields.published_at.or_else(|| matches!(fields.status.as_deref(), Some("open" | "active")).then(Utc::now))
}

pub async fn insert(db: &PgPool, company_id: Uuid, fields: &OfferFields) -> sqlx::Result<JobOffer> {
    sqlx::query_as(&format!(
        "INSERT INTO job_offers (id, company_id, title, description, location, job_type, status, published_at)
         VALUES (COALESCE($1, gen_random_uuid()), $2, $3, COALESCE($4, ''), $5, $6, COALESCE($7, 'draft'), $8)
         RETURNING {COLUMNS}"
    ))
    .bind(fields.id)
    .bind(company_id)
    .bind(fields.title.as_deref().unwrap_or(""))
    .bind(fields.description.as_deref())
    .bind(fields.location.as_deref())
    .bind(fields.job_type.as_deref())
    .bind(fields.status.as_deref())
    .bind(default_published_at(fields))
    .fetch_one(db)
    .await
}

/// Changes the given fields; `published_at` is set to now when an unpublished offer opens.
pub async fn update(db: &PgPool, id: Uuid, fields: &OfferFields) -> sqlx::Result<Option<JobOffer>> {
    sqlx::query_as(&format!(
        "UPDATE job_offers SET
             title = COALESCE($2, title),
             description = COALESCE($3, description),
             location = COALESCE($4, location),
             job_type = COALESCE($5, job_type),
             status = COALESCE($6, status),
             published_at = COALESCE($7, published_at,
                 CASE WHEN COALESCE($6, status) IN ('open', 'active') THEN now() END)
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(fields.title.as_deref())
    .bind(fields.description.as_deref())
    .bind(fields.location.as_deref())
    .bind(fields.job_type.as_deref())
    .bind(fields.status.as_deref())
    .bind(fields.published_at)
    .fetch_optional(db)
    .await
}

/// Inserts a batch of offers for one company in one statement. An `id` already taken by the same company
/// updates that offer; an `id` of another company's offer is left alone and not counted, so the caller
/// can tell by the returned count.
pub async fn import_batch(conn: &mut PgConnection, company_id: Uuid, batch: &[OfferFields]) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = batch.iter().map(|f| f.id.unwrap_or_else(Uuid::new_v4)).collect();
    let titles: Vec<&str> = batch.iter().map(|f| f.title.as_deref().unwrap_or("")).collect();
    let descriptions: Vec<&str> = batch.iter().map(|f| f.description.as_deref().unwrap_or("")).collect();
    let locations: Vec<Option<&str>> = batch.iter().map(|f| f.location.as_deref()).collect();
    let job_types: Vec<Option<&str>> = batch.iter().map(|f| f.job_type.as_deref()).collect();
    let statuses: Vec<&str> = batch.iter().map(|f| f.status.as_deref().unwrap_or("draft")).collect();
    let published: Vec<Option<DateTime<Utc>>> = batch.iter().map(default_published_at).collect();
    let result = sqlx::query(
        "INSERT INTO job_offers AS o (id, company_id, title, description, location, job_type, status, published_at)
         SELECT id, $2, title, description, location, job_type, status, published_at
         FROM UNNEST($1::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
              AS t(id, title, description, location, job_type, status, published_at)
         ON CONFLICT (id) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description, location = EXCLUDED.location,
             job_type = EXCLUDED.job_type, status = EXCLUDED.status, published_at = EXCLUDED.published_at
         WHERE o.company_id = EXCLUDED.company_id",
    )
    .bind(&ids)
    .bind(company_id)
    .bind(&titles)
    .bind(&descriptions)
    .bind(&locations)
    .bind(&job_types)
    .bind(&statuses)
    .bind(&published)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// CONTRACT §13: the statuses whose offers the hosted pages show and take applications for.
const PUBLISHED: &str = "status IN ('open', 'active')";

/// One page of a company's published offers for its hosted pages (CONTRACT §13), newest first as §4, with
/// `location` and `job_type` filtered as §4; `query.status` is not used. Returns the page and the total.
pub async fn list_published(
    db: &PgPool,
    company_id: Uuid,
    query: &JobOfferQuery,
) -> sqlx::Result<(Vec<JobOffer>, i64)> {
    let filters = |sql: &mut QueryBuilder<'_, Postgres>| {
        sql.push(" WHERE company_id = ").push_bind(company_id).push(format!(" AND {PUBLISHED}"));
        if let Some(pattern) = query.location_pattern() {
            sql.push(" AND location ILIKE ").push_bind(pattern);
        }
        if let Some(job_type) = &query.job_type {
            sql.push(" AND job_type = ").push_bind(job_type.clone());
        }
    };
    let mut count = QueryBuilder::new("SELECT count(*) FROM job_offers");
    filters(&mut count);
    let total: i64 = count.build_query_scalar().fetch_one(db).await?;
    if query.offset() >= total {
        return Ok((Vec::new(), total));
    }
    let mut page = QueryBuilder::new(format!("SELECT {COLUMNS} FROM job_offers"));
    filters(&mut page);
    page.push(" ORDER BY published_at DESC NULLS LAST, id LIMIT ")
        .push_bind(query.per_page)
        .push(" OFFSET ")
        .push_bind(query.offset());
    Ok((page.build_query_as().fetch_all(db).await?, total))
}

/// The job types of a company's published offers, for the hosted list's filter.
pub async fn published_job_types(db: &PgPool, company_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT job_type FROM job_offers
         WHERE company_id = $1 AND {PUBLISHED} AND job_type IS NOT NULL AND job_type <> ''
         ORDER BY job_type LIMIT 100"
    ))
    .bind(company_id)
    .fetch_all(db)
    .await
}

/// Up to `limit` of a company's published offers, newest first: the sitemap and the job feed.
pub async fn all_published(db: &PgPool, company_id: Uuid, limit: i64) -> sqlx::Result<Vec<JobOffer>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM job_offers WHERE company_id = $1 AND {PUBLISHED}
         ORDER BY published_at DESC NULLS LAST, id LIMIT $2"
    ))
    .bind(company_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
