//! SQL on `email_outbox`: queue an email in the application's transaction, read what a worker took, record
//! it sent, and list what was given up on. Delivery leases rows through [`crate::db::job_queue`] ([`QUEUE`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::db::job_queue::{self, JobQueue, Lease, QueueColumns};
use crate::domain::email::{EmailKind, RenderedEmail};

/// Unsent emails, due from `send_after` (the outbox's `run_after`, CONTRACT §6 "Auto-reject").
pub const QUEUE: JobQueue = JobQueue::new("email_outbox", "id", "sent_at IS NULL")
    .with_columns(QueueColumns { run_after: "send_after", ..QueueColumns::CONVENTIONAL });

/// An email taken by a worker, as it was queued.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEmail {
    pub id: Uuid,
    pub application_id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

impl OutboxEmail {
    pub fn rendered(&self) -> RenderedEmail {
        RenderedEmail {
            subject: self.subject.clone(),
            text_body: self.text_body.clone(),
            html_body: self.html_body.clone(),
        }
    }
}

/// Queues an email, not to be sent before `send_after`. Runs inside the transaction that creates or
/// rejects the application (CONTRACT §6 "Email"), so the email exists if and only if its cause does.
/// A second email of the same kind for the same application is ignored: at most one of each is sent.
pub async fn enqueue(
    conn: &mut PgConnection,
    application_id: Uuid,
    kind: EmailKind,
    recipient: &str,
    email: &RenderedEmail,
    send_after: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_outbox \
             (application_id, kind, recipient, subject, text_body, html_body, send_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT ON CONSTRAINT email_outbox_application_kind_key DO NOTHING",
    )
    .bind(application_id)
    .bind(kind.as_str())
    .bind(recipient)
    .bind(&email.subject)
    .bind(&email.text_body)
    .bind(&email.html_body)
    .bind(send_after)
    .execute(conn)
    .await?;
    Ok(())
}

/// The emails with these ids (those taken by a claim), in no particular order.
pub async fn find_many(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<OutboxEmail>> {
    sqlx::query_as(
        "SELECT id, application_id, kind, recipient, subject, text_body, html_body \
         FROM email_outbox WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Records that the email held under `held` left; it is never sent again. False when the lease was taken
/// over meanwhile (nothing is written then).
pub async fn mark_sent(pool: &PgPool, held: &Lease<Uuid>) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    if !job_queue::finish(&mut tx, &QUEUE, held).await? {
        return Ok(false);
    }
    sqlx::query("UPDATE email_outbox SET sent_at = now() WHERE id = $1").bind(held.key).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// Which of `ids` are recorded sent.
pub async fn sent_among(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM email_outbox WHERE id = ANY($1) AND sent_at IS NOT NULL")
        .bind(ids)
        .fetch_all(db)
        .await
}

/// An email the outbox gave up on (CONTRACT §11 "Email": after `MAIL_MAX_ATTEMPTS` failed tries).
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct FailedEmail {
    pub id: Uuid,
    pub application_id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::domain::timestamp::serialize")]
    pub failed_at: DateTime<Utc>,
}

/// Every email given up on, most recent first.
pub async fn list_failed(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<FailedEmail>> {
    sqlx::query_as(
        "SELECT id, application_id, kind, recipient, attempts, last_error, failed_at \
         FROM email_outbox WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, id",
    )
    .fetch_all(db)
    .await
}

/// Who an email about an application goes to and what it names: the candidate, the offer, the company.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Addressee {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub offer_title: String,
    pub company_name: String,
    /// `companies.locale`.
    pub locale: String,
}

/// The addressee of emails about `application_id`; `None` when there is no such application.
pub async fn addressee(db: impl PgExecutor<'_>, application_id: Uuid) -> sqlx::Result<Option<Addressee>> {
    sqlx::query_as(
        "SELECT c.email, c.first_name, c.last_name, o.title AS offer_title, co.name AS company_name, co.locale \
         FROM job_applications a \
         JOIN candidates c ON c.id = a.candidate_id \
         JOIN job_offers o ON o.id = a.job_offer_id \
         JOIN companies co ON co.id = a.company_id \
         WHERE a.id = $1",
    )
    .bind(application_id)
    .fetch_optional(db)
    .await
}

/// Unsent emails, for the `/metrics` gauges.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct OutboxBacklog {
    /// Due now (`send_after` passed).
    pub due: i64,
    /// Waiting for their `send_after` (delayed rejections).
    pub scheduled: i64,
    /// Failed at least once and still to be sent.
    pub retrying: i64,
}

/// Served by the partial index `email_outbox_due_idx`: only unsent rows are read.
pub async fn backlog(pool: &PgPool) -> sqlx::Result<OutboxBacklog> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE send_after <= now()) AS due, \
                count(*) FILTER (WHERE send_after > now()) AS scheduled, \
                count(*) FILTER (WHERE attempts > 0) AS retrying \
         FROM email_outbox WHERE sent_at IS NULL",
    )
    .fetch_one(pool)
    .await
}
