//! SQL on `email_outbox`: queue an email in the application's transaction, and the delivery worker's
//! claim (a lease taken with `FOR UPDATE SKIP LOCKED`), sent and failed-with-retry updates.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::mail::{EmailKind, RenderedEmail};

/// An email taken by a worker, to be sent before its lease runs out.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedEmail {
    pub id: Uuid,
    pub application_id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// Failed attempts so far.
    pub attempts: i32,
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

/// Takes up to `limit` unsent emails that are due and not held by another worker, and holds them for
/// `lease`. Workers running at once never take the same row; a row whose holder died (its lease
/// passed) is taken over.
pub async fn claim_due(pool: &PgPool, limit: i64, lease: Duration) -> sqlx::Result<Vec<ClaimedEmail>> {
    sqlx::query_as::<_, ClaimedEmail>(
        "WITH due AS ( \
             SELECT id FROM email_outbox \
             WHERE sent_at IS NULL AND send_after <= now() \
               AND (locked_until IS NULL OR locked_until <= now()) \
             ORDER BY send_after \
             LIMIT $1 \
             FOR UPDATE SKIP LOCKED \
         ) \
         UPDATE email_outbox AS outbox \
         SET locked_until = now() + make_interval(secs => $2) \
         FROM due WHERE outbox.id = due.id \
         RETURNING outbox.id, outbox.application_id, outbox.kind, outbox.recipient, outbox.subject, \
                   outbox.text_body, outbox.html_body, outbox.attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// Records that the email left; it is never sent again.
pub async fn mark_sent(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_outbox SET sent_at = now(), locked_until = NULL, last_error = NULL WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records a failed attempt and schedules the next one `retry_after` from now.
pub async fn mark_failed(pool: &PgPool, id: Uuid, error: &str, retry_after: Duration) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE email_outbox \
         SET attempts = attempts + 1, last_error = $2, \
             send_after = now() + make_interval(secs => $3), locked_until = NULL \
         WHERE id = $1 AND sent_at IS NULL",
    )
    .bind(id)
    .bind(error)
    .bind(retry_after.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives back emails taken but not tried, so the next pass takes them without waiting for the lease.
pub async fn release(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_outbox SET locked_until = NULL WHERE id = ANY($1) AND sent_at IS NULL")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
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
