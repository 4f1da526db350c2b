//! The intake pipeline: one path from a front door's checked submission to a candidate that is stored,
//! scored, deduplicated and emailed (CONTRACT §6, §12, §13). No HTTP types here: a door hands over its
//! fields, maps a [`Refusal`] to its own words, and maps the [`Outcome`] or [`IntakeError`] to an answer.
//!
//! Intake runs in two steps, so that a crash at any moment loses no acknowledged candidate and leaves
//! nothing half done (CONTRACT §11 "Crashes"):
//! 1. **Accept** ([`Intake::accept`], [`Intake::submit`]): every file goes to object storage under a key the
//!    server makes (announced in `storage_uploads` first, so an upload whose request dies is swept), then one
//!    transaction commits the `submissions` row and its files. From then on the submission is durable.
//! 2. **Process** ([`process`]): in one transaction holding an advisory lock on the candidate's identity and
//!    offer (it dies with its connection), *dedup before cost*: an identity that already applied gets no
//!    second application, only its CV replaced; otherwise extraction, scoring, and the candidate, the
//!    application, its first step and its email, written together. A failed extraction or scorer never
//!    loses the candidate: the application is created unscored.
//!
//! The Talqo API and the apply form run both steps before answering; the Teamio import answers after
//! accept. Either way the submission is leased (`src/db/job_queue.rs`) by whoever processes it, and any
//! instance's [`background`] loop resumes submissions whose processor died.

pub mod background;
pub mod checks;
mod process;
pub mod submission;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

use crate::cv::{CvExtractor, CvFormat, CvRejection, detect_cv_format};
use crate::cv_storage::{CvStorage, StorageError};
use crate::db;
use crate::db::job_applications::ApplicationReceipt;
use crate::db::job_queue::{JobQueue, Lease, LeaseKeeper, RetryPolicy};
use crate::db::submissions::{SubmissionFile, SubmissionWrite};
use crate::observability::{PipelineStage as Stage, time_stage};
use crate::scoring::{OfferForScoring, Scorer};
use crate::spool::SpoolFile;
pub use checks::{ApplicationFields, CheckResult, CheckedApplication, Field, ReceivedFile, Refusal, TextValue};
pub use submission::{Consent, Door, FileRole, IncomingFile, NewSubmission};

/// When the worker first retries a failed scoring.
pub const FIRST_RESCORING_DELAY: Duration = Duration::from_secs(30);

pub const STEP_AWAITING_ADVANCE: &str = "awaiting_advance";
pub const STEP_REJECTED: &str = "rejected";

/// Accepted submissions, processed once each (the `submissions` table).
pub const SUBMISSIONS: JobQueue = JobQueue::new("submissions", "id", "status = 'processing'");
/// How long a processor holds a submission without renewing; a crashed one's submission is resumed by
/// another instance this long after it was last renewed (CONTRACT §12: within 60 s).
pub const SUBMISSION_LEASE: Duration = Duration::from_secs(45);
/// Outages (storage, database, scorer) are retried until they pass; only a permanent cause fails.
pub const SUBMISSION_RETRY: RetryPolicy =
    RetryPolicy { first_delay: Duration::from_secs(2), max_delay: Duration::from_secs(300), max_attempts: None };

/// `errorMessage` of a submission whose offer stopped taking applications before it was processed.
pub const OFFER_NOT_OPEN_MESSAGE: &str = "Job offer is not open for applications";
/// `errorMessage` of a submission whose stored file disappeared before it was processed.
pub const FILE_MISSING_MESSAGE: &str = "A stored attachment is missing";

pub struct Intake {
    db: PgPool,
    extractor: Arc<CvExtractor>,
    scorer: Arc<dyn Scorer>,
    storage: Arc<dyn CvStorage>,
    rejection_email_delay: Duration,
    max_cv_bytes: u64,
    spool_dir: Arc<Path>,
    /// Each processing transaction holds a connection while it extracts and scores: at most this many at
    /// once, so the pool always has connections left for everything else.
    processing_slots: Arc<Semaphore>,
    /// Processing started in the background after an import's accept; shutdown waits for it.
    background: TaskTracker,
}

/// The pipeline's parts and limits.
pub struct IntakeSettings {
    pub rejection_email_delay: Duration,
    pub max_cv_bytes: u64,
    pub spool_dir: Arc<Path>,
    /// At most this many submissions processed at once by this instance.
    pub max_processing: usize,
}

/// What processing a submission came to.
#[derive(Debug)]
pub enum Outcome {
    Created(ApplicationReceipt),
    /// The candidate had already applied to the offer: the application as it is now.
    AlreadyExists(ApplicationReceipt),
    /// A permanent cause: the submission ended `failed` with this reason (CONTRACT §12 `errorMessage`).
    Failed(&'static str),
}

/// An accepted submission: its id is the import's `requestUuid` (CONTRACT §12).
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// CONTRACT §6: `500 Failed to upload CV: <reason>`, and nothing is created.
    #[error("Failed to upload CV: {0}")]
    Upload(#[source] StorageError),
    /// Another submission of the same candidate to the same offer held the identity lock too long.
    #[error("the same application is still being processed by another request")]
    StillProcessing,
    /// The database refused or could not be reached; the submission, if accepted, is processed later.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Intake {
    pub fn new(
        db: PgPool,
        extractor: Arc<CvExtractor>,
        scorer: Arc<dyn Scorer>,
        storage: Arc<dyn CvStorage>,
        settings: IntakeSettings,
    ) -> Self {
        Intake {
            db,
            extractor,
            scorer,
            storage,
            rejection_email_delay: settings.rejection_email_delay,
            max_cv_bytes: settings.max_cv_bytes,
            spool_dir: settings.spool_dir,
            processing_slots: Arc::new(Semaphore::new(settings.max_processing.max(1))),
            background: TaskTracker::new(),
        }
    }

    pub fn max_cv_bytes(&self) -> u64 {
        self.max_cv_bytes
    }

    pub fn spool_dir(&self) -> &Path {
        &self.spool_dir
    }

    /// Runs the checks of CONTRACT §6 items 4 to 9 (and §11's characters) on what the Talqo API or the apply
    /// form received for `company_id`, in the contract's order. The offer is looked up only when the fields
    /// before it passed.
    pub async fn check_application(
        &self,
        company_id: Uuid,
        mut fields: ApplicationFields,
    ) -> Result<CheckResult, IntakeError> {
        let cv_format = match &fields.cv {
            Some(cv) if !cv.too_large && cv.size_bytes > 0 => checks::detect_format(&cv.file).await?,
            _ => None,
        };
        let (mut refusals, offer_id) = checks::check_fields(&fields, self.max_cv_bytes, cv_format);
        let mut offer = None;
        if refusals.is_empty()
            && let Some(offer_id) = offer_id
        {
            match checks::check_offer(company_id, db::job_offers::find(&self.db, offer_id).await?) {
                Ok(found) => offer = Some(found),
                Err(refusal) => refusals.push(refusal),
            }
        }
        refusals.extend(checks::check_text(&fields));
        match (offer, cv_format) {
            (Some(offer), Some(format)) if refusals.is_empty() => {
                let cv = fields.cv.take().ok_or_else(|| anyhow::anyhow!("the CV was checked"))?;
                fields.cv = Some(cv);
                Ok(Ok(checks::into_checked(fields, offer, format)?))
            }
            _ => Ok(Err(refusals)),
        }
    }

    /// Accepts the submission and processes it before returning (the Talqo API and the apply form). The
    /// processing runs in a task of its own: a client that gives up does not cut it halfway, and shutdown
    /// waits for it.
    pub async fn submit(self: &Arc<Self>, submission: NewSubmission) -> Result<Outcome, IntakeError> {
        let intake = self.clone();
        let span = tracing::Span::current();
        self.background
            .spawn(
                async move {
                    let token = Uuid::new_v4();
                    let accepted = intake.accept_files(&submission, Some(token)).await?;
                    let lease = Lease { key: accepted.id, token, attempts: 0 };
                    intake.process_leased(lease, Some(&submission.files)).await
                }
                .instrument(span),
            )
            .await
            .map_err(|join_error| IntakeError::Internal(anyhow::anyhow!("the intake task failed: {join_error}")))?
    }

    /// Accepts the submission (durable when this returns) and starts processing it in the background (the
    /// Teamio import). Any instance's worker finishes it if this one cannot.
    pub async fn accept(self: &Arc<Self>, submission: NewSubmission) -> Result<Accepted, IntakeError> {
        let accepted = self.accept_files(&submission, None).await?;
        let intake = self.clone();
        self.background.spawn(
            async move {
                if let Err(error) = intake.process_due(1).await {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "processing an accepted submission failed; the worker retries"
                    );
                }
            }
            .instrument(tracing::Span::current()),
        );
        Ok(accepted)
    }

    /// Waits for the processing started by this instance (shutdown).
    pub async fn wait_for_processing(&self) {
        self.background.close();
        self.background.wait().await;
    }

    /// Stores the files, then commits the submission with them. With `lease_token`, the caller holds the new
    /// submission for [`SUBMISSION_LEASE`]; without, it is due for any worker at once.
    #[tracing::instrument(skip_all, fields(company_id = %submission.offer.company_id, job_offer_id = %submission.offer.id, door = submission.door.as_str()))]
    async fn accept_files(
        &self,
        submission: &NewSubmission,
        lease_token: Option<Uuid>,
    ) -> Result<Accepted, IntakeError> {
        let company_id = submission.offer.company_id;
        let keys: Vec<String> = submission.files.iter().map(|file| new_object_key(company_id, file)).collect();
        for key in &keys {
            db::storage_uploads::begin(&self.db, key).await?;
        }
        let uploads = submission.files.iter().zip(&keys).map(|(file, key)| {
            time_stage(Stage::Upload, self.storage.put_file(key, file.spooled.path(), &file.detected_content_type))
        });
        // A failed upload leaves its announced keys to the orphan sweep: nothing is created.
        for uploaded in futures_util::future::join_all(uploads).await {
            uploaded.map_err(IntakeError::Upload)?;
        }

        let mut tx = self.db.begin().await?;
        let lease = lease_token.map(|token| (token, Utc::now() + chrono_duration(SUBMISSION_LEASE)));
        let (id, created_at) = db::submissions::insert(
            &mut tx,
            &SubmissionWrite {
                company_id,
                job_offer_id: submission.offer.id,
                door: submission.door.as_str(),
                email: submission.email.as_str(),
                first_name: &submission.first_name,
                last_name: &submission.last_name,
                phone: submission.phone.as_deref(),
                linkedin_url: submission.linkedin_url.as_deref(),
                cover_letter: &submission.cover_letter,
                source: &submission.source,
                consent_granted: submission.consent.map(|c| c.granted),
                consent_valid_to: submission.consent.and_then(|c| c.valid_to),
            },
            lease,
        )
        .await?;
        for (position, (file, key)) in submission.files.iter().zip(&keys).enumerate() {
            let record = SubmissionFile {
                position: i16::try_from(position).map_err(|_| anyhow::anyhow!("too many files"))?,
                role: file.role.as_str().to_owned(),
                filename: file.filename.clone(),
                declared_content_type: file.declared_content_type.clone(),
                detected_content_type: file.detected_content_type.clone(),
                size_bytes: i64::try_from(file.size_bytes).unwrap_or(i64::MAX),
                object_key: key.clone(),
            };
            db::submissions::insert_file(&mut tx, id, &record).await?;
        }
        if !db::storage_uploads::claim(&mut tx, &keys).await? {
            // Only when an upload outlived ORPHAN_SWEEP_INTERVAL: its object may be gone.
            return Err(IntakeError::Internal(anyhow::anyhow!(
                "an upload was swept as abandoned before it was committed"
            )));
        }
        tx.commit().await?;
        tracing::info!(submission_id = %id, files = keys.len(), "submission accepted");
        Ok(Accepted { id, created_at })
    }

    /// Takes up to `limit` due submissions (accepted for the background, or whose processor died) and
    /// processes them. Returns how many were taken.
    pub async fn process_due(&self, limit: i64) -> anyhow::Result<usize> {
        let free = i64::try_from(self.processing_slots.available_permits()).unwrap_or(0).min(limit);
        if free == 0 {
            return Ok(0);
        }
        let leases: Vec<Lease<Uuid>> = db::job_queue::claim(&self.db, &SUBMISSIONS, free, SUBMISSION_LEASE).await?;
        let count = leases.len();
        let processing = leases.into_iter().map(|lease| {
            let id = lease.key;
            async move {
                if let Err(error) = self.process_leased(lease, None).await {
                    tracing::warn!(error = format!("{error:#}"), "processing a submission failed; retrying later");
                }
            }
            .instrument(tracing::info_span!("submission", submission_id = %id))
        });
        futures_util::future::join_all(processing).await;
        Ok(count)
    }

    /// Processes a submission this caller holds, keeping the lease alive meanwhile; a failure that may pass
    /// (an outage) schedules another attempt.
    async fn process_leased(
        &self,
        lease: Lease<Uuid>,
        local_files: Option<&[IncomingFile]>,
    ) -> Result<Outcome, IntakeError> {
        let keeper = LeaseKeeper::start(self.db.clone(), SUBMISSIONS, lease.clone(), SUBMISSION_LEASE);
        let result = process::process(self, &lease, local_files).await;
        drop(keeper);
        if let Err(error) = &result {
            let cause = error.to_string();
            if let Err(retry_error) =
                db::job_queue::retry_later(&self.db, &SUBMISSIONS, &lease, &cause, &SUBMISSION_RETRY).await
            {
                tracing::warn!(%retry_error, "could not schedule a submission's retry; its lease runs out instead");
            }
        }
        result
    }
}

impl Intake {
    /// Deletes an object no row points to any more; its deletion was scheduled in the transaction that
    /// released it, so a failure here leaves it to the worker.
    async fn delete_object(&self, key: String) {
        match self.storage.delete(&key).await {
            Ok(()) => {
                if let Err(error) = db::storage_deletions::done(&self.db, &key).await {
                    tracing::warn!(%error, "clearing a done storage deletion failed; the worker will retry it");
                }
            }
            Err(error) => tracing::warn!(%error, "deleting a replaced object failed; the worker will retry"),
        }
    }
}

/// Keys are made here, never from the client's file name (CONTRACT §6 "Storage").
fn new_object_key(company_id: Uuid, file: &IncomingFile) -> String {
    let folder = match file.role {
        FileRole::Cv => "cvs",
        FileRole::MotivationLetter | FileRole::Other => "attachments",
        FileRole::ConsentDocument => "consents",
    };
    format!("{folder}/{company_id}/{}.{}", Uuid::new_v4(), extension_of(&file.detected_content_type))
}

fn extension_of(content_type: &str) -> &'static str {
    match content_type {
        "text/plain" => "txt",
        other => match CvFormat::from_content_type(other) {
            Some(format) => format.extension(),
            None => "bin",
        },
    }
}

/// The type of a received file, from its bytes: PDF and DOCX as CONTRACT §6 detects them, `text/plain` for
/// UTF-8 text, else `application/octet-stream`. For doors whose files need not be CVs (CONTRACT §12).
pub async fn detect_content_type(file: &SpoolFile) -> anyhow::Result<String> {
    let path = file.path().to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        match detect_cv_format(&path) {
            Ok(format) => return Ok(format.content_type().to_owned()),
            Err(CvRejection::Io(error)) => return Err(anyhow::Error::new(error).context("reading a spooled file")),
            Err(_) => {}
        }
        Ok(if is_utf8_text(&path)? { "text/plain" } else { "application/octet-stream" }.to_owned())
    })
    .await
    .map_err(|join_error| anyhow::anyhow!("file type detection failed: {join_error}"))?
}

/// Whether the file is UTF-8 text without NUL, read a block at a time (memory stays bounded).
fn is_utf8_text(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut block = vec![0u8; 64 * 1024];
    // Bytes of a character cut by the end of the previous block.
    let mut carried = 0;
    loop {
        let read = file.read(&mut block[carried..])?;
        if read == 0 {
            return Ok(carried == 0);
        }
        let filled = carried + read;
        match std::str::from_utf8(&block[..filled]) {
            Ok(text) if text.contains('\0') => return Ok(false),
            Ok(_) => carried = 0,
            Err(error) if error.error_len().is_none() => {
                let valid = error.valid_up_to();
                if block[..valid].contains(&0) {
                    return Ok(false);
                }
                block.copy_within(valid..filled, 0);
                carried = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

pub fn offer_for_scoring(offer: &db::job_offers::JobOffer) -> OfferForScoring {
    OfferForScoring { title: offer.title.clone(), description: offer.description.clone() }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::is_utf8_text;

    #[test]
    fn utf8_text_is_recognised_across_block_boundaries_and_binary_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("letter.txt");
        // 'é' is two bytes: with this offset one of them straddles the first 64 KiB block's end.
        let mut letter = "a".repeat(64 * 1024 - 1);
        letter.push_str("été, déjà");
        std::fs::write(&text, &letter).unwrap();
        assert!(is_utf8_text(&text).unwrap());

        let cut = dir.path().join("cut.txt");
        std::fs::write(&cut, &letter.as_bytes()[..64 * 1024]).unwrap();
        assert!(!is_utf8_text(&cut).unwrap(), "ends inside a character");

        let binary = dir.path().join("image.bin");
        std::fs::write(&binary, [0x89, b'P', b'N', b'G', 0, 0xff]).unwrap();
        assert!(!is_utf8_text(&binary).unwrap());
    }
}
