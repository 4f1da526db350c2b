//! The outbox pass: take due emails, send each, record it sent or schedule its retry with backoff.
//!
//! CONTRACT §6 "Email" and §11 "Email": each email is sent at least once and never twice, across an SMTP
//! outage, an SMTP server slow to answer (up to 10 minutes, RFC 5321) or a PostgreSQL outage during
//! delivery. Rows are leased through [`crate::db::job_queue`]:
//! - the lease is renewed before each send and every quarter of it while a send is in progress, so a row is
//!   never taken over from a live worker, however slow the SMTP server;
//! - once the server accepted an email, that fact is kept in memory and its recording retried until the
//!   database answers again, still under the renewed lease (the default lease outlives a whole send);
//! - a send that fails is retried with backoff, and after `MAIL_MAX_ATTEMPTS` failures the row ends
//!   `failed` (`talqo-server outbox failed` lists those) instead of being retried for ever.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{MailError, Mailer, Sent};
use crate::db::job_queue::{self, Lease, LeaseKeeper, Retry, RetryPolicy};
use crate::db::outbox::{self, OutboxEmail};

/// How delivery holds and retries emails (`MAIL_LEASE`, `MAIL_RETRY_DELAY`, `MAIL_MAX_ATTEMPTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// How long a claim holds an email without renewal. Renewed while the email is sent or its sending
    /// recorded; by default longer than a whole send, so that even with the database unreachable during a
    /// send the row is not taken over before the send ended and was recorded.
    pub lease: Duration,
    pub retry: RetryPolicy,
}

/// `MAIL_LEASE` unset: three SMTP timeouts of 10 minutes (one whole send) and five minutes to record it.
pub const DEFAULT_DELIVERY_LEASE: Duration = Duration::from_secs(35 * 60);
/// `MAIL_RETRY_DELAY` unset: the wait after a first failure, doubled after each further one.
pub const DEFAULT_FIRST_RETRY_DELAY: Duration = Duration::from_secs(10);
/// `MAIL_MAX_ATTEMPTS` unset (CONTRACT §11 "Email").
pub const DEFAULT_MAX_ATTEMPTS: i32 = 10;
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(60 * 60);

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy::new(DEFAULT_DELIVERY_LEASE, DEFAULT_FIRST_RETRY_DELAY, DEFAULT_MAX_ATTEMPTS)
    }
}

impl DeliveryPolicy {
    pub fn new(lease: Duration, first_retry_delay: Duration, max_attempts: i32) -> Self {
        DeliveryPolicy {
            lease,
            retry: RetryPolicy {
                first_delay: first_retry_delay,
                max_delay: LONGEST_RETRY_DELAY.max(first_retry_delay),
                max_attempts: Some(max_attempts),
            },
        }
    }
}

/// How long a send in progress may still take once shutdown began (CONTRACT §11 "Shutdown" gives the
/// process 25 s); past it the send is abandoned and the email given back, to be sent again by any instance.
const SHUTDOWN_SEND_GRACE: Duration = Duration::from_secs(20);

/// Resolves `grace` after `shutdown` was cancelled.
async fn cancelled_then(shutdown: &CancellationToken, grace: Duration) {
    shutdown.cancelled().await;
    tokio::time::sleep(grace).await;
}

/// The lease of an email taken in a batch until its own send begins: if the pass stops early (the database
/// went away, a slow server), the emails it did not get to are free again soon, for any instance.
const WAITING_LEASE: Duration = Duration::from_secs(60);

/// How long to wait between two tries to record a sent email while the database does not answer.
const RECORD_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Emails one pass of [`run_delivery_loop`] takes at most.
const LOOP_BATCH: i64 = 20;

/// The wait before trying an email again after its `failed_attempts`-th failure under the default policy:
/// 10 s, doubling, at most an hour.
pub fn retry_delay(failed_attempts: i32) -> Duration {
    DeliveryPolicy::default().retry.delay(failed_attempts)
}

/// [`deliver_due_with`] under the default policy.
pub async fn deliver_due(pool: &PgPool, mailer: &Mailer, batch: i64) -> Result<usize, MailError> {
    deliver_due_with(pool, mailer, &DeliveryPolicy::default(), batch, &CancellationToken::new()).await
}

/// One pass: takes up to `batch` due emails, sends each, and marks it sent or failed with a retry
/// scheduled (or given up on). Returns how many were sent. An error is returned only when the outbox
/// itself cannot be read or updated; a failed send is recorded on its row. Once `shutdown` is cancelled no
/// further email is sent, a send in progress gets [`SHUTDOWN_SEND_GRACE`], and the recording of a sent email
/// is not retried any longer.
#[tracing::instrument(name = "mail.deliver_due", skip_all, fields(batch = batch, mailer = mailer.describe()))]
pub async fn deliver_due_with(
    pool: &PgPool,
    mailer: &Mailer,
    policy: &DeliveryPolicy,
    batch: i64,
    shutdown: &CancellationToken,
) -> Result<usize, MailError> {
    // Emails waiting their turn in the batch hold a short lease; each gets the whole lease when its send begins.
    let waiting_lease = policy.lease.min(WAITING_LEASE);
    let claimed: Vec<Lease<Uuid>> = job_queue::claim(pool, &outbox::QUEUE, batch, waiting_lease).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = claimed.iter().map(|lease| lease.key).collect();
    let mut emails: HashMap<Uuid, OutboxEmail> =
        outbox::find_many(pool, &ids).await?.into_iter().map(|email| (email.id, email)).collect();
    let mut sent = 0;
    for (position, lease) in claimed.iter().enumerate() {
        if shutdown.is_cancelled() {
            // Given back, so another instance sends them without waiting for the leases.
            job_queue::release(pool, &outbox::QUEUE, &claimed[position..]).await?;
            break;
        }
        // Gone with its application meanwhile.
        let Some(email) = emails.remove(&lease.key) else { continue };
        if deliver_one(pool, mailer, policy, lease.clone(), &email, shutdown).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Sends one claimed email and records the outcome; true when it was sent (and recorded).
async fn deliver_one(
    pool: &PgPool,
    mailer: &Mailer,
    policy: &DeliveryPolicy,
    lease: Lease<Uuid>,
    email: &OutboxEmail,
    shutdown: &CancellationToken,
) -> Result<bool, MailError> {
    // Emails later in a batch waited for the ones before: make sure this one is still ours, with a whole
    // lease ahead, before it leaves.
    if !job_queue::renew(pool, &outbox::QUEUE, &lease, policy.lease).await? {
        tracing::info!(outbox_id = %email.id, "email taken over by another worker; leaving it to it");
        return Ok(false);
    }
    let keeper = LeaseKeeper::start(pool.clone(), outbox::QUEUE, lease.clone(), policy.lease);
    let rendered = email.rendered();
    let outcome = tokio::select! {
        outcome = mailer.send(email.id, &email.recipient, &rendered) => outcome,
        () = cancelled_then(shutdown, SHUTDOWN_SEND_GRACE) => {
            drop(keeper);
            tracing::warn!(
                outbox_id = %email.id,
                "shutting down while the mail server has not answered; the email is given back and may be sent again"
            );
            job_queue::release(pool, &outbox::QUEUE, std::slice::from_ref(&lease)).await?;
            return Ok(false);
        }
    };
    let result = match outcome {
        Ok(sent) => {
            let recorded = record_sent(pool, &lease, email, shutdown).await;
            if recorded {
                publish(mailer, &sent, email.id).await;
            }
            Ok(recorded)
        }
        Err(error) => record_failure(pool, policy, &lease, email, &error).await.map(|()| false),
    };
    drop(keeper);
    result
}

/// Publishes what the transport staged for an email recorded sent (see [`Sent::Staged`]).
async fn publish(mailer: &Mailer, sent: &Sent, outbox_id: Uuid) {
    if let Err(error) = mailer.publish(sent).await {
        tracing::error!(%outbox_id, %error, "email recorded sent but its file could not be given its name");
    }
}

/// Publishes the staged emails of a process that stopped after the outbox recorded them sent and before it
/// published them. Staged emails not recorded sent are left: they are sent again, under the same name.
async fn publish_recorded_staged(pool: &PgPool, mailer: &Mailer) -> Result<(), MailError> {
    let staged = mailer.staged().await;
    if staged.is_empty() {
        return Ok(());
    }
    for outbox_id in outbox::sent_among(pool, &staged).await? {
        publish(mailer, &Sent::Staged { outbox_id }, outbox_id).await;
    }
    Ok(())
}

/// Records that `email` left, retrying while the database does not answer: the server accepted it, so it
/// must not be sent again. Gives up only when the lease was taken over or at shutdown (logged: the email
/// may then be sent a second time, which the stable Message-ID lets the receiving side recognise).
async fn record_sent(pool: &PgPool, lease: &Lease<Uuid>, email: &OutboxEmail, shutdown: &CancellationToken) -> bool {
    let mut failures = 0u32;
    loop {
        match outbox::mark_sent(pool, lease).await {
            Ok(true) => {
                tracing::info!(
                    outbox_id = %email.id,
                    application_id = %email.application_id,
                    kind = %email.kind,
                    "email sent"
                );
                return true;
            }
            Ok(false) => {
                tracing::error!(
                    outbox_id = %email.id,
                    "email sent, but its lease was taken over before it was recorded; it may be sent again"
                );
                return false;
            }
            Err(error) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(
                        outbox_id = %email.id,
                        %error,
                        failures,
                        "email sent but not yet recorded; retrying until the database answers"
                    );
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => {
                tracing::error!(
                    outbox_id = %email.id,
                    "shutting down before the database recorded a sent email; it may be sent again"
                );
                return false;
            }
            () = tokio::time::sleep(RECORD_RETRY_INTERVAL) => {}
        }
    }
}

async fn record_failure(
    pool: &PgPool,
    policy: &DeliveryPolicy,
    lease: &Lease<Uuid>,
    email: &OutboxEmail,
    error: &MailError,
) -> Result<(), MailError> {
    crate::observability::email_delivery_failed();
    let retry = job_queue::retry_later(pool, &outbox::QUEUE, lease, &error.to_string(), &policy.retry).await?;
    match retry {
        Retry::Scheduled { attempts, after } => tracing::warn!(
            outbox_id = %email.id,
            application_id = %email.application_id,
            kind = %email.kind,
            failed_attempts = attempts,
            retry_after_secs = after.as_secs(),
            error = %error,
            "email not sent; will retry"
        ),
        Retry::GaveUp { attempts } => tracing::error!(
            outbox_id = %email.id,
            application_id = %email.application_id,
            kind = %email.kind,
            failed_attempts = attempts,
            error = %error,
            "email not sent; giving up (listed by `talqo-server outbox failed`)"
        ),
        Retry::LeaseLost => tracing::warn!(
            outbox_id = %email.id,
            error = %error,
            "email not sent, and its lease was taken over meanwhile"
        ),
    }
    Ok(())
}

/// [`run_delivery_loop_with`] under the default policy.
pub async fn run_delivery_loop(pool: PgPool, mailer: Mailer, poll_interval: Duration, shutdown: CancellationToken) {
    run_delivery_loop_with(pool, mailer, DeliveryPolicy::default(), poll_interval, shutdown).await;
}

/// Delivers due emails until `shutdown` is cancelled: a pass every `poll_interval`, at once again
/// when a pass found a full batch. At shutdown a send in progress gets [`SHUTDOWN_SEND_GRACE`] to be answered.
pub async fn run_delivery_loop_with(
    pool: PgPool,
    mailer: Mailer,
    policy: DeliveryPolicy,
    poll_interval: Duration,
    shutdown: CancellationToken,
) {
    tracing::info!(mailer = mailer.describe(), "mail delivery started");
    if let Err(error) = publish_recorded_staged(&pool, &mailer).await {
        tracing::error!(error = %error, "could not check the emails staged before a stop");
    }
    while !shutdown.is_cancelled() {
        let pass_was_full = match deliver_due_with(&pool, &mailer, &policy, LOOP_BATCH, &shutdown).await {
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
    fn the_default_lease_outlives_a_whole_send_under_the_default_smtp_timeout() {
        let mailer = super::super::mailer_from_url(super::super::DEFAULT_MAIL_URL, "no-reply@localhost");
        assert!(mailer.is_ok_and(|mailer| mailer.send_timeout() < DEFAULT_DELIVERY_LEASE));
        assert_eq!(DeliveryPolicy::default().retry.max_attempts, Some(10));
    }
}
