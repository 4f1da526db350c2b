//! The `job_applications` table and the first row of `candidate_steps` written with it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

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
             last_scoring_error, next_scoring_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13)
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

/// An application waiting to be scored again, leased to one worker.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingScoring {
    pub id: Uuid,
    pub company_id: Uuid,
    pub status: String,
    pub scoring_attempts: i32,
    pub cv_text: String,
    pub offer_title: String,
    pub offer_description: String,
}

/// Takes up to `limit` due applications, moving their next attempt `lease_seconds` ahead so no other worker
/// takes them meanwhile.
pub async fn lease_pending_scoring(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease_seconds: f64,
) -> sqlx::Result<Vec<PendingScoring>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM job_applications
             WHERE scoring_status = 'pending' AND next_scoring_at <= now()
             ORDER BY next_scoring_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE job_applications a SET next_scoring_at = now() + make_interval(secs => $2)
         FROM due, job_offers o
         WHERE a.id = due.id AND o.id = a.job_offer_id
         RETURNING a.id, a.company_id, a.status, a.scoring_attempts, COALESCE(a.cv_text, '') AS cv_text,
                   o.title AS offer_title, o.description AS offer_description",
    )
    .bind(limit)
    .bind(lease_seconds)
    .fetch_all(db)
    .await
}

/// Records a successful late scoring. With `reject`, an application still `new` moves to `rejected`
/// (one a recruiter already moved on keeps its status). Returns whether it was rejected now.
pub async fn record_late_score(
    conn: &mut PgConnection,
    id: Uuid,
    rating: i16,
    ai_resume_summary: &str,
    first_impression_text: &str,
    reject: bool,
) -> sqlx::Result<bool> {
    let current: Option<String> = sqlx::query_scalar(
        "SELECT status FROM job_applications WHERE id = $1 AND scoring_status = 'pending' FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(current) = current else {
        // Scored meanwhile by another worker.
        return Ok(false);
    };
    let rejecting = reject && current == "new";
    sqlx::query(
        "UPDATE job_applications SET scoring_status = 'scored', rating = $2, ai_resume_summary = $3,
             first_impression_text = $4, next_scoring_at = NULL, last_scoring_error = NULL,
             scoring_attempts = scoring_attempts + 1,
             status = CASE WHEN $5 THEN 'rejected' ELSE status END
         WHERE id = $1",
    )
    .bind(id)
    .bind(rating)
    .bind(ai_resume_summary)
    .bind(first_impression_text)
    .bind(rejecting)
    .execute(&mut *conn)
    .await?;
    Ok(rejecting)
}

pub async fn record_scoring_failure(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    retry_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE job_applications SET scoring_attempts = scoring_attempts + 1, last_scoring_error = $2,
             next_scoring_at = $3
         WHERE id = $1 AND scoring_status = 'pending'",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .execute(db)
    .await?;
    Ok(())
}
