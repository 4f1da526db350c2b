//! Scheduling an email to an application's candidate: the one place where an email is built from what the
//! database knows about the application (CONTRACT §6 "Email", "Auto-reject").

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{EmailContext, EmailKind, Locale, render_email};
use crate::db::outbox;

/// Renders `kind` for the candidate of `application_id` (names, email, offer title, company name and
/// locale read in the caller's transaction) and queues it, not to be sent before `send_after`. Run it in
/// the transaction that creates or rejects the application. False when there is no such application.
/// At most one email of each kind is queued per application (a second call does nothing).
pub async fn schedule_email(
    conn: &mut PgConnection,
    application_id: Uuid,
    kind: EmailKind,
    send_after: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let Some(addressee) = outbox::addressee(&mut *conn, application_id).await? else {
        return Ok(false);
    };
    let email = render_email(
        kind,
        // The column's CHECK constraint allows only the locales there are.
        Locale::parse(&addressee.locale).unwrap_or_default(),
        &EmailContext {
            candidate_first_name: addressee.first_name,
            candidate_last_name: addressee.last_name,
            offer_title: addressee.offer_title,
            company_name: addressee.company_name,
        },
    );
    outbox::enqueue(conn, application_id, kind, &addressee.email, &email, send_after).await?;
    Ok(true)
}

/// Queues the rejection email of `application_id` (CONTRACT §6 "Auto-reject": `send_after` is the rejection
/// time plus `REJECTION_EMAIL_DELAY`), in the caller's transaction. False when there is no such application.
pub async fn schedule_rejection_email(
    conn: &mut PgConnection,
    application_id: Uuid,
    send_after: DateTime<Utc>,
) -> sqlx::Result<bool> {
    schedule_email(conn, application_id, EmailKind::Rejection, send_after).await
}
