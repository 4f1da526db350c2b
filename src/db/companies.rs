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
    /// CONTRACT §13: `#rrggbb` for the hosted pages.
    #[serde(skip)]
    pub accent_color: Option<String>,
    /// CONTRACT §13: origins allowed to frame the hosted pages.
    #[serde(skip)]
    pub embed_origins: Vec<String>,
    /// A digest of the logo, when there is one: its URL changes with it, so browsers may cache it for good.
    #[serde(skip)]
    pub logo_version: Option<String>,
}

const COLUMNS: &str = "id, name, slug, auto_reject_threshold, locale, created_at, \
    accent_color, embed_origins, substr(md5(logo), 1, 16) AS logo_version";

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

/// What `company create|update` may change on the hosted pages (CONTRACT §13); `None` leaves a column as it is.
#[derive(Default)]
pub struct PageSettingsChanges<'a> {
    /// `Some(None)` goes back to the default colour.
    pub accent_color: Option<Option<&'a str>>,
    /// `Some(None)` removes the logo; `Some(Some((bytes, content type)))` replaces it.
    pub logo: Option<Option<(&'a [u8], &'a str)>>,
    /// Replaces the list; an empty list clears it.
    pub embed_origins: Option<&'a [String]>,
}

pub async fn update_page_settings(
    db: &PgPool,
    id: Uuid,
    changes: &PageSettingsChanges<'_>,
) -> sqlx::Result<Option<Company>> {
    let logo = changes.logo.flatten();
    sqlx::query_as(&format!(
        "UPDATE companies SET
             accent_color = CASE WHEN $2 THEN $3 ELSE accent_color END,
             logo = CASE WHEN $4 THEN $5 ELSE logo END,
             logo_content_type = CASE WHEN $4 THEN $6 ELSE logo_content_type END,
             embed_origins = COALESCE($7, embed_origins)
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(changes.accent_color.is_some())
    .bind(changes.accent_color.flatten())
    .bind(changes.logo.is_some())
    .bind(logo.map(|(bytes, _)| bytes))
    .bind(logo.map(|(_, content_type)| content_type))
    .bind(changes.embed_origins)
    .fetch_optional(db)
    .await
}

/// The company of a hosted page, by its slug.
pub async fn find_by_slug(db: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<Company>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM companies WHERE slug = $1")).bind(slug).fetch_optional(db).await
}

/// The company's logo and its content type, if it has one.
pub async fn logo(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<(Vec<u8>, String)>> {
    sqlx::query_as("SELECT logo, logo_content_type FROM companies WHERE id = $1 AND logo IS NOT NULL")
        .bind(id)
        .fetch_optional(db)
        .await
}
