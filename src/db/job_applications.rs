//! The `job_applications` table and the first row of `candidate_steps` written with it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::db::job_queue::{self, JobQueue, Lease, QueueColumns};
use crate::domain::candidate::CandidateIdentity;

/// An application's identity and status, as the intake's outcome names it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationReceipt {
    #[sqlx(rename = "id")]
    pub application_id: Uuid,
    pub candidate_id: Uuid,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// A row of `job_applications`, without its scoring.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobApplication {
    pub id: Uuid,
    pub company_id: Uuid,
    pub candidate_id: Uuid,
    pub job_offer_id: Uuid,
    pub status: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<JobApplication>> {
    sqlx::query_as(
        "SELECT id, company_id, candidate_id, job_offer_id, status, source, created_at, updated_at
         FROM job_applications WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// An application with its candidate and scoring, for operators (`talqo-server application show`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationDetails {
    pub id: Uuid,
    pub company_id: Uuid,
    pub job_offer_id: Uuid,
    pub status: String,
    pub source: String,
    pub cover_letter: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub candidate_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub cv_object_key: Option<String>,
    pub cv_content_type: Option<String>,
    pub cv_size_bytes: Option<i64>,
    pub scoring_status: String,
    pub rating: Option<i16>,
    pub ai_resume_summary: Option<String>,
    pub first_impression_text: Option<String>,
    pub cv_text_source: Option<String>,
}

pub async fn details(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ApplicationDetails>> {
    sqlx::query_as(
        "SELECT a.id, a.company_id, a.job_offer_id, a.status, a.source, a.cover_letter, a.created_at, a.updated_at,
                c.id AS candidate_id, c.email, c.first_name, c.last_name, c.phone, c.linkedin_url, c.cv_object_key,
                c.cv_content_type, c.cv_size_bytes, a.scoring_status, a.rating, a.ai_resume_summary,
                a.first_impression_text, a.cv_text_source
         FROM job_applications a JOIN candidates c ON c.id = a.candidate_id
         WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The application's pipeline steps, oldest first: (status, created_at).
pub async fn steps(db: impl PgExecutor<'_>, application_id: Uuid) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    sqlx::query_as("SELECT status, created_at FROM candidate_steps WHERE application_id = $1 ORDER BY created_at")
        .bind(application_id)
        .fetch_all(db)
        .await
}

/// The receipt of application `id` (CONTRACT §6's answer), as it is now.
pub async fn receipt(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ApplicationReceipt>> {
    sqlx::query_as("SELECT id, candidate_id, status, created_at FROM job_applications WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The application of this identity to this offer, if there is one.
pub async fn find_for_identity(
    db: impl PgExecutor<'_>,
    company_id: Uuid,
    identity: &CandidateIdentity,
    job_offer_id: Uuid,
) -> sqlx::Result<Option<ApplicationReceipt>> {
    sqlx::query_as(
        "SELECT a.id, a.candidate_id, a.status, a.created_at
         FROM job_applications a JOIN candidates c ON c.id = a.candidate_id
         WHERE c.company_id = $1 AND c.identity_email = $2 AND c.identity_first_name = $3
           AND c.identity_last_name = $4 AND a.job_offer_id = $5",
    )
    .bind(company_id)
    .bind(&identity.email)
    .bind(&identity.first_name)
    .bind(&identity.last_name)
    .bind(job_offer_id)
    .fetch_optional(db)
    .await
}

/// The scoring columns of a new application.
pub enum ScoringRecord<'a> {
    Scored {
        rating: i16,
        ai_resume_summary: &'a str,
        first_impression_text: &'a str,
    },
    /// The scorer failed; the worker tries again at `retry_at`.
    Pending {
        error: &'a str,
        retry_at: DateTime<Utc>,
    },
    /// No text to score.
    Unscorable {
        reason: &'a str,
    },
}

pub struct NewApplication<'a> {
    pub company_id: Uuid,
    pub candidate_id: Uuid,
    pub job_offer_id: Uuid,
    pub status: &'a str,
    pub source: &'a str,
    pub cover_letter: &'a str,
    pub cv_text: Option<&'a str>,
    /// `text_layer` or `ocr`, with `cv_text`.
    pub cv_text_source: Option<&'a str>,
    pub scoring: ScoringRecord<'a>,
}

/// Inserts the application unless the candidate already applied to the offer (then `None`).
pub async fn insert(
    conn: &mut PgConnection,
    application: &NewApplication<'_>,
) -> sqlx::Result<Option<ApplicationReceipt>> {
    let (scoring_status, rating, summary, impression, error, retry_at) = match &application.scoring {
        ScoringRecord::Scored { rating, ai_resume_summary, first_impression_text } => {
            ("scored", Some(*rating), Some(*ai_resume_summary), Some(*first_impression_text), None, None)
        }
        ScoringRecord::Pending { error, retry_at } => ("pending", None, None, None, Some(*error), Some(*retry_at)),
        ScoringRecord::Unscorable { reason } => ("unscorable", None, None, None, Some(*reason), None),
    };
    sqlx::query_as(
        "INSERT INTO job_applications (company_id, candidate_id, job_offer_id, status, source, cover_letter,
             cv_text, scoring_status, rating, ai_resume_summary, first_impression_text, scoring_attempts,
             last_scoring_error, next_scoring_at, cv_text_source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $14)
         ON CONFLICT ON CONSTRAINT job_applications_candidate_offer_key DO NOTHING
         RETURNING id, candidate_id, status, created_at",
    )
    .bind(application.company_id)
    .bind(application.candidate_id)
    .bind(application.job_offer_id)
    .bind(application.status)
    .bind(application.source)
    .bind(application.cover_letter)
    .bind(application.cv_text)
    .bind(scoring_status)
    .bind(rating)
    .bind(summary)
    .bind(impression)
    .bind(error)
    .bind(retry_at)
    .bind(application.cv_text_source)
    .fetch_optional(&mut *conn)
    .await
}

/// A pipeline step (`awaiting_advance`, `rejected`, …).
pub async fn insert_step(conn: &mut PgConnection, application_id: Uuid, status: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO candidate_steps (application_id, status) VALUES ($1, $2)")
        .bind(application_id)
        .bind(status)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Re-scoring of applications created unscored (CONTRACT §6 "Scoring"), a queue on the application row
/// itself. Its columns predate the convention of [`crate::db::job_queue`] and carry a `scoring` prefix.
pub const RESCORING_QUEUE: JobQueue = JobQueue::new("job_applications", "id", "scoring_status = 'pending'")
    .with_columns(QueueColumns {
        run_after: "next_scoring_at",
        locked_until: "scoring_locked_until",
        lease_token: "scoring_lease_token",
        attempts: "scoring_attempts",
        last_error: "last_scoring_error",
        failed_at: "scoring_failed_at",
    });

/// What scoring an application again needs.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingScoring {
    pub id: Uuid,
    pub company_id: Uuid,
    pub cv_text: String,
    pub offer_title: String,
    pub offer_description: String,
}

/// The application and offer texts of a leased re-scoring; `None` when it is no longer pending.
pub async fn find_pending_scoring(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<PendingScoring>> {
    sqlx::query_as(
        "SELECT a.id, a.company_id, COALESCE(a.cv_text, '') AS cv_text,
                o.title AS offer_title, o.description AS offer_description
         FROM job_applications a JOIN job_offers o ON o.id = a.job_offer_id
         WHERE a.id = $1 AND a.scoring_status = 'pending'",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What [`record_late_score`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateScore {
    /// Scored; `rejected` when auto-reject moved the application to `rejected` now.
    Recorded { rejected: bool },
    /// Another worker took the re-scoring over: nothing was written.
    LeaseLost,
}

/// Records a successful late scoring under the lease `held`, in the caller's transaction. With `reject`,
/// an application still `new` moves to `rejected` (one a recruiter already moved on keeps its status).
pub async fn record_late_score(
    conn: &mut PgConnection,
    held: &Lease<Uuid>,
    rating: i16,
    ai_resume_summary: &str,
    first_impression_text: &str,
    reject: bool,
) -> sqlx::Result<LateScore> {
    if !job_queue::finish(&mut *conn, &RESCORING_QUEUE, held).await? {
        return Ok(LateScore::LeaseLost);
    }
    let rejected: bool = sqlx::query_scalar(
        "WITH before AS (SELECT id, status FROM job_applications WHERE id = $1)
         UPDATE job_applications a SET scoring_status = 'scored', rating = $2, ai_resume_summary = $3,
             first_impression_text = $4, next_scoring_at = NULL, last_scoring_error = NULL,
             scoring_attempts = a.scoring_attempts + 1,
             status = CASE WHEN $5 AND before.status = 'new' THEN 'rejected' ELSE a.status END
         FROM before WHERE a.id = before.id
         RETURNING $5 AND before.status = 'new'",
    )
    .bind(held.key)
    .bind(rating)
    .bind(ai_resume_summary)
    .bind(first_impression_text)
    .bind(reject)
    .fetch_one(&mut *conn)
    .await?;
    Ok(LateScore::Recorded { rejected })
}
