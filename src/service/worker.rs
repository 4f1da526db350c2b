//! The background worker, run beside the HTTP server: it delivers the email outbox, scores again the
//! applications whose scoring failed (applying auto-reject then), retries CV object deletions, and purges
//! claims of requests that died. Every task reads its rows with `FOR UPDATE SKIP LOCKED` and a lease, so any
//! number of instances can run it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cv_storage::CvStorage;
use crate::db;
use crate::mail::{EmailContext, EmailKind, Locale, Mailer, render_email, run_delivery_loop};
use crate::scoring::{OfferForScoring, Scorer};
use crate::service::intake::{FIRST_RESCORING_DELAY, STEP_REJECTED};

const RESCORING_BATCH: i64 = 4;
const DELETION_BATCH: i64 = 50;
/// How long a worker holds a leased row before another may take it over.
const LEASE_SECONDS: f64 = 300.0;
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

pub struct Worker {
    pub db: PgPool,
    pub mailer: Mailer,
    pub scorer: Arc<dyn Scorer>,
    pub storage: Arc<dyn CvStorage>,
    pub rejection_email_delay: Duration,
    pub interval: Duration,
}

impl Worker {
    /// Runs until `shutdown` is cancelled; a pass in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let delivery =
            tokio::spawn(run_delivery_loop(self.db.clone(), self.mailer.clone(), self.interval, shutdown.clone()));
        loop {
            if let Err(error) = self.pass().await {
                tracing::error!(error = format!("{error:#}"), "background worker pass failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
        if let Err(error) = delivery.await {
            tracing::error!(%error, "the email delivery loop failed");
        }
    }

    async fn pass(&self) -> anyhow::Result<()> {
        self.rescore_pending().await?;
        self.retry_deletions().await?;
        Ok(())
    }

    /// Scores applications created unscored after a scorer failure (CONTRACT §6 "Scoring").
    pub async fn rescore_pending(&self) -> anyhow::Result<usize> {
        let leased = db::job_applications::lease_pending_scoring(&self.db, RESCORING_BATCH, LEASE_SECONDS).await?;
        let count = leased.len();
        for pending in leased {
            let offer =
                OfferForScoring { title: pending.offer_title.clone(), description: pending.offer_description.clone() };
            match self.scorer.score(&offer, &pending.cv_text).await {
                Ok(score) => self.record_score(&pending, score).await?,
                Err(error) => {
                    let delay = backoff(FIRST_RESCORING_DELAY, pending.scoring_attempts);
                    tracing::warn!(application_id = %pending.id, %error, retry_in_s = delay.as_secs(), "scoring failed again");
                    db::job_applications::record_scoring_failure(
                        &self.db,
                        pending.id,
                        &error.to_string(),
                        Utc::now() + delay,
                    )
                    .await?;
                }
            }
        }
        Ok(count)
    }

    async fn record_score(
        &self,
        pending: &db::job_applications::PendingScoring,
        score: crate::scoring::Score,
    ) -> anyhow::Result<()> {
        let company = db::companies::find(&self.db, pending.company_id).await?;
        let threshold = company.as_ref().and_then(|c| c.auto_reject_threshold);
        let reject = threshold.is_some_and(|t| i16::from(score.rating) < t);
        let mut tx = self.db.begin().await?;
        let rejected = db::job_applications::record_late_score(
            &mut tx,
            pending.id,
            i16::from(score.rating),
            &score.ai_resume_summary,
            &score.first_impression_text,
            reject,
        )
        .await?;
        if rejected && let Some(company) = &company {
            db::job_applications::insert_step(&mut tx, pending.id, STEP_REJECTED).await?;
            let (recipient, first_name, last_name, offer_title): (String, String, String, String) = sqlx::query_as(
                "SELECT c.email, c.first_name, c.last_name, o.title FROM job_applications a
                 JOIN candidates c ON c.id = a.candidate_id JOIN job_offers o ON o.id = a.job_offer_id
                 WHERE a.id = $1",
            )
            .bind(pending.id)
            .fetch_one(&mut *tx)
            .await?;
            let email = render_email(
                EmailKind::Rejection,
                Locale::parse(&company.locale).unwrap_or_default(),
                &EmailContext {
                    candidate_first_name: first_name,
                    candidate_last_name: last_name,
                    offer_title,
                    company_name: company.name.clone(),
                },
            );
            let send_after = Utc::now() + self.rejection_email_delay;
            db::outbox::enqueue(&mut tx, pending.id, EmailKind::Rejection, &recipient, &email, send_after).await?;
        }
        tx.commit().await?;
        tracing::info!(application_id = %pending.id, rating = score.rating, rejected, "application scored");
        Ok(())
    }

    /// Deletes CV objects that could not be deleted right away.
    pub async fn retry_deletions(&self) -> anyhow::Result<usize> {
        let due = db::storage_deletions::lease_due(&self.db, DELETION_BATCH, LEASE_SECONDS).await?;
        let count = due.len();
        for (key, attempts) in due {
            match self.storage.delete(&key).await {
                Ok(()) => db::storage_deletions::done(&self.db, &key).await?,
                Err(error) => {
                    let retry_at = Utc::now() + backoff(Duration::from_secs(30), attempts + 1);
                    db::storage_deletions::failed(&self.db, &key, &error.to_string(), retry_at).await?;
                }
            }
        }
        Ok(count)
    }
}

/// `first`, doubled for each attempt already made, capped at an hour.
fn backoff(first: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(16);
    first.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let first = Duration::from_secs(30);
        assert_eq!(backoff(first, 1), Duration::from_secs(30));
        assert_eq!(backoff(first, 2), Duration::from_secs(60));
        assert_eq!(backoff(first, 4), Duration::from_secs(240));
        assert_eq!(backoff(first, 40), MAX_RETRY_DELAY);
    }
}
