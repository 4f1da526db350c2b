//! The `job_offers` table: the listing (CONTRACT §4), lookups (§5), and the operator's writes.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::domain::job_offer_query::JobOfferQuery;
use crate::domain::timestamp;

/// A row of `job_offers`. It serialises as the operator's command line prints an offer (the Talqo API's
/// JobOffer is `http::job_offers::JobOfferView`).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
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
    pub published_at: Option<DateTime<Utc>>,
    /// open, closed, active, draft, or a company's own value.
    pub status: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The offer's numeric id for the Teamio import API (CONTRACT §12): shown by the CLI, not by the Talqo API.
    #[serde(skip)]
    pub recruitment_id: i64,
}

const COLUMNS: &str =
    "id, company_id, title, description, location, job_type, published_at, status, updated_at, recruitment_id";

/// One page of a company's offers and the total matching the filters, in one statement ([`listing_sql`]).
///
/// The statement is not kept prepared: PostgreSQL then plans it for its actual values every time, where a
/// prepared one may move to a generic plan (for unknown values) after five runs. Measured at a million offers
/// (`bench_job_offers`, first request after a write): `?published_after=2024-01-01&location=e` had 2 of 20
/// requests over a second when prepared, and none over 29 ms unprepared. Planning costs a fraction of a
/// millisecond, and the statement runs only when the listing cache has nothing to serve.
pub async fn list(db: &PgPool, company_id: Uuid, query: &JobOfferQuery) -> sqlx::Result<(Vec<JobOffer>, i64)> {
    let rows: Vec<ListingRow> =
        listing_sql("", company_id, query).build_query_as().persistent(false).fetch_all(db).await?;
    let total = rows.first().map_or(0, |row| row.total);
    Ok((rows.into_iter().filter_map(|row| row.offer).collect(), total))
}

/// A row of [`listing_sql`]: the total, and an offer unless the page is empty (then the only row has none).
struct ListingRow {
    total: i64,
    offer: Option<JobOffer>,
}

impl<'r> sqlx::FromRow<'r, PgRow> for ListingRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let total = row.try_get("total")?;
        let offer = match row.try_get::<Option<Uuid>, _>("id")? {
            Some(_) => Some(JobOffer::from_row(row)?),
            None => None,
        };
        Ok(ListingRow { total, offer })
    }
}

/// The total and the page in one round trip, after `prefix` (empty, or `EXPLAIN …` for the benchmark): the
/// total is computed once and the page joined to it, every row carrying it. A page past the end is not walked
/// (`offset < total` gates the page scan), so an absurd page number costs no more than the total.
pub fn listing_sql<'a>(prefix: &str, company_id: Uuid, query: &JobOfferQuery) -> QueryBuilder<'a, Postgres> {
    // MATERIALIZED: the total is referenced twice (selected, and gating the page), and is computed once.
    let mut sql = QueryBuilder::new(format!("{prefix}WITH listing_total AS MATERIALIZED (SELECT "));
    push_total(&mut sql, company_id, query);
    sql.push(" AS total) SELECT listing_total.total, o.* FROM listing_total LEFT JOIN LATERAL (SELECT ");
    sql.push(COLUMNS);
    sql.push(" FROM job_offers");
    push_filters(&mut sql, company_id, query, PublishedRange::of(query));
    sql.push(" AND ").push_bind(query.offset()).push(" < listing_total.total");
    push_order_and_page(&mut sql, query);
    // The page's order again: a join does not promise to keep its subquery's.
    sql.push(") AS o ON true ORDER BY o.published_at DESC NULLS LAST, o.id");
    sql
}

/// After a bulk write (an import of many offers): the counter tables' old row versions are vacuumed, and the
/// planner's statistics refreshed. Each batch of an import rewrites the counters it touches, and until
/// autovacuum comes by, a date-bounded total walks every dead version: 40 ms instead of 2 ms at a million
/// offers right after loading them.
pub async fn tidy_after_bulk_write(db: &PgPool) -> sqlx::Result<()> {
    // Two statements: VACUUM cannot run in the implicit transaction of a multi-statement query.
    sqlx::raw_sql(
        "VACUUM (ANALYZE) job_offer_counts, job_offer_day_counts, job_offer_type_day_counts,
                          job_offer_listing_versions",
    )
    .execute(db)
    .await?;
    sqlx::raw_sql("ANALYZE job_offers").execute(db).await?;
    Ok(())
}

/// The listing's total alone, after `prefix` (for the benchmark's plans).
pub fn total_sql<'a>(prefix: &str, company_id: Uuid, query: &JobOfferQuery) -> QueryBuilder<'a, Postgres> {
    let mut sql = QueryBuilder::new(format!("{prefix}SELECT "));
    push_total(&mut sql, company_id, query);
    sql
}

/// One page of the listing alone, after `prefix`.
pub fn page_sql<'a>(prefix: &str, company_id: Uuid, query: &JobOfferQuery) -> QueryBuilder<'a, Postgres> {
    let mut page = QueryBuilder::new(format!("{prefix}SELECT {COLUMNS} FROM job_offers"));
    push_filters(&mut page, company_id, query, PublishedRange::of(query));
    push_order_and_page(&mut page, query);
    page
}

fn push_order_and_page(sql: &mut QueryBuilder<'_, Postgres>, query: &JobOfferQuery) {
    // CONTRACT §4: newest first, nulls last, then id, so pages neither overlap nor skip.
    sql.push(" ORDER BY published_at DESC NULLS LAST, id LIMIT ")
        .push_bind(query.per_page)
        .push(" OFFSET ")
        .push_bind(query.offset());
}

/// The total as a scalar expression, without counting every matching offer:
/// - no date bounds: a sum over `job_offer_counts` (migration 3), a few rows per location and job type;
/// - date bounds: a sum of day counters (migrations 6 and 9) for the whole days inside the bounds, plus a
///   count of the offers published in the partial days at either end (at most a day's offers each).
fn push_total(sql: &mut QueryBuilder<'_, Postgres>, company_id: Uuid, query: &JobOfferQuery) {
    let range = PublishedRange::of(query);
    if range.is_unbounded() {
        sql.push("(SELECT COALESCE(sum(offers), 0)::bigint FROM job_offer_counts");
        push_counter_filters(sql, company_id, query);
        sql.push(")");
        return;
    }
    let Some(days) = range.whole_days() else {
        // Less than a whole day inside the bounds (or none): counting those offers is a short index range.
        sql.push("(SELECT count(*) FROM job_offers");
        push_filters(sql, company_id, query, range);
        sql.push(")");
        return;
    };
    push_whole_days_total(sql, company_id, query, days);
    if let (Some(from), Some(first)) = (range.from, days.first) {
        let first_midnight = midnight(first);
        if from < first_midnight {
            sql.push(" + (SELECT count(*) FROM job_offers");
            push_filters(
                sql,
                company_id,
                query,
                PublishedRange { from: Some(from), to: None, before: Some(first_midnight) },
            );
            sql.push(")");
        }
    }
    if let (Some(to), Some(end)) = (range.to, days.end) {
        sql.push(" + (SELECT count(*) FROM job_offers");
        push_filters(sql, company_id, query, PublishedRange { from: Some(midnight(end)), to: Some(to), before: None });
        sql.push(")");
    }
}

/// The offers published on the whole days `days`, from the day counters:
/// - without a location filter, `job_offer_type_day_counts` (one row per job type and day);
/// - with one, `job_offer_day_counts` summed over the days for each location, through its (location, day) index,
///   walking the smaller of two sets of the company's distinct locations (from `job_offer_counts`, a few rows):
///   those that match (their sum is the total), or those that do not (the total is then the sum of all
///   locations minus theirs), so that a pattern matching nearly every city costs no more than one matching
///   few. The aggregate inside each lateral subquery keeps it a walk per location whatever the planner's
///   statistics, and a `CASE` runs only the branch it takes.
fn push_whole_days_total(
    sql: &mut QueryBuilder<'_, Postgres>,
    company_id: Uuid,
    query: &JobOfferQuery,
    days: WholeDays,
) {
    let push_days = |sql: &mut QueryBuilder<'_, Postgres>| {
        if let Some(first) = days.first {
            sql.push(" AND published_on >= ").push_bind(first);
        }
        if let Some(end) = days.end {
            sql.push(" AND published_on < ").push_bind(end);
        }
        if let Some(job_type) = &query.job_type {
            sql.push(" AND job_type = ").push_bind(job_type.clone());
        }
    };
    let push_company = |sql: &mut QueryBuilder<'_, Postgres>| push_company_and_status(sql, company_id, query);
    let push_all_locations = |sql: &mut QueryBuilder<'_, Postgres>| {
        sql.push("(SELECT COALESCE(sum(offers), 0)::bigint FROM job_offer_type_day_counts");
        push_company(sql);
        push_days(sql);
        sql.push(")");
    };
    let Some(pattern) = query.location_pattern() else {
        push_all_locations(sql);
        return;
    };
    let push_walk = |sql: &mut QueryBuilder<'_, Postgres>, negate: &str| {
        sql.push("(SELECT COALESCE(sum(per_location.offers), 0)::bigint FROM (SELECT DISTINCT location FROM job_offer_counts");
        push_company(sql);
        sql.push(format!(" AND {negate}location ILIKE ")).push_bind(pattern.clone());
        sql.push(") AS walked CROSS JOIN LATERAL (SELECT sum(offers) AS offers FROM job_offer_day_counts");
        push_company(sql);
        sql.push(" AND location = walked.location");
        push_days(sql);
        sql.push(") AS per_location)");
    };
    sql.push("(SELECT CASE WHEN sets.matching <= sets.others THEN ");
    push_walk(sql, "");
    sql.push(" ELSE ");
    push_all_locations(sql);
    sql.push(" - ");
    push_walk(sql, "NOT ");
    sql.push(" END FROM (SELECT count(*) FILTER (WHERE location ILIKE ")
        .push_bind(pattern.clone())
        .push(") AS matching, count(*) FILTER (WHERE NOT location ILIKE ")
        .push_bind(pattern.clone())
        .push(") AS others FROM (SELECT DISTINCT location FROM job_offer_counts");
    push_company(sql);
    sql.push(") AS locations) AS sets)");
}

/// Filters on `job_offer_counts`. A location filter first finds the company's distinct locations that match
/// (a few rows), then reads the counters of those locations only, through the primary key.
fn push_counter_filters(sql: &mut QueryBuilder<'_, Postgres>, company_id: Uuid, query: &JobOfferQuery) {
    push_company_and_status(sql, company_id, query);
    if let Some(pattern) = query.location_pattern() {
        sql.push(" AND location = ANY (ARRAY (SELECT DISTINCT location FROM job_offer_counts");
        push_company_and_status(sql, company_id, query);
        sql.push(" AND location ILIKE ").push_bind(pattern).push("))");
    }
    if let Some(job_type) = &query.job_type {
        sql.push(" AND job_type = ").push_bind(job_type.clone());
    }
}

/// ` WHERE company_id = … AND status = …`: how every statement of the listing starts its conditions.
fn push_company_and_status(sql: &mut QueryBuilder<'_, Postgres>, company_id: Uuid, query: &JobOfferQuery) {
    sql.push(" WHERE company_id = ").push_bind(company_id).push(" AND status = ").push_bind(query.status.clone());
}

fn push_filters(sql: &mut QueryBuilder<'_, Postgres>, company_id: Uuid, query: &JobOfferQuery, range: PublishedRange) {
    push_company_and_status(sql, company_id, query);
    if let Some(pattern) = query.location_pattern() {
        // Backslash is ILIKE's default escape character; the pattern escapes % and _ with it.
        sql.push(" AND location ILIKE ").push_bind(pattern);
    }
    if let Some(job_type) = &query.job_type {
        sql.push(" AND job_type = ").push_bind(job_type.clone());
    }
    if let Some(from) = range.from {
        sql.push(" AND published_at >= ").push_bind(from);
    }
    if let Some(to) = range.to {
        sql.push(" AND published_at <= ").push_bind(to);
    }
    if let Some(before) = range.before {
        sql.push(" AND published_at < ").push_bind(before);
    }
}

/// Bounds on `published_at`: `from` ≤ published_at ≤ `to`, and published_at < `before`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PublishedRange {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
}

/// The whole UTC days inside a [`PublishedRange`]: `first` ≤ day < `end`, either side open when absent.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WholeDays {
    first: Option<NaiveDate>,
    end: Option<NaiveDate>,
}

impl PublishedRange {
    /// CONTRACT §4: `published_after` / `published_before` are inclusive bounds.
    fn of(query: &JobOfferQuery) -> Self {
        PublishedRange { from: query.published_after, to: query.published_before, before: None }
    }

    fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.before.is_none()
    }

    /// `None` when no whole day fits. PostgreSQL keeps microseconds, so a day ends inside `to` when its last
    /// microsecond does, that is when the next midnight is at most `to` + 1 µs.
    fn whole_days(&self) -> Option<WholeDays> {
        let first = self.from.map(|from| {
            let day = from.date_naive();
            if midnight(day) == from { day } else { day.succ_opt().unwrap_or(day) }
        });
        let end = match self.to {
            Some(to) => Some(to.checked_add_signed(TimeDelta::microseconds(1))?.date_naive()),
            None => None,
        };
        match (first, end) {
            (Some(first), Some(end)) if first >= end => None,
            _ => Some(WholeDays { first, end }),
        }
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
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
    /// CONTRACT §12: 1 ..= 2^53 − 1, unique; given by the database when absent.
    pub recruitment_id: Option<i64>,
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
        "INSERT INTO job_offers
             (id, company_id, title, description, location, job_type, status, published_at, recruitment_id)
         VALUES (COALESCE($1, gen_random_uuid()), $2, $3, COALESCE($4, ''), $5, $6, COALESCE($7, 'draft'), $8,
                 COALESCE($9, next_job_offer_recruitment_id()))
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
    .bind(fields.recruitment_id)
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
                 CASE WHEN COALESCE($6, status) IN ('open', 'active') THEN now() END),
             recruitment_id = COALESCE($8, recruitment_id)
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(fields.title.as_deref())
    .bind(fields.description.as_deref())
    .bind(fields.location.as_deref())
    .bind(fields.job_type.as_deref())
    .bind(fields.status.as_deref())
    .bind(fields.published_at)
    .bind(fields.recruitment_id)
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
    let recruitment_ids: Vec<Option<i64>> = batch.iter().map(|f| f.recruitment_id).collect();
    // A line without `recruitment_id` keeps the one its offer already has (CONTRACT §12), or gets a new one.
    let result = sqlx::query(
        "INSERT INTO job_offers AS o
             (id, company_id, title, description, location, job_type, status, published_at, recruitment_id)
         SELECT t.id, $2, title, description, location, job_type, status, published_at,
                COALESCE(t.recruitment_id,
                         (SELECT e.recruitment_id FROM job_offers e WHERE e.id = t.id AND e.company_id = $2),
                         next_job_offer_recruitment_id())
         FROM UNNEST($1::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
                     $9::bigint[])
              AS t(id, title, description, location, job_type, status, published_at, recruitment_id)
         ON CONFLICT (id) DO UPDATE SET
             title = EXCLUDED.title, description = EXCLUDED.description, location = EXCLUDED.location,
             job_type = EXCLUDED.job_type, status = EXCLUDED.status, published_at = EXCLUDED.published_at,
             recruitment_id = EXCLUDED.recruitment_id
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
    .bind(&recruitment_ids)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// The company's open offer titled `title` if there is one, else its newest open offer (the demo's example).
pub async fn first_open_titled(db: &PgPool, company_id: Uuid, title: &str) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM job_offers WHERE company_id = $1 AND status = 'open'
         ORDER BY title = $2 DESC, published_at DESC NULLS LAST, id LIMIT 1",
    )
    .bind(company_id)
    .bind(title)
    .fetch_optional(db)
    .await
}

/// The offer with this numeric id (CONTRACT §12 `recruitmentId`).
pub async fn find_by_recruitment_id(db: impl PgExecutor<'_>, recruitment_id: i64) -> sqlx::Result<Option<JobOffer>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_offers WHERE recruitment_id = $1"))
        .bind(recruitment_id)
        .fetch_optional(db)
        .await
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
