//! A submission as a front door hands it to the pipeline: who applies, to which offer, through which door,
//! with which files and consent. Every field has passed its door's checks.

use chrono::{DateTime, Utc};

use super::checks::CheckedApplication;
use crate::db::job_offers::JobOffer;
use crate::domain::candidate::CandidateEmail;
use crate::spool::SpoolFile;

/// The front door a submission came through; stored in `submissions.door`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `POST /api/job_applications` (CONTRACT §6).
    TalqoApi,
    /// `POST /api/v1/candidate-reactions` (CONTRACT §12).
    TeamioImport,
    /// `POST /jobs/{company}/{offer}/apply` (CONTRACT §13).
    ApplyForm,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::TalqoApi => "talqo_api",
            Door::TeamioImport => "teamio_import",
            Door::ApplyForm => "apply_form",
        }
    }

    pub fn parse(value: &str) -> Option<Door> {
        [Door::TalqoApi, Door::TeamioImport, Door::ApplyForm].into_iter().find(|door| door.as_str() == value)
    }

    /// Whether the files a submission brings are kept as the application's attachments (CONTRACT §12), or
    /// only its CV is kept, as the candidate's (CONTRACT §6: a newer CV replaces the stored one).
    pub fn keeps_attachments(self) -> bool {
        self == Door::TeamioImport
    }
}

/// What a file is to the application; stored in `submission_files.role` and `application_attachments.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    Cv,
    MotivationLetter,
    Other,
    /// The GDPR consent document shown to the candidate (CONTRACT §12 `gdprNotice.consentText`).
    ConsentDocument,
}

impl FileRole {
    pub fn as_str(self) -> &'static str {
        match self {
            FileRole::Cv => "cv",
            FileRole::MotivationLetter => "motivation_letter",
            FileRole::Other => "other",
            FileRole::ConsentDocument => "consent_document",
        }
    }

    pub fn parse(value: &str) -> Option<FileRole> {
        [FileRole::Cv, FileRole::MotivationLetter, FileRole::Other, FileRole::ConsentDocument]
            .into_iter()
            .find(|role| role.as_str() == value)
    }
}

/// A file received with a submission, spooled on local disk until it is stored.
#[derive(Debug)]
pub struct IncomingFile {
    pub role: FileRole,
    /// As the client named it; kept for recruiters, never used as a storage key.
    pub filename: Option<String>,
    /// As the client declared it; never trusted.
    pub declared_content_type: Option<String>,
    /// Read from the bytes: the CV formats' types, `text/plain` or `application/octet-stream`.
    pub detected_content_type: String,
    pub size_bytes: u64,
    pub spooled: SpoolFile,
}

/// The GDPR consent recorded with an imported application (CONTRACT §12): `granted` exactly when `valid_to`
/// was given; the consent document, when there is one, is a file of role [`FileRole::ConsentDocument`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    pub granted: bool,
    pub valid_to: Option<DateTime<Utc>>,
}

/// A checked submission, ready to be accepted.
#[derive(Debug)]
pub struct NewSubmission {
    pub door: Door,
    pub offer: JobOffer,
    pub email: CandidateEmail,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    /// The cover letter's text; for an import it may come later from a motivation letter file.
    pub cover_letter: String,
    /// CONTRACT §6 "Source" (Talqo, Teamio) or §13 (`utm_source`, else `job_link`).
    pub source: String,
    pub files: Vec<IncomingFile>,
    pub consent: Option<Consent>,
}

impl NewSubmission {
    /// A submission of the Talqo API or the apply form, from its checked fields.
    pub fn from_checked(door: Door, checked: CheckedApplication, source: String) -> NewSubmission {
        NewSubmission {
            door,
            offer: checked.offer,
            email: checked.email,
            first_name: checked.first_name,
            last_name: checked.last_name,
            phone: checked.phone,
            linkedin_url: checked.linkedin_url,
            cover_letter: checked.cover_letter,
            source,
            files: vec![checked.cv],
            consent: None,
        }
    }
}
