//! The `submissions` and `submission_files` tables: what a front door accepted, until the pipeline made it an
//! application (migration 20261202000002).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// A submission as the accept step writes it.
pub struct SubmissionWrite<'a> {
    pub company_id: Uuid,
    pub job_offer_id: Uuid,
    pub door: &'a str,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub phone: Option<&'a str>,
    pub linkedin_url: Option<&'a str>,
    pub cover_letter: &'a str,
    pub source: &'a str,
    pub consent_granted: Option<bool>,
    pub consent_valid_to: Option<DateTime<Utc>>,
}

/// A stored file of a submission.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubmissionFile {
    pub position: i16,
    pub role: String,
    pub filename: Option<String>,
    pub declared_content_type: Option<String>,
    pub detected_content_type: String,
    pub size_bytes: i64,
    pub object_key: String,
}

/// Inserts a submission held by `lease_token` until `locked_until` (the request that accepts it processes it
/// at once), or due now for the worker when `lease` is `None`.
pub async fn insert(
    conn: &mut PgConnection,
    submission: &SubmissionWrite<'_>,
    lease: Option<(Uuid, DateTime<Utc>)>,
) -> sqlx::Result<(Uuid, DateTime<Utc>)> {
    sqlx::query_as(
        "INSERT INTO submissions (company_id, job_offer_id, door, email, first_name, last_name, phone, linkedin_url,
             cover_letter, source, consent_granted, consent_valid_to, lease_token, locked_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         RETURNING id, created_at",
    )
    .bind(submission.company_id)
    .bind(submission.job_offer_id)
    .bind(submission.door)
    .bind(submission.email)
    .bind(submission.first_name)
    .bind(submission.last_name)
    .bind(submission.phone)
    .bind(submission.linkedin_url)
    .bind(submission.cover_letter)
    .bind(submission.source)
    .bind(submission.consent_granted)
    .bind(submission.consent_valid_to)
    .bind(lease.map(|(token, _)| token))
    .bind(lease.map(|(_, until)| until))
    .fetch_one(&mut *conn)
    .await
}

pub async fn insert_file(conn: &mut PgConnection, submission_id: Uuid, file: &SubmissionFile) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO submission_files (submission_id, position, role, filename, declared_content_type,
             detected_content_type, size_bytes, object_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
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

/// A submission to process, as accepted.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AcceptedSubmission {
    pub id: Uuid,
    pub company_id: Uuid,
    pub job_offer_id: Uuid,
    pub door: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub cover_letter: String,
    pub source: String,
    pub consent_granted: Option<bool>,
    pub consent_valid_to: Option<DateTime<Utc>>,
    pub status: String,
    pub attempts: i32,
}

/// The submission and its files, whatever its status.
pub async fn load(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<(AcceptedSubmission, Vec<SubmissionFile>)>> {
    let submission: Option<AcceptedSubmission> = sqlx::query_as(
        "SELECT id, company_id, job_offer_id, door, email, first_name, last_name, phone, linkedin_url,
                cover_letter, source, consent_granted, consent_valid_to, status, attempts
         FROM submissions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(submission) = submission else { return Ok(None) };
    let files = sqlx::query_as(
        "SELECT position, role, filename, declared_content_type, detected_content_type, size_bytes, object_key
         FROM submission_files WHERE submission_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some((submission, files)))
}

/// Locks the submission for its processing transaction, if it is still to be processed and still held by
/// `lease_token` (a holder whose lease was taken over must not complete it).
pub async fn lock_for_processing(conn: &mut PgConnection, id: Uuid, lease_token: Uuid) -> sqlx::Result<bool> {
    let locked: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM submissions WHERE id = $1 AND status = 'processing' AND lease_token = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(lease_token)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(locked.is_some())
}

/// The files of a processed submission went to their owners: forget them here.
pub async fn delete_files(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("DELETE FROM submission_files WHERE submission_id = $1 RETURNING object_key")
        .bind(id)
        .fetch_all(&mut *conn)
        .await
}

/// Marks the submission done: it became, or joined, `application_id`. Its lease is ended by the caller
/// ([`crate::db::job_queue::finish`]) in the same transaction.
pub async fn complete(
    conn: &mut PgConnection,
    id: Uuid,
    application_id: Uuid,
    existing_application: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE submissions SET status = 'completed', application_id = $2, existing_application = $3
         WHERE id = $1",
    )
    .bind(id)
    .bind(application_id)
    .bind(existing_application)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks the submission failed for good, with the reason its client reads (CONTRACT §12 `errorMessage`).
pub async fn fail(conn: &mut PgConnection, id: Uuid, error_message: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE submissions SET status = 'failed', error_message = $2 WHERE id = $1")
        .bind(id)
        .bind(error_message)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// What a client polling a submission reads (CONTRACT §12).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubmissionStatus {
    pub id: Uuid,
    pub job_offer_id: Uuid,
    /// `processing`, `completed` or `failed`.
    pub status: String,
    pub application_id: Option<Uuid>,
    pub existing_application: Option<bool>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The company's submission `id`, if it is one of its.
pub async fn status_for_company(
    db: impl PgExecutor<'_>,
    company_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<SubmissionStatus>> {
    sqlx::query_as(
        "SELECT id, job_offer_id, status, application_id, existing_application, error_message, created_at, updated_at
         FROM submissions WHERE id = $1 AND company_id = $2",
    )
    .bind(id)
    .bind(company_id)
    .fetch_optional(db)
    .await
}
