//! The `application_attachments` table: the files an imported application kept (CONTRACT §12).

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::submissions::SubmissionFile;

/// Moves a submission's file to the application it became or joined.
pub async fn insert(
    conn: &mut PgConnection,
    application_id: Uuid,
    submission_id: Uuid,
    file: &SubmissionFile,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO application_attachments (application_id, submission_id, position, role, filename,
             declared_content_type, detected_content_type, size_bytes, object_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(application_id)
    .bind(submission_id)
    .bind(file.position)
    .bind(&file.role)
    .bind(&file.filename)
    .bind(&file.declared_content_type)
    .bind(&file.detected_content_type)
    .bind(file.size_bytes)
    .bind(&file.object_key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether an attachment keeps `object_key` (then a replaced CV must not be deleted with it).
pub async fn keeps_object(db: impl PgExecutor<'_>, object_key: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM application_attachments WHERE object_key = $1)")
        .bind(object_key)
        .fetch_one(db)
        .await
}

/// An attachment as operators see it (`talqo-server application show`).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AttachmentSummary {
    pub role: String,
    pub filename: Option<String>,
    pub declared_content_type: Option<String>,
    pub detected_content_type: String,
    pub size_bytes: i64,
}

pub async fn for_application(db: impl PgExecutor<'_>, application_id: Uuid) -> sqlx::Result<Vec<AttachmentSummary>> {
    sqlx::query_as(
        "SELECT role, filename, declared_content_type, detected_content_type, size_bytes
         FROM application_attachments WHERE application_id = $1 ORDER BY created_at, position",
    )
    .bind(application_id)
    .fetch_all(db)
    .await
}
