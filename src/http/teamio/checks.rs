//! The field checks of `POST /api/v1/candidate-reactions` (CONTRACT §12, steps 4 to 7), on what the body reader
//! found: every field error at once (step 4), then the number of attachments (5), the first file over the limit
//! (6), and the GDPR notice (7). What passes is a [`CheckedReaction`]: text trimmed, email normalised, every
//! attachment decoded in a spool file. The offer's checks (step 8) belong to the intake pipeline.

use chrono::{DateTime, Utc};

use super::base64_spool::DecodedContent;
use super::error::{FieldError, TeamioError};
use super::json_stream::CappedText;
use super::reaction_body::{MAX_ATTACHMENTS, Member, RawFile, RawReaction};
use crate::domain::candidate::CandidateEmail;
use crate::spool::SpoolFile;

const NOT_NULL: &str = "must not be null";
const NOT_BLANK: &str = "must not be blank";
const NOT_A_STRING: &str = "must be a string";
const NOT_AN_OBJECT: &str = "must be an object";
const NOT_AN_INTEGER: &str = "must be an integer";
const CONTROL_CHARACTERS: &str = "must not contain control characters";
const PHONE_CHARACTERS: &str = "must contain only digits, spaces and + - ( ) .";
const ATTACHMENT_KINDS: &str = "must be one of CV, MOTIVATION_LETTER, OTHER";
const NOT_BASE64: &str = "must be valid Base64";

/// Names, email, phone and file names: at most 50 characters; content types: 255 (Teamio allows 50, which
/// refuses DOCX's own 71-character type).
const SHORT_TEXT_CHARS: usize = 50;
const CONTENT_TYPE_CHARS: usize = 255;

/// The three kinds of attachment of the Teamio protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    Cv,
    MotivationLetter,
    Other,
}

impl AttachmentKind {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "CV" => Some(AttachmentKind::Cv),
            "MOTIVATION_LETTER" => Some(AttachmentKind::MotivationLetter),
            "OTHER" => Some(AttachmentKind::Other),
            _ => None,
        }
    }
}

/// A decoded file of the request, in the spool directory (deleted when dropped).
#[derive(Debug)]
pub struct CheckedFile {
    pub filename: String,
    pub declared_content_type: String,
    /// `None` for the consent document when it gave no `type`.
    pub kind: Option<AttachmentKind>,
    pub file: SpoolFile,
    pub size_bytes: u64,
}

#[derive(Debug)]
pub struct CheckedReaction {
    pub first_name: String,
    pub surname: String,
    pub email: CandidateEmail,
    pub phone: Option<String>,
    /// `None` when the integer is beyond any offer's id (then no offer has it).
    pub recruitment_id: Option<i64>,
    pub attachments: Vec<CheckedFile>,
    /// Explicit consent until then (CONTRACT §12 "GDPR consent": `granted` exactly when given).
    pub consent_valid_to: Option<DateTime<Utc>>,
    pub consent_document: Option<CheckedFile>,
}

/// Steps 4 to 7, the first failing step answering.
pub fn check_reaction(raw: RawReaction, now: DateTime<Utc>) -> Result<CheckedReaction, TeamioError> {
    let mut errors = Vec::new();
    let first_name = name(&mut errors, "firstName", &raw.first_name);
    let surname = name(&mut errors, "surname", &raw.surname);
    let email = email(&mut errors, &raw.email);
    let phone = phone(&mut errors, &raw.phone);
    let recruitment_id = recruitment_id(&mut errors, &raw.recruitment_id);

    let mut attachments = Vec::new();
    let mut attachment_count = 0;
    match raw.attachments {
        Member::Missing | Member::Null => {}
        Member::WrongType => errors.push(FieldError::new("attachments", "must be an array")),
        Member::Value(items) => {
            attachment_count = items.len();
            for (index, item) in items.into_iter().enumerate() {
                if let Some(file) = file(&mut errors, &format!("attachments[{index}]"), item, true) {
                    attachments.push(file);
                }
            }
        }
    }

    let mut valid_to_text = None;
    let mut consent_document = None;
    let mut consent_given = false;
    match raw.gdpr_notice {
        Member::Missing | Member::Null => errors.push(FieldError::new("gdprNotice", NOT_NULL)),
        Member::WrongType => errors.push(FieldError::new("gdprNotice", NOT_AN_OBJECT)),
        Member::Value(notice) => {
            match notice.valid_to {
                Member::Missing | Member::Null => {}
                Member::WrongType => errors.push(FieldError::new("gdprNotice.validTo", NOT_A_STRING)),
                Member::Value(text) => valid_to_text = Some(text),
            }
            consent_given = matches!(notice.consent_text, Member::Value(_));
            consent_document = file(&mut errors, "gdprNotice.consentText", notice.consent_text, false);
        }
    }

    if !errors.is_empty() {
        return Err(TeamioError::validation(errors));
    }
    let (Some(first_name), Some(surname), Some(email)) = (first_name, surname, email) else {
        return Err(TeamioError::internal(anyhow::anyhow!("a required field passed its checks without a value")));
    };
    // Step 5.
    if attachment_count > MAX_ATTACHMENTS {
        return Err(TeamioError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "TOO_MANY_ATTACHMENTS",
            format!("At most {MAX_ATTACHMENTS} attachments are allowed, {attachment_count} were sent"),
        ));
    }
    // Step 6.
    if let Some(path) = raw.first_oversized {
        let reason = "file is larger than the maximum attachment size";
        let mut error =
            TeamioError::new(axum::http::StatusCode::BAD_REQUEST, "ATTACHMENT_TOO_LARGE", format!("{path}: {reason}"));
        error.field_errors = Some(vec![FieldError::new(path, reason)]);
        return Err(error);
    }
    // Step 7.
    let consent_valid_to = match valid_to_text {
        None => None,
        Some(text) => {
            let valid_to = DateTime::parse_from_rfc3339(text.as_str().trim())
                .ok()
                .filter(|_| !text.truncated)
                .map(|at| at.with_timezone(&Utc))
                .filter(|at| *at > now)
                .ok_or_else(|| {
                    TeamioError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "INVALID_GDPR_VALID_TO",
                        "gdprNotice.validTo must be an ISO-8601 date-time with an offset, in the future",
                    )
                })?;
            if !consent_given {
                return Err(TeamioError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "INVALID_GDPR_CONSENT_TEXT",
                    "gdprNotice.consentText is required when gdprNotice.validTo is given",
                ));
            }
            Some(valid_to)
        }
    };
    Ok(CheckedReaction {
        first_name,
        surname,
        email,
        phone,
        recruitment_id: recruitment_id.flatten(),
        attachments,
        consent_valid_to,
        consent_document,
    })
}

/// A required string: its text as sent, or the reason it is refused.
fn required_text<'a>(
    errors: &mut Vec<FieldError>,
    path: &str,
    member: &'a Member<CappedText>,
) -> Option<&'a CappedText> {
    match member {
        Member::Missing | Member::Null => errors.push(FieldError::new(path, NOT_NULL)),
        Member::WrongType => errors.push(FieldError::new(path, NOT_A_STRING)),
        Member::Value(text) if text.as_str().trim().is_empty() && !text.truncated => {
            errors.push(FieldError::new(path, NOT_BLANK));
        }
        Member::Value(text) => return Some(text),
    }
    None
}

/// Within `max` Unicode characters, without C0 controls (CONTRACT §11), after `trim` when asked.
fn bounded(errors: &mut Vec<FieldError>, path: &str, text: &CappedText, max: usize, trim: bool) -> Option<String> {
    let whole = text.as_str();
    let value = if trim { whole.trim() } else { whole.as_ref() };
    if text.truncated || value.chars().count() > max {
        errors.push(FieldError::new(path, format!("size must be between 0 and {max}")));
        return None;
    }
    if value.chars().any(|c| c.is_control()) {
        errors.push(FieldError::new(path, CONTROL_CHARACTERS));
        return None;
    }
    Some(value.to_owned())
}

fn name(errors: &mut Vec<FieldError>, path: &str, member: &Member<CappedText>) -> Option<String> {
    let text = required_text(errors, path, member)?;
    bounded(errors, path, text, SHORT_TEXT_CHARS, true)
}

fn email(errors: &mut Vec<FieldError>, member: &Member<CappedText>) -> Option<CandidateEmail> {
    let text = required_text(errors, "email", member)?;
    let value = bounded(errors, "email", text, SHORT_TEXT_CHARS, true)?;
    let parsed = CandidateEmail::parse(&value);
    if parsed.is_none() {
        errors.push(FieldError::new("email", "Email must be valid"));
    }
    parsed
}

fn phone(errors: &mut Vec<FieldError>, member: &Member<CappedText>) -> Option<String> {
    let text = match member {
        Member::Missing | Member::Null => return None,
        Member::WrongType => {
            errors.push(FieldError::new("phone", NOT_A_STRING));
            return None;
        }
        // CONTRACT §12: an empty phone is an absent one.
        Member::Value(text) if text.as_str().trim().is_empty() && !text.truncated => return None,
        Member::Value(text) => text,
    };
    let value = bounded(errors, "phone", text, SHORT_TEXT_CHARS, true)?;
    if !value.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
        errors.push(FieldError::new("phone", PHONE_CHARACTERS));
        return None;
    }
    Some(value)
}

/// `Some(Some(id))` for a JSON integer ≥ 1; `Some(None)` for one too large for any offer.
fn recruitment_id(errors: &mut Vec<FieldError>, member: &Member<CappedText>) -> Option<Option<i64>> {
    let text = match member {
        Member::Missing | Member::Null => {
            errors.push(FieldError::new("recruitmentId", NOT_NULL));
            return None;
        }
        Member::WrongType => {
            errors.push(FieldError::new("recruitmentId", NOT_AN_INTEGER));
            return None;
        }
        Member::Value(text) => text.as_str().into_owned(),
    };
    // The reader checked the JSON grammar: a fraction or an exponent is not an integer.
    if text.contains(['.', 'e', 'E']) {
        errors.push(FieldError::new("recruitmentId", NOT_AN_INTEGER));
        return None;
    }
    if text.starts_with('-') || text.trim_start_matches('0').is_empty() {
        errors.push(FieldError::new("recruitmentId", "must be greater than or equal to 1"));
        return None;
    }
    Some(text.parse::<i64>().ok())
}

/// An attachment (`kind_required`) or the consent document.
fn file(errors: &mut Vec<FieldError>, path: &str, member: Member<RawFile>, kind_required: bool) -> Option<CheckedFile> {
    let raw = match member {
        Member::Missing => return None,
        Member::Null if !kind_required => return None,
        Member::Null => {
            errors.push(FieldError::new(path, NOT_NULL));
            return None;
        }
        Member::WrongType => {
            errors.push(FieldError::new(path, NOT_AN_OBJECT));
            return None;
        }
        Member::Value(raw) => raw,
    };
    let before = errors.len();
    let filename_path = format!("{path}.filename");
    let filename = required_text(errors, &filename_path, &raw.filename)
        .and_then(|text| bounded(errors, &filename_path, text, SHORT_TEXT_CHARS, false));
    let content_type_path = format!("{path}.contentType");
    let content_type = required_text(errors, &content_type_path, &raw.content_type)
        .and_then(|text| bounded(errors, &content_type_path, text, CONTENT_TYPE_CHARS, true));
    let kind_path = format!("{path}.type");
    let kind = match (&raw.kind, kind_required) {
        (Member::Missing | Member::Null, false) => None,
        (kind, _) => required_text(errors, &kind_path, kind).and_then(|text| {
            let kind = AttachmentKind::parse(&text.as_str()).filter(|_| !text.truncated);
            if kind.is_none() {
                errors.push(FieldError::new(&kind_path, ATTACHMENT_KINDS));
            }
            kind
        }),
    };
    let content_path = format!("{path}.content");
    let content = match raw.content {
        Member::Missing | Member::Null => {
            errors.push(FieldError::new(content_path, NOT_NULL));
            None
        }
        Member::WrongType => {
            errors.push(FieldError::new(content_path, NOT_A_STRING));
            None
        }
        Member::Value(DecodedContent { not_base64: true, .. }) => {
            errors.push(FieldError::new(content_path, NOT_BASE64));
            None
        }
        Member::Value(DecodedContent { size: 0, .. }) => {
            errors.push(FieldError::new(content_path, NOT_BLANK));
            None
        }
        Member::Value(decoded) => Some(decoded),
    };
    if errors.len() > before {
        return None;
    }
    // Files past the limit or past the fifth attachment are not kept; steps 5 and 6 refuse those requests.
    let content = content?;
    Some(CheckedFile {
        filename: filename?,
        declared_content_type: content_type?,
        kind,
        file: content.file?,
        size_bytes: content.size,
    })
}
