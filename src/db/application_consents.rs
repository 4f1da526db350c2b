//! The `application_consents` table: the GDPR consent recorded with each imported application (CONTRACT §12).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::submissions::SubmissionFile;

pub async fn insert(
    conn: &mut PgConnection,
    application_id: Uuid,
    submission_id: Uuid,
    granted: bool,
    valid_to: Option<DateTime<Utc>>,
    document: Option<&SubmissionFile>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO application_consents (application_id, submission_id, granted, valid_to, document_object_key,
             document_filename, document_content_type, document_size_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(application_id)
    .bind(submission_id)
    .bind(granted)
    .bind(valid_to)
    .bind(document.map(|d| &d.object_key))
    .bind(document.and_then(|d| d.filename.as_ref()))
    .bind(document.map(|d| &d.detected_content_type))
    .bind(document.map(|d| d.size_bytes))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A consent as operators see it (`talqo-server application show`).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ConsentSummary {
    pub granted: bool,
    #[serde(serialize_with = "crate::domain::timestamp::serialize_option")]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::domain::timestamp::serialize")]
    pub recorded_at: DateTime<Utc>,
    pub has_document: bool,
}

pub async fn for_application(db: impl PgExecutor<'_>, application_id: Uuid) -> sqlx::Result<Vec<ConsentSummary>> {
    sqlx::query_as(
        "SELECT granted, valid_to, recorded_at, document_object_key IS NOT NULL AS has_document
         FROM application_consents WHERE application_id = $1 ORDER BY recorded_at",
    )
    .bind(application_id)
    .fetch_all(db)
    .await
}
