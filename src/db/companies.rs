//! The `companies` table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Company {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub auto_reject_threshold: Option<i16>,
    pub locale: String,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, slug, auto_reject_threshold, locale, created_at";

pub struct NewCompany<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub auto_reject_threshold: Option<i16>,
    pub locale: &'a str,
}

pub async fn insert(db: &PgPool, company: &NewCompany<'_>) -> sqlx::Result<Company> {
    sqlx::query_as(&format!(
        "INSERT INTO companies (name, slug, auto_reject_threshold, locale) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(company.name)
    .bind(company.slug)
    .bind(company.auto_reject_threshold)
    .bind(company.locale)
    .fetch_one(db)
    .await
}

/// What `company update` may change; `None` leaves a column as it is.
#[derive(Default)]
pub struct CompanyChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` disables auto-reject.
    pub auto_reject_threshold: Option<Option<i16>>,
    pub locale: Option<&'a str>,
}

pub async fn update(db: &PgPool, id: Uuid, changes: &CompanyChanges<'_>) -> sqlx::Result<Option<Company>> {
    sqlx::query_as(&format!(
        "UPDATE companies SET
             name = COALESCE($2, name),
             auto_reject_threshold = CASE WHEN $3 THEN $4 ELSE auto_reject_threshold END,
             locale = COALESCE($5, locale)
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(changes.name)
    .bind(changes.auto_reject_threshold.is_some())
    .bind(changes.auto_reject_threshold.flatten())
    .bind(changes.locale)
    .fetch_optional(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Company>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM companies WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// Finds a company by id or by slug, as the CLI's `COMPANY` arguments allow.
pub async fn find_by_id_or_slug(db: &PgPool, reference: &str) -> sqlx::Result<Option<Company>> {
    match Uuid::parse_str(reference) {
        Ok(id) => find(db, id).await,
        Err(_) => {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM companies WHERE slug = $1"))
                .bind(reference)
                .fetch_optional(db)
                .await
        }
    }
}
