//! The intake pipeline (CONTRACT §6, after the request's checks): from a checked submission to a candidate
//! that is stored, scored, deduplicated and emailed. No HTTP types here: the edge hands over a
//! [`Submission`] and maps the [`Outcome`] or [`IntakeError`] to an answer.
//!
//! The order of the steps is what keeps the promises:
//! 1. **Dedup before cost**: an application of this identity to this offer is answered as it is, and only
//!    its CV is replaced. Concurrent identical submissions are serialised by a claim row (a primary key
//!    decides the winner); the others wait for the winner's application.
//! 2. The CV is uploaded and its text extracted at the same time; an upload failure stops everything
//!    before anything is written.
//! 3. Scoring. A failure leaves the application unscored, for the worker to score later; a CV without text
//!    is accepted unscored. No candidate is lost to a parser or an AI outage.
//! 4. One transaction writes the candidate, the application, its first step and its email.
//! 5. The replaced CV object is deleted after the commit (or later by the worker).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::cv::{CvExtractor, CvFormat};
use crate::cv_storage::{CvStorage, StorageError};
use crate::db;
use crate::db::candidates::CandidateWrite;
use crate::db::companies::Company;
use crate::db::job_applications::{ApplicationReceipt, NewApplication, ScoringRecord};
use crate::db::job_offers::JobOffer;
use crate::domain::candidate::{CandidateEmail, CandidateIdentity};
use crate::mail::{EmailContext, EmailKind, Locale, render_email};
use crate::observability::{self, PipelineStage as Stage, time_stage};
use crate::scoring::{OfferForScoring, Score, Scorer};

/// How long a claim protects a submission in progress; longer than extraction, scoring with retries and
/// upload together, so it only expires when its holder died.
const CLAIM_TTL: Duration = Duration::from_secs(300);
/// How long a duplicate waits for the submission in progress before giving up.
const DUPLICATE_WAIT: Duration = Duration::from_secs(120);
const DUPLICATE_POLL: Duration = Duration::from_millis(100);
/// When the worker first retries a failed scoring.
pub const FIRST_RESCORING_DELAY: Duration = Duration::from_secs(30);

pub const STEP_AWAITING_ADVANCE: &str = "awaiting_advance";
pub const STEP_REJECTED: &str = "rejected";

pub struct Intake {
    db: PgPool,
    extractor: Arc<CvExtractor>,
    scorer: Arc<dyn Scorer>,
    storage: Arc<dyn CvStorage>,
    rejection_email_delay: Duration,
}

/// The CV as received: spooled to a temporary file (deleted when dropped), its format read from its bytes.
pub struct SpooledCv {
    pub file: tempfile::TempPath,
    pub format: CvFormat,
    pub size_bytes: u64,
}

/// A submission that passed every check of the request (CONTRACT §6, items 1–9).
pub struct Submission {
    pub offer: JobOffer,
    pub email: CandidateEmail,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub cover_letter: String,
    pub source: String,
    pub cv: SpooledCv,
}

#[derive(Debug)]
pub enum Outcome {
    Created(ApplicationReceipt),
    /// The candidate had already applied to the offer: the application as it is now.
    AlreadyExists(ApplicationReceipt),
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// CONTRACT §6: `500 Failed to upload CV: <reason>`, and nothing is created.
    #[error("Failed to upload CV: {0}")]
    Upload(#[source] StorageError),
    #[error("the same application is still being processed by another request")]
    StillProcessing,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for IntakeError {
    fn from(error: sqlx::Error) -> Self {
        IntakeError::Internal(error.into())
    }
}

/// Why an offer does not take applications (CONTRACT §6, item 8).
#[derive(Debug)]
pub enum OfferRefusal {
    NotFound,
    OtherCompany,
    NotOpen,
}

impl Intake {
    pub fn new(
        db: PgPool,
        extractor: Arc<CvExtractor>,
        scorer: Arc<dyn Scorer>,
        storage: Arc<dyn CvStorage>,
        rejection_email_delay: Duration,
    ) -> Self {
        Intake { db, extractor, scorer, storage, rejection_email_delay }
    }

    /// The offer, if the company may receive applications for it.
    pub async fn open_offer(
        &self,
        company_id: Uuid,
        offer_id: Uuid,
    ) -> Result<Result<JobOffer, OfferRefusal>, sqlx::Error> {
        let Some(offer) = db::job_offers::find(&self.db, offer_id).await? else {
            return Ok(Err(OfferRefusal::NotFound));
        };
        if offer.company_id != company_id {
            return Ok(Err(OfferRefusal::OtherCompany));
        }
        if !matches!(offer.status.as_str(), "open" | "active") {
            return Ok(Err(OfferRefusal::NotOpen));
        }
        Ok(Ok(offer))
    }

    #[tracing::instrument(skip_all, fields(company_id = %submission.offer.company_id, job_offer_id = %submission.offer.id))]
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, IntakeError> {
        let company_id = submission.offer.company_id;
        let identity = CandidateIdentity::new(&submission.email, &submission.first_name, &submission.last_name);
        let token = Uuid::new_v4();
        let waiting_since = Instant::now();
        loop {
            // Claim first, then look: a request that held the claim has committed its application before the
            // claim could be taken again, so whoever wins the claim also sees any application made meanwhile.
            let claimed = db::application_claims::try_claim(
                &self.db,
                company_id,
                &identity,
                submission.offer.id,
                token,
                CLAIM_TTL,
            )
            .await?;
            if let Some(existing) =
                db::job_applications::find_for_identity(&self.db, company_id, &identity, submission.offer.id).await?
            {
                if claimed {
                    db::application_claims::release(&self.db, company_id, &identity, submission.offer.id, token)
                        .await?;
                }
                return self.replace_cv_of_existing(existing, &submission, &identity).await;
            }
            if claimed {
                break;
            }
            if waiting_since.elapsed() > DUPLICATE_WAIT {
                return Err(IntakeError::StillProcessing);
            }
            tokio::time::sleep(DUPLICATE_POLL).await;
        }

        let outcome = self.create(&submission, &identity, token).await;
        if outcome.is_err() {
            // On success the claim was deleted in the application's transaction.
            if let Err(error) =
                db::application_claims::release(&self.db, company_id, &identity, submission.offer.id, token).await
            {
                tracing::warn!(%error, "releasing an intake claim failed; it expires by itself");
            }
        }
        outcome
    }

    /// The winner's path: upload, extract, score, then one transaction.
    async fn create(
        &self,
        submission: &Submission,
        identity: &CandidateIdentity,
        token: Uuid,
    ) -> Result<Outcome, IntakeError> {
        let offer = &submission.offer;
        let company =
            db::companies::find(&self.db, offer.company_id).await?.context("the offer's company disappeared")?;
        let object_key = self.new_object_key(offer.company_id, submission.cv.format);

        let (uploaded, extracted) = tokio::join!(
            time_stage(
                Stage::Upload,
                self.storage.put_file(&object_key, &submission.cv.file, submission.cv.format.content_type())
            ),
            time_stage(Stage::Extraction, self.extractor.extract(&submission.cv.file, submission.cv.format)),
        );
        uploaded.map_err(IntakeError::Upload)?;

        let cv_text = match extracted {
            Ok(text) => Some(text),
            Err(error) => {
                observability::extraction_failed(&error);
                tracing::info!(%error, "CV text could not be extracted; the application is accepted unscored");
                None
            }
        };
        let scoring = match &cv_text {
            Some(text) => Some(time_stage(Stage::Scoring, self.scorer.score(&offer_for_scoring(offer), text)).await),
            None => None,
        };

        let written = time_stage(
            Stage::Persist,
            self.write_new_application(submission, identity, token, &company, &object_key, cv_text.as_deref(), scoring),
        )
        .await;
        match written {
            Ok((outcome, replaced)) => {
                self.delete_object(replaced).await;
                Ok(outcome)
            }
            Err(error) => {
                self.delete_object(Some(object_key)).await;
                Err(error)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_new_application(
        &self,
        submission: &Submission,
        identity: &CandidateIdentity,
        token: Uuid,
        company: &Company,
        object_key: &str,
        cv_text: Option<&str>,
        scoring: Option<Result<Score, crate::scoring::ScoringError>>,
    ) -> Result<(Outcome, Option<String>), IntakeError> {
        let offer = &submission.offer;
        let scoring_error;
        let record = match &scoring {
            Some(Ok(score)) => ScoringRecord::Scored {
                rating: i16::from(score.rating),
                ai_resume_summary: &score.ai_resume_summary,
                first_impression_text: &score.first_impression_text,
            },
            Some(Err(error)) if error.is_retriable() => {
                observability::scoring_failed(error);
                tracing::warn!(%error, "scoring failed; the worker will score the application later");
                scoring_error = error.to_string();
                ScoringRecord::Pending { error: &scoring_error, retry_at: Utc::now() + FIRST_RESCORING_DELAY }
            }
            Some(Err(error)) => {
                observability::scoring_failed(error);
                scoring_error = error.to_string();
                ScoringRecord::Unscorable { reason: &scoring_error }
            }
            None => ScoringRecord::Unscorable { reason: "no text could be extracted from the CV" },
        };
        // CONTRACT §6 "Auto-reject": only a scored application below the company's threshold.
        let auto_rejected = match (&record, company.auto_reject_threshold) {
            (ScoringRecord::Scored { rating, .. }, Some(threshold)) => *rating < threshold,
            _ => false,
        };

        let mut tx = self.db.begin().await?;
        let candidate = db::candidates::save(&mut tx, &self.candidate_write(submission, identity, object_key)).await?;
        let application = NewApplication {
            company_id: offer.company_id,
            candidate_id: candidate.id,
            job_offer_id: offer.id,
            status: if auto_rejected { "rejected" } else { "new" },
            source: &submission.source,
            cover_letter: &submission.cover_letter,
            cv_text,
            scoring: record,
        };
        let Some(receipt) = db::job_applications::insert(&mut tx, &application).await? else {
            // Only possible when a claim expired under a very slow request: the other request's
            // application stands, and this CV still replaces the stored one.
            let existing = db::job_applications::find_for_identity(&mut *tx, offer.company_id, identity, offer.id)
                .await?
                .context("an application conflicted but cannot be found")?;
            if let Some(replaced) = &candidate.replaced_cv_object_key {
                db::storage_deletions::schedule(&mut *tx, replaced).await?;
            }
            tx.commit().await?;
            return Ok((Outcome::AlreadyExists(existing), candidate.replaced_cv_object_key));
        };
        let step = if auto_rejected { STEP_REJECTED } else { STEP_AWAITING_ADVANCE };
        db::job_applications::insert_step(&mut tx, receipt.application_id, step).await?;
        let (kind, send_after) = if auto_rejected {
            (EmailKind::Rejection, Utc::now() + self.rejection_email_delay)
        } else {
            (EmailKind::Confirmation, Utc::now())
        };
        let email = render_email(
            kind,
            Locale::parse(&company.locale).unwrap_or_default(),
            &EmailContext {
                candidate_first_name: submission.first_name.clone(),
                candidate_last_name: submission.last_name.clone(),
                offer_title: offer.title.clone(),
                company_name: company.name.clone(),
            },
        );
        db::outbox::enqueue(&mut tx, receipt.application_id, kind, submission.email.as_str(), &email, send_after)
            .await?;
        if let Some(replaced) = &candidate.replaced_cv_object_key {
            db::storage_deletions::schedule(&mut *tx, replaced).await?;
        }
        db::application_claims::release(&mut *tx, offer.company_id, identity, offer.id, token).await?;
        tx.commit().await?;
        tracing::info!(application_id = %receipt.application_id, status = %receipt.status, "application created");
        Ok((Outcome::Created(receipt), candidate.replaced_cv_object_key))
    }

    /// The duplicate's path (CONTRACT §6): no scoring; the new CV replaces the stored one.
    async fn replace_cv_of_existing(
        &self,
        existing: ApplicationReceipt,
        submission: &Submission,
        identity: &CandidateIdentity,
    ) -> Result<Outcome, IntakeError> {
        let object_key = self.new_object_key(submission.offer.company_id, submission.cv.format);
        self.storage
            .put_file(&object_key, &submission.cv.file, submission.cv.format.content_type())
            .await
            .map_err(IntakeError::Upload)?;
        let saved = async {
            let mut tx = self.db.begin().await?;
            let candidate =
                db::candidates::save(&mut tx, &self.candidate_write(submission, identity, &object_key)).await?;
            if let Some(replaced) = &candidate.replaced_cv_object_key {
                db::storage_deletions::schedule(&mut *tx, replaced).await?;
            }
            // The answer is the application as it is now, read in the same transaction.
            let current = db::job_applications::find_for_identity(
                &mut *tx,
                submission.offer.company_id,
                identity,
                submission.offer.id,
            )
            .await?
            .unwrap_or(existing);
            tx.commit().await?;
            Ok::<_, sqlx::Error>((current, candidate.replaced_cv_object_key))
        }
        .await;
        match saved {
            Ok((current, replaced)) => {
                self.delete_object(replaced).await;
                tracing::info!(application_id = %current.application_id, "application already exists; CV replaced");
                Ok(Outcome::AlreadyExists(current))
            }
            Err(error) => {
                self.delete_object(Some(object_key)).await;
                Err(error.into())
            }
        }
    }

    fn candidate_write<'a>(
        &self,
        submission: &'a Submission,
        identity: &'a CandidateIdentity,
        object_key: &'a str,
    ) -> CandidateWrite<'a> {
        CandidateWrite {
            company_id: submission.offer.company_id,
            identity,
            email: submission.email.as_str(),
            first_name: &submission.first_name,
            last_name: &submission.last_name,
            phone: submission.phone.as_deref(),
            linkedin_url: submission.linkedin_url.as_deref(),
            cv_object_key: object_key,
            cv_content_type: submission.cv.format.content_type(),
            cv_size_bytes: i64::try_from(submission.cv.size_bytes).unwrap_or(i64::MAX),
        }
    }

    /// Keys are made here, never from the client's file name (CONTRACT §6 "Storage").
    fn new_object_key(&self, company_id: Uuid, format: CvFormat) -> String {
        format!("cvs/{company_id}/{}.{}", Uuid::new_v4(), format.extension())
    }

    /// Deletes an object no row points to any more. A failure leaves it to the worker, through
    /// `storage_deletions` (scheduled in the transaction for replaced CVs, here for orphaned uploads).
    async fn delete_object(&self, object_key: Option<String>) {
        let Some(key) = object_key else { return };
        match self.storage.delete(&key).await {
            Ok(()) => {
                if let Err(error) = db::storage_deletions::done(&self.db, &key).await {
                    tracing::warn!(%error, "clearing a done storage deletion failed; the worker will retry it");
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "deleting a CV object failed; the worker will retry");
                if let Err(error) = db::storage_deletions::schedule(&self.db, &key).await {
                    tracing::error!(%error, object_key = %key, "cannot schedule a CV object deletion; it stays in storage");
                }
            }
        }
    }
}

pub fn offer_for_scoring(offer: &JobOffer) -> OfferForScoring {
    OfferForScoring { title: offer.title.clone(), description: offer.description.clone() }
}
