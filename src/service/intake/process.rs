//! Processing one accepted submission (CONTRACT §6 after the checks, §12 "Then"): in one transaction that
//! holds the candidate identity's advisory lock, dedup before cost, then extraction, scoring, and every row
//! the application needs. A crash or a lost connection rolls it all back and releases the lock; the
//! submission stays accepted and is processed again.

use anyhow::Context;
use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::checks::takes_applications;
use super::{
    FILE_MISSING_MESSAGE, FIRST_RESCORING_DELAY, Intake, IntakeError, OFFER_NOT_OPEN_MESSAGE, Outcome,
    STEP_AWAITING_ADVANCE, STEP_REJECTED, SUBMISSIONS, offer_for_scoring,
};
use crate::cv::CvFormat;
use crate::cv_storage::StorageError;
use crate::db;
use crate::db::candidates::{CandidateCv, CandidateWrite};
use crate::db::companies::Company;
use crate::db::job_applications::{ApplicationReceipt, NewApplication, ScoringRecord};
use crate::db::job_offers::JobOffer;
use crate::db::job_queue::Lease;
use crate::db::submissions::{AcceptedSubmission, SubmissionFile};
use crate::domain::candidate::{CandidateEmail, CandidateIdentity};
use crate::mail::EmailKind;
use crate::observability::{self, PipelineStage as Stage, time_stage};
use crate::scoring::ScoringError;
use crate::spool::SpoolFile;

use super::submission::{Door, FileRole, IncomingFile};

/// A cover letter taken from a motivation letter file keeps at most this much text.
const MAX_COVER_LETTER_CHARS: usize = 64 * 1024;

/// Why processing stops for good: the submission ends `failed` with the reason.
type PermanentFailure = &'static str;

pub(super) async fn process(
    intake: &Intake,
    lease: &Lease<Uuid>,
    local_files: Option<&[IncomingFile]>,
) -> Result<Outcome, IntakeError> {
    let _slot = intake.processing_slots.acquire().await.context("the processing slots are closed")?;
    let mut tx = intake.db.begin().await?;
    let (submission, files) =
        db::submissions::load(&mut tx, lease.key).await?.context("an accepted submission disappeared")?;
    if submission.status != "processing" {
        drop(tx);
        return finished_outcome(intake, &submission).await;
    }
    let processed = process_in(intake, &mut tx, lease, &submission, &files, local_files).await?;
    match processed {
        Ok((outcome, replaced_cv)) => {
            tx.commit().await?;
            if let Some(key) = replaced_cv {
                intake.delete_object(key).await;
            }
            Ok(outcome)
        }
        Err(reason) => {
            drop(tx);
            fail(intake, lease, reason).await
        }
    }
}

/// Everything but the commit. `Ok(Err(reason))` is a permanent failure; the transaction is then dropped.
async fn process_in(
    intake: &Intake,
    tx: &mut PgConnection,
    lease: &Lease<Uuid>,
    submission: &AcceptedSubmission,
    files: &[SubmissionFile],
    local_files: Option<&[IncomingFile]>,
) -> Result<Result<(Outcome, Option<String>), PermanentFailure>, IntakeError> {
    let offer = db::job_offers::find(&mut *tx, submission.job_offer_id).await?.filter(takes_applications);
    let Some(offer) = offer else { return Ok(Err(OFFER_NOT_OPEN_MESSAGE)) };
    let company = db::companies::find(&mut *tx, submission.company_id).await?.context("the company disappeared")?;
    let email = CandidateEmail::parse(&submission.email).context("a stored email no longer parses")?;
    let identity = CandidateIdentity::new(&email, &submission.first_name, &submission.last_name);
    let door = Door::parse(&submission.door).context("unknown door")?;

    // CONTRACT §6 "Dedup before cost": whoever holds the identity's lock sees every application committed
    // before it, so at most one is ever created, and duplicates never pay for extraction or scoring.
    if let Err(error) = db::identity_locks::lock(&mut *tx, company.id, &identity, offer.id).await {
        return Err(if db::identity_locks::is_lock_timeout(&error) {
            IntakeError::StillProcessing
        } else {
            error.into()
        });
    }
    if !db::submissions::lock_for_processing(&mut *tx, submission.id, lease.token).await? {
        return Err(anyhow::anyhow!("the submission's lease was taken over by another processor").into());
    }
    let cv_file = files.iter().find(|file| file.role == FileRole::Cv.as_str());
    let existing = db::job_applications::find_for_identity(&mut *tx, company.id, &identity, offer.id).await?;

    fn candidate_cv(file: &SubmissionFile) -> CandidateCv<'_> {
        CandidateCv {
            object_key: &file.object_key,
            content_type: &file.detected_content_type,
            size_bytes: file.size_bytes,
        }
    }
    let candidate_write = CandidateWrite {
        company_id: company.id,
        identity: &identity,
        email: email.as_str(),
        first_name: &submission.first_name,
        last_name: &submission.last_name,
        phone: submission.phone.as_deref(),
        linkedin_url: submission.linkedin_url.as_deref(),
        cv: cv_file.map(candidate_cv),
    };
    let (outcome, receipt, replaced_cv) = match existing {
        Some(_) => {
            // The newly sent CV still replaces the stored one; the answer is the application as it is now.
            let saved = db::candidates::save(&mut *tx, &candidate_write).await?;
            let current = db::job_applications::find_for_identity(&mut *tx, company.id, &identity, offer.id)
                .await?
                .context("the existing application disappeared")?;
            tracing::info!(application_id = %current.application_id, "application already exists; CV replaced");
            (Outcome::AlreadyExists(current.clone()), current, saved.replaced_cv_object_key)
        }
        None => {
            let cv_text = match cv_file {
                Some(file) => match CvFormat::from_content_type(&file.detected_content_type) {
                    Some(format) => match extract(intake, file, format, local_files).await? {
                        Ok(text) => text,
                        Err(reason) => return Ok(Err(reason)),
                    },
                    None => None,
                },
                None => None,
            };
            let cover_letter = if submission.cover_letter.is_empty() && door.keeps_attachments() {
                match motivation_letter_text(intake, files, local_files).await? {
                    Ok(text) => text.unwrap_or_default(),
                    Err(reason) => return Ok(Err(reason)),
                }
            } else {
                submission.cover_letter.clone()
            };
            let scoring = match &cv_text {
                Some(text) => {
                    Some(time_stage(Stage::Scoring, intake.scorer.score(&offer_for_scoring(&offer), text)).await)
                }
                None => None,
            };
            let saved = db::candidates::save(&mut *tx, &candidate_write).await?;
            let receipt = time_stage(
                Stage::Persist,
                write_application(
                    intake,
                    &mut *tx,
                    NewApplicationParts {
                        company: &company,
                        offer: &offer,
                        candidate_id: saved.id,
                        submission,
                        cover_letter: &cover_letter,
                        cv_text: cv_text.as_deref(),
                        scoring,
                    },
                ),
            )
            .await?;
            (Outcome::Created(receipt.clone()), receipt, saved.replaced_cv_object_key)
        }
    };

    // Each file goes to its owner: the candidate's CV (above), the application's attachments and consent.
    if door.keeps_attachments() {
        for file in files.iter().filter(|file| file.role != FileRole::ConsentDocument.as_str()) {
            db::application_attachments::insert(&mut *tx, receipt.application_id, submission.id, file).await?;
        }
    }
    if let Some(granted) = submission.consent_granted {
        let document = files.iter().find(|file| file.role == FileRole::ConsentDocument.as_str());
        db::application_consents::insert(
            &mut *tx,
            receipt.application_id,
            submission.id,
            granted,
            submission.consent_valid_to,
            document,
        )
        .await?;
    }
    let released = db::submissions::delete_files(&mut *tx, submission.id).await?;
    // A file no owner took (a door that keeps only the CV) is deleted.
    for key in released {
        let owned = cv_file.is_some_and(|cv| cv.object_key == key)
            || door.keeps_attachments()
            || files.iter().any(|f| f.object_key == key && f.role == FileRole::ConsentDocument.as_str());
        if !owned {
            db::storage_deletions::schedule(&mut *tx, &key).await?;
        }
    }
    // A replaced CV that an imported application keeps as an attachment stays.
    let replaced_cv = match replaced_cv {
        Some(key) if !db::application_attachments::keeps_object(&mut *tx, &key).await? => {
            db::storage_deletions::schedule(&mut *tx, &key).await?;
            Some(key)
        }
        _ => None,
    };
    db::submissions::complete(
        &mut *tx,
        submission.id,
        receipt.application_id,
        matches!(outcome, Outcome::AlreadyExists(_)),
    )
    .await?;
    if !db::job_queue::finish(&mut *tx, &SUBMISSIONS, lease).await? {
        return Err(anyhow::anyhow!("the submission's lease was taken over by another processor").into());
    }
    Ok(Ok((outcome, replaced_cv)))
}

struct NewApplicationParts<'a> {
    company: &'a Company,
    offer: &'a JobOffer,
    candidate_id: Uuid,
    submission: &'a AcceptedSubmission,
    cover_letter: &'a str,
    cv_text: Option<&'a str>,
    scoring: Option<Result<crate::scoring::Score, ScoringError>>,
}

/// The application, its first step and its email (CONTRACT §6 "Creation", "Auto-reject", "Email").
async fn write_application(
    intake: &Intake,
    tx: &mut PgConnection,
    parts: NewApplicationParts<'_>,
) -> Result<ApplicationReceipt, IntakeError> {
    let scoring_error;
    let record = match &parts.scoring {
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
    let auto_rejected = match (&record, parts.company.auto_reject_threshold) {
        (ScoringRecord::Scored { rating, .. }, Some(threshold)) => *rating < threshold,
        _ => false,
    };
    let application = NewApplication {
        company_id: parts.company.id,
        candidate_id: parts.candidate_id,
        job_offer_id: parts.offer.id,
        status: if auto_rejected { "rejected" } else { "new" },
        source: &parts.submission.source,
        cover_letter: parts.cover_letter,
        cv_text: parts.cv_text,
        scoring: record,
    };
    let receipt = db::job_applications::insert(&mut *tx, &application)
        .await?
        .context("an application appeared although the identity was locked")?;
    let step = if auto_rejected { STEP_REJECTED } else { STEP_AWAITING_ADVANCE };
    db::job_applications::insert_step(&mut *tx, receipt.application_id, step).await?;
    let (kind, send_after) = if auto_rejected {
        (EmailKind::Rejection, Utc::now() + intake.rejection_email_delay)
    } else {
        (EmailKind::Confirmation, Utc::now())
    };
    crate::mail::schedule_email(&mut *tx, receipt.application_id, kind, send_after).await?;
    tracing::info!(application_id = %receipt.application_id, status = %receipt.status, "application created");
    Ok(receipt)
}

/// The file on local disk: the one the request spooled, or a copy downloaded from storage.
enum LocalCopy<'a> {
    Spooled(&'a std::path::Path),
    Downloaded(SpoolFile),
}

impl LocalCopy<'_> {
    fn path(&self) -> &std::path::Path {
        match self {
            LocalCopy::Spooled(path) => path,
            LocalCopy::Downloaded(file) => file.path(),
        }
    }
}

async fn local_copy<'a>(
    intake: &Intake,
    file: &SubmissionFile,
    local_files: Option<&'a [IncomingFile]>,
) -> Result<Result<LocalCopy<'a>, PermanentFailure>, IntakeError> {
    let spooled = local_files.and_then(|files| files.get(usize::try_from(file.position).ok()?));
    if let Some(spooled) = spooled {
        return Ok(Ok(LocalCopy::Spooled(spooled.spooled.path())));
    }
    let (spooled, writer) = SpoolFile::create_in(intake.spool_dir()).context("creating a spool file")?;
    let mut writer = tokio::fs::File::from_std(writer);
    match intake.storage.download_to(&file.object_key, &mut writer).await {
        Ok(()) => {}
        Err(StorageError::NotFound) => return Ok(Err(FILE_MISSING_MESSAGE)),
        Err(error) => return Err(anyhow::Error::new(error).context("downloading a submission's file").into()),
    }
    Ok(Ok(LocalCopy::Downloaded(spooled)))
}

/// The CV's text, or `None` when it cannot be extracted (scanned, encrypted, broken): the application is then
/// created unscored (CONTRACT §6 "Extraction").
async fn extract(
    intake: &Intake,
    file: &SubmissionFile,
    format: CvFormat,
    local_files: Option<&[IncomingFile]>,
) -> Result<Result<Option<String>, PermanentFailure>, IntakeError> {
    let copy = match local_copy(intake, file, local_files).await? {
        Ok(copy) => copy,
        Err(reason) => return Ok(Err(reason)),
    };
    Ok(Ok(match time_stage(Stage::Extraction, intake.extractor.extract(copy.path(), format)).await {
        Ok(text) => Some(text),
        Err(error) => {
            observability::extraction_failed(&error);
            tracing::info!(%error, "CV text could not be extracted; the application is accepted unscored");
            None
        }
    }))
}

/// CONTRACT §12: the first readable `MOTIVATION_LETTER` (PDF, DOCX or plain text) gives `cover_letter`.
async fn motivation_letter_text(
    intake: &Intake,
    files: &[SubmissionFile],
    local_files: Option<&[IncomingFile]>,
) -> Result<Result<Option<String>, PermanentFailure>, IntakeError> {
    for file in files.iter().filter(|file| file.role == FileRole::MotivationLetter.as_str()) {
        let text = if file.detected_content_type == "text/plain" {
            let copy = match local_copy(intake, file, local_files).await? {
                Ok(copy) => copy,
                Err(reason) => return Ok(Err(reason)),
            };
            tokio::fs::read_to_string(copy.path()).await.ok()
        } else if let Some(format) = CvFormat::from_content_type(&file.detected_content_type) {
            match extract(intake, file, format, local_files).await? {
                Ok(text) => text,
                Err(reason) => return Ok(Err(reason)),
            }
        } else {
            None
        };
        // PostgreSQL text holds no NUL; other control characters are harmless in a letter.
        if let Some(text) = text.map(|t| t.replace('\0', "")).filter(|t| !t.trim().is_empty()) {
            return Ok(Ok(Some(text.chars().take(MAX_COVER_LETTER_CHARS).collect())));
        }
    }
    Ok(Ok(None))
}

/// Ends the submission `failed` for good; its files, which nothing will own, are deleted.
async fn fail(intake: &Intake, lease: &Lease<Uuid>, reason: PermanentFailure) -> Result<Outcome, IntakeError> {
    let mut tx = intake.db.begin().await?;
    if !db::submissions::lock_for_processing(&mut tx, lease.key, lease.token).await? {
        return Err(anyhow::anyhow!("the submission's lease was taken over by another processor").into());
    }
    db::submissions::fail(&mut tx, lease.key, reason).await?;
    for key in db::submissions::delete_files(&mut tx, lease.key).await? {
        db::storage_deletions::schedule(&mut *tx, &key).await?;
    }
    db::job_queue::finish(&mut tx, &SUBMISSIONS, lease).await?;
    tx.commit().await?;
    tracing::info!(submission_id = %lease.key, reason, "submission failed");
    Ok(Outcome::Failed(reason))
}

/// The outcome of a submission processed earlier (by another processor, before this one's lease).
async fn finished_outcome(intake: &Intake, submission: &AcceptedSubmission) -> Result<Outcome, IntakeError> {
    let status = db::submissions::status_for_company(&intake.db, submission.company_id, submission.id)
        .await?
        .context("a submission disappeared")?;
    match (status.application_id, status.existing_application) {
        (Some(application_id), Some(existing)) => {
            let receipt = db::job_applications::receipt(&intake.db, application_id)
                .await?
                .context("a completed submission's application disappeared")?;
            Ok(if existing { Outcome::AlreadyExists(receipt) } else { Outcome::Created(receipt) })
        }
        _ => Ok(Outcome::Failed(if status.error_message.as_deref() == Some(FILE_MISSING_MESSAGE) {
            FILE_MISSING_MESSAGE
        } else {
            OFFER_NOT_OPEN_MESSAGE
        })),
    }
}
