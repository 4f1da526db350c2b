//! The outbox pass: take due emails, send each, record it sent or schedule its retry with backoff.
//!
//! CONTRACT §6 "Email": each email is sent once, and an SMTP outage delays mail without losing or
//! duplicating it. A row is marked sent right after its send succeeds; a row is tried again only after
//! a failure (with backoff) or after its holder's lease ran out (a worker that died mid-pass).

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::transport::SEND_TIMEOUT;
use super::{MailError, Mailer, RenderedEmail};
use crate::db::outbox::{self, ClaimedEmail};

/// How long a pass holds the emails it took. A pass stops sending (and gives back the rest) before
/// the lease could run out mid-send, so no other worker can take over a row that is being sent.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(300);

/// Room left between the last send a pass starts and the end of its lease (clock steps, slow SQL).
const LEASE_MARGIN: Duration = Duration::from_secs(30);

const FIRST_RETRY_DELAY: Duration = Duration::from_secs(10);
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(60 * 60);

/// Emails one pass of [`run_delivery_loop`] takes at most.
const LOOP_BATCH: i64 = 20;

/// The wait before trying an email again after its `failed_attempts`-th failure: 10 s, doubling,
/// at most an hour.
pub fn retry_delay(failed_attempts: i32) -> Duration {
    let doublings = u32::try_from(failed_attempts.saturating_sub(1)).unwrap_or(0);
    // 2^9 × 10 s already passes the hour; past that the cap applies whatever the count.
    if doublings >= 9 {
        return LONGEST_RETRY_DELAY;
    }
    (FIRST_RETRY_DELAY * 2u32.pow(doublings)).min(LONGEST_RETRY_DELAY)
}

/// One pass: takes up to `batch` due emails, sends each, and marks it sent or failed with a retry
/// scheduled. Returns how many were sent. An error is returned only when the outbox itself cannot be
/// read or updated; a failed send is recorded on its row.
#[tracing::instrument(name = "mail.deliver_due", skip_all, fields(batch = batch, mailer = mailer.describe()))]
pub async fn deliver_due(pool: &PgPool, mailer: &Mailer, batch: i64) -> Result<usize, MailError> {
    let claimed = outbox::claim_due(pool, batch, DELIVERY_LEASE).await?;
    let claimed_at = Instant::now();
    let mut sent = 0;
    for (position, email) in claimed.iter().enumerate() {
        if claimed_at.elapsed() + SEND_TIMEOUT + LEASE_MARGIN >= DELIVERY_LEASE {
            let untried: Vec<Uuid> = claimed[position..].iter().map(|email| email.id).collect();
            tracing::info!(untried = untried.len(), "delivery lease nearly spent; giving back the rest");
            outbox::release(pool, &untried).await?;
            break;
        }
        if deliver_one(pool, mailer, email).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Sends one claimed email and records the outcome; true when it was sent.
async fn deliver_one(pool: &PgPool, mailer: &Mailer, email: &ClaimedEmail) -> Result<bool, MailError> {
    let rendered = RenderedEmail {
        subject: email.subject.clone(),
        text_body: email.text_body.clone(),
        html_body: email.html_body.clone(),
    };
    match mailer.send(email.id, &email.recipient, &rendered).await {
        Ok(()) => {
            outbox::mark_sent(pool, email.id).await?;
            tracing::info!(
                outbox_id = %email.id,
                application_id = %email.application_id,
                kind = %email.kind,
                "email sent"
            );
            Ok(true)
        }
        Err(error) => {
            crate::observability::email_delivery_failed();
            let failed_attempts = email.attempts.saturating_add(1);
            let retry_after = retry_delay(failed_attempts);
            tracing::warn!(
                outbox_id = %email.id,
                application_id = %email.application_id,
                kind = %email.kind,
                failed_attempts,
                retry_after_secs = retry_after.as_secs(),
                error = %error,
                "email not sent; will retry"
            );
            outbox::mark_failed(pool, email.id, &error.to_string(), retry_after).await?;
            Ok(false)
        }
    }
}

/// Delivers due emails until `shutdown` is cancelled: a pass every `poll_interval`, at once again
/// when a pass found a full batch. A pass is never cut short by shutdown, so an email that left is
/// always recorded as sent.
pub async fn run_delivery_loop(pool: PgPool, mailer: Mailer, poll_interval: Duration, shutdown: CancellationToken) {
    tracing::info!(mailer = mailer.describe(), "mail delivery started");
    while !shutdown.is_cancelled() {
        let pass_was_full = match deliver_due(&pool, &mailer, LOOP_BATCH).await {
            Ok(sent) => i64::try_from(sent).is_ok_and(|sent| sent >= LOOP_BATCH),
            Err(error) => {
                tracing::error!(error = %error, "mail delivery pass failed");
                false
            }
        };
        if pass_was_full {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(poll_interval) => {}
        }
    }
    tracing::info!("mail delivery stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_at_ten_seconds_double_and_stop_growing_at_an_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(10));
        assert_eq!(retry_delay(2), Duration::from_secs(20));
        assert_eq!(retry_delay(3), Duration::from_secs(40));
        assert_eq!(retry_delay(9), Duration::from_secs(2560));
        assert_eq!(retry_delay(10), Duration::from_secs(3600));
        assert_eq!(retry_delay(i32::MAX), Duration::from_secs(3600));
        assert_eq!(retry_delay(0), Duration::from_secs(10));
    }

    #[test]
    fn a_pass_can_send_at_least_once_within_its_lease() {
        assert!(SEND_TIMEOUT + LEASE_MARGIN < DELIVERY_LEASE);
    }
}
