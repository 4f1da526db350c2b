//! The background worker, run beside the HTTP server: it delivers the email outbox, scores again the
//! applications whose scoring failed (applying auto-reject then) and retries CV object deletions (accepted
//! submissions have their own loop: [`crate::service::intake::background`]). Every queue is leased through [`crate::db::job_queue`], so any number of
//! instances can run it; each task here only says what one job does.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cv_storage::CvStorage;
use crate::db;
use crate::db::job_applications::{LateScore, RESCORING_QUEUE};
use crate::db::job_queue::{self, Lease, Retry, RetryPolicy};
use crate::mail::{DeliveryPolicy, Mailer, run_delivery_loop_with, schedule_rejection_email};
use crate::scoring::{OfferForScoring, Scorer};
use crate::service::intake::{FIRST_RESCORING_DELAY, STEP_REJECTED};

const RESCORING_BATCH: i64 = 4;
const DELETION_BATCH: i64 = 50;
/// How long a worker holds a re-scoring or a deletion before another may take it over: well over a
/// scorer call (`OPENAI_TIMEOUT`) or a storage request.
const LEASE: Duration = Duration::from_secs(300);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// A scorer outage ends by itself: re-scoring is retried (at most hourly) until it succeeds.
const RESCORING_RETRY: RetryPolicy =
    RetryPolicy { first_delay: FIRST_RESCORING_DELAY, max_delay: MAX_RETRY_DELAY, max_attempts: None };

/// So does a storage outage: a deletion is retried (at most hourly) until it succeeds.
const DELETION_RETRY: RetryPolicy =
    RetryPolicy { first_delay: Duration::from_secs(30), max_delay: MAX_RETRY_DELAY, max_attempts: None };

pub struct Worker {
    pub db: PgPool,
    pub mailer: Mailer,
    pub mail_delivery: DeliveryPolicy,
    pub scorer: Arc<dyn Scorer>,
    pub storage: Arc<dyn CvStorage>,
    pub rejection_email_delay: Duration,
    pub interval: Duration,
}

impl Worker {
    /// Runs until `shutdown` is cancelled; a pass in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let delivery = tokio::spawn(run_delivery_loop_with(
            self.db.clone(),
            self.mailer.clone(),
            self.mail_delivery,
            self.interval,
            shutdown.clone(),
        ));
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
        let leased: Vec<Lease<Uuid>> = job_queue::claim(&self.db, &RESCORING_QUEUE, RESCORING_BATCH, LEASE).await?;
        let count = leased.len();
        for lease in leased {
            // Those later in the batch waited for the scorer: still ours, with a whole lease ahead?
            if !job_queue::renew(&self.db, &RESCORING_QUEUE, &lease, LEASE).await? {
                continue;
            }
            let Some(pending) = db::job_applications::find_pending_scoring(&self.db, lease.key).await? else {
                continue;
            };
            let offer =
                OfferForScoring { title: pending.offer_title.clone(), description: pending.offer_description.clone() };
            match self.scorer.score(&offer, &pending.cv_text).await {
                Ok(score) => self.record_score(&lease, pending.company_id, score).await?,
                Err(error) => {
                    crate::observability::scoring_failed(&error);
                    let retry = job_queue::retry_later(
                        &self.db,
                        &RESCORING_QUEUE,
                        &lease,
                        &error.to_string(),
                        &RESCORING_RETRY,
                    )
                    .await?;
                    if let Retry::Scheduled { after, .. } = retry {
                        tracing::warn!(application_id = %lease.key, %error, retry_in_s = after.as_secs(), "scoring failed again");
                    }
                }
            }
        }
        Ok(count)
    }

    async fn record_score(
        &self,
        lease: &Lease<Uuid>,
        company_id: Uuid,
        score: crate::scoring::Score,
    ) -> anyhow::Result<()> {
        let company = db::companies::find(&self.db, company_id).await?;
        let threshold = company.as_ref().and_then(|c| c.auto_reject_threshold);
        let reject = threshold.is_some_and(|t| i16::from(score.rating) < t);
        let mut tx = self.db.begin().await?;
        let recorded = db::job_applications::record_late_score(
            &mut tx,
            lease,
            i16::from(score.rating),
            &score.ai_resume_summary,
            &score.first_impression_text,
            reject,
        )
        .await?;
        let rejected = match recorded {
            LateScore::LeaseLost => {
                tracing::info!(application_id = %lease.key, "re-scoring taken over by another worker");
                return Ok(());
            }
            LateScore::Recorded { rejected } => rejected,
        };
        if rejected {
            db::job_applications::insert_step(&mut tx, lease.key, STEP_REJECTED).await?;
            // CONTRACT §6 "Auto-reject": the rejection email waits REJECTION_EMAIL_DELAY.
            schedule_rejection_email(&mut tx, lease.key, Utc::now() + self.rejection_email_delay).await?;
        }
        tx.commit().await?;
        tracing::info!(application_id = %lease.key, rating = score.rating, rejected, "application scored");
        Ok(())
    }

    /// Deletes CV objects that could not be deleted right away.
    pub async fn retry_deletions(&self) -> anyhow::Result<usize> {
        let due: Vec<Lease<String>> =
            job_queue::claim(&self.db, &db::storage_deletions::QUEUE, DELETION_BATCH, LEASE).await?;
        let count = due.len();
        for lease in due {
            match self.storage.delete(&lease.key).await {
                Ok(()) => {
                    db::storage_deletions::finish_leased(&self.db, &lease).await?;
                }
                Err(error) => {
                    job_queue::retry_later(
                        &self.db,
                        &db::storage_deletions::QUEUE,
                        &lease,
                        &error.to_string(),
                        &DELETION_RETRY,
                    )
                    .await?;
                }
            }
        }
        Ok(count)
    }
}
