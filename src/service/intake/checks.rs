//! What the pipeline refuses, and why (CONTRACT §6 items 4–9, §11 "Bad characters"): the checks that are not
//! about HTTP, run in the contract's order, answering one typed [`Refusal`]. Each front door maps a refusal
//! to its own words: the §1 envelope (`http::job_applications`), Teamio's codes (§12), the apply form's
//! field messages (§13). No door writes a rule of its own.

use uuid::Uuid;

use super::submission::{FileRole, IncomingFile};
use crate::cv::{CvFormat, CvRejection, detect_cv_format};
use crate::db::job_offers::JobOffer;
use crate::domain::candidate::CandidateEmail;
use crate::domain::control_characters::{ControlCharacters, contains_forbidden_control_character};
use crate::domain::strict_uuid::parse_strict_uuid;
use crate::spool::SpoolFile;

/// The text fields a candidate fills in, in the order their refusals are reported (CONTRACT §6 item 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    JobOfferId,
    FirstName,
    LastName,
    Email,
    Phone,
    LinkedinUrl,
    CoverLetter,
    Cv,
}

impl Field {
    pub const TEXT: [Field; 7] = [
        Field::JobOfferId,
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::LinkedinUrl,
        Field::CoverLetter,
    ];

    /// The field's name on the wire (multipart part name, form input name).
    pub fn name(self) -> &'static str {
        match self {
            Field::JobOfferId => "job_offer_id",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::LinkedinUrl => "linkedin_url",
            Field::CoverLetter => "cover_letter",
            Field::Cv => "cv",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::TEXT.into_iter().chain([Field::Cv]).find(|field| field.name() == name)
    }

    /// Free text where a candidate may break lines (CONTRACT §11: tab, CR and LF allowed in `cover_letter`).
    fn control_characters(self) -> ControlCharacters {
        match self {
            Field::CoverLetter => ControlCharacters::TabAndLineBreaksAllowed,
            _ => ControlCharacters::Forbidden,
        }
    }
}

/// Why a submission is refused; the first one in a list is the one the Talqo API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Absent or blank after trimming (`job_offer_id`, the names, `email`, the `cv` file).
    Missing(Field),
    /// `job_offer_id` is not a UUID.
    MalformedJobOfferId,
    EmailInvalid,
    CvEmpty,
    CvTooLarge {
        max_bytes: u64,
    },
    /// Neither PDF nor DOCX by its bytes.
    CvUnsupportedFormat,
    OfferNotFound,
    OfferOfAnotherCompany,
    OfferNotOpen,
    /// Over [`MAX_TEXT_FIELD_BYTES`].
    TooLong(Field),
    /// Holds a NUL or another C0 control character.
    InvalidCharacters(Field),
}

/// Text fields are limited to 64 KiB each (CONTRACT §6 item 9).
pub const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;

/// A text value as a door read it: at most [`MAX_TEXT_FIELD_BYTES`] kept, and whether there was more.
#[derive(Debug, Clone, Default)]
pub struct TextValue {
    pub value: String,
    pub too_long: bool,
}

/// A file as a door received it, spooled to disk while it arrived.
#[derive(Debug)]
pub struct ReceivedFile {
    pub file: SpoolFile,
    /// Bytes received (counted up to one past the limit when it was too large).
    pub size_bytes: u64,
    pub too_large: bool,
}

/// What a candidate sent through the Talqo API or the apply form, before any check.
#[derive(Debug, Default)]
pub struct ApplicationFields {
    pub text: Vec<(Field, TextValue)>,
    pub cv: Option<ReceivedFile>,
}

impl ApplicationFields {
    fn value(&self, field: Field) -> Option<&TextValue> {
        self.text.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// A text field, trimmed; `None` when absent or blank.
    pub fn text(&self, field: Field) -> Option<&str> {
        self.value(field).map(|v| v.value.trim()).filter(|v| !v.is_empty())
    }

    /// The first field over the text limit, in the order of [`Field::TEXT`].
    pub fn first_too_long(&self) -> Option<Field> {
        Field::TEXT.into_iter().find(|field| self.value(*field).is_some_and(|v| v.too_long))
    }
}

/// A submission's fields once every check passed; the door adds its source and consent.
#[derive(Debug)]
pub struct CheckedApplication {
    pub offer: JobOffer,
    pub email: CandidateEmail,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub cover_letter: String,
    pub cv: IncomingFile,
}

/// Items 4 to 7 of CONTRACT §6, which need no database: every refusal found, in the contract's order, and
/// the offer id when it is well formed. A NUL in the email makes it invalid (§6's rule refuses control
/// characters); in the other fields it is reported after the lengths (item 9).
pub(super) fn check_fields(
    fields: &ApplicationFields,
    max_cv_bytes: u64,
    cv_format: Option<CvFormat>,
) -> (Vec<Refusal>, Option<Uuid>) {
    let mut refusals = Vec::new();
    let offer_id = match fields.text(Field::JobOfferId) {
        None => {
            refusals.push(Refusal::Missing(Field::JobOfferId));
            None
        }
        Some(raw) => {
            let parsed = parse_strict_uuid(raw);
            if parsed.is_none() {
                refusals.push(Refusal::MalformedJobOfferId);
            }
            parsed
        }
    };
    for field in [Field::FirstName, Field::LastName, Field::Email] {
        if fields.text(field).is_none() {
            refusals.push(Refusal::Missing(field));
        }
    }
    if let Some(email) = fields.text(Field::Email)
        && CandidateEmail::parse(email).is_none()
    {
        refusals.push(Refusal::EmailInvalid);
    }
    match &fields.cv {
        None => refusals.push(Refusal::Missing(Field::Cv)),
        Some(cv) if cv.too_large => refusals.push(Refusal::CvTooLarge { max_bytes: max_cv_bytes }),
        Some(cv) if cv.size_bytes == 0 => refusals.push(Refusal::CvEmpty),
        Some(_) if cv_format.is_none() => refusals.push(Refusal::CvUnsupportedFormat),
        Some(_) => {}
    }
    (refusals, offer_id)
}

/// Item 9 and CONTRACT §11: lengths, then characters, field by field.
pub(super) fn check_text(fields: &ApplicationFields) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    if let Some(field) = fields.first_too_long() {
        refusals.push(Refusal::TooLong(field));
    }
    for field in Field::TEXT {
        if field == Field::Email {
            continue;
        }
        let Some(value) = fields.value(field) else { continue };
        if !value.too_long && contains_forbidden_control_character(&value.value, field.control_characters()) {
            refusals.push(Refusal::InvalidCharacters(field));
        }
    }
    refusals
}

/// CONTRACT §6 item 8: only `open` and `active` offers take applications.
pub fn takes_applications(offer: &JobOffer) -> bool {
    matches!(offer.status.as_str(), "open" | "active")
}

/// Item 8: the offer must be the company's and take applications.
pub fn check_offer(company_id: Uuid, offer: Option<JobOffer>) -> Result<JobOffer, Refusal> {
    let offer = offer.ok_or(Refusal::OfferNotFound)?;
    if offer.company_id != company_id {
        return Err(Refusal::OfferOfAnotherCompany);
    }
    if !takes_applications(&offer) {
        return Err(Refusal::OfferNotOpen);
    }
    Ok(offer)
}

/// The outcome of [`super::Intake::check_application`]: the checked application, or every refusal found in
/// the contract's order (the offer is looked up only when items 4 to 7 passed).
pub type CheckResult = Result<CheckedApplication, Vec<Refusal>>;

/// Reads the spooled CV's format from its bytes, off the async runtime (CONTRACT §6 item 7: the part's
/// Content-Type and file name are never trusted). `None` for an empty or unsupported file.
pub(super) async fn detect_format(file: &SpoolFile) -> anyhow::Result<Option<CvFormat>> {
    let path = file.path().to_owned();
    match tokio::task::spawn_blocking(move || detect_cv_format(&path)).await {
        Ok(Ok(format)) => Ok(Some(format)),
        Ok(Err(CvRejection::Io(error))) => Err(anyhow::Error::new(error).context("reading a spooled CV")),
        Ok(Err(_)) => Ok(None),
        Err(join_error) => Err(anyhow::anyhow!("CV format detection failed: {join_error}")),
    }
}

/// Builds the checked application once every check passed.
pub(super) fn into_checked(
    mut fields: ApplicationFields,
    offer: JobOffer,
    cv_format: CvFormat,
) -> anyhow::Result<CheckedApplication> {
    let owned = |fields: &ApplicationFields, field: Field| fields.text(field).map(str::to_owned);
    let email = fields
        .text(Field::Email)
        .and_then(CandidateEmail::parse)
        .ok_or_else(|| anyhow::anyhow!("email was checked"))?;
    let first_name = owned(&fields, Field::FirstName).unwrap_or_default();
    let last_name = owned(&fields, Field::LastName).unwrap_or_default();
    let phone = owned(&fields, Field::Phone);
    let linkedin_url = owned(&fields, Field::LinkedinUrl);
    let cover_letter = fields.value(Field::CoverLetter).map(|v| v.value.clone()).unwrap_or_default();
    let cv = fields.cv.take().ok_or_else(|| anyhow::anyhow!("the CV was checked"))?;
    Ok(CheckedApplication {
        offer,
        email,
        first_name,
        last_name,
        phone,
        linkedin_url,
        cover_letter,
        cv: IncomingFile {
            role: FileRole::Cv,
            filename: None,
            declared_content_type: None,
            detected_content_type: cv_format.content_type().to_owned(),
            size_bytes: cv.size_bytes,
            spooled: cv.file,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(pairs: &[(Field, &str)]) -> ApplicationFields {
        ApplicationFields {
            text: pairs.iter().map(|(f, v)| (*f, TextValue { value: (*v).to_owned(), too_long: false })).collect(),
            cv: None,
        }
    }

    #[test]
    fn refusals_come_in_the_contracts_order() {
        let fields = text(&[(Field::JobOfferId, "nope"), (Field::FirstName, " "), (Field::Email, "a b@c")]);
        let (refusals, offer_id) = check_fields(&fields, 10, None);
        assert_eq!(offer_id, None);
        assert_eq!(
            refusals,
            vec![
                Refusal::MalformedJobOfferId,
                Refusal::Missing(Field::FirstName),
                Refusal::Missing(Field::LastName),
                Refusal::EmailInvalid,
                Refusal::Missing(Field::Cv),
            ]
        );
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_only_in_the_cover_letter() {
        let fields = text(&[(Field::FirstName, "Jo\0"), (Field::CoverLetter, "Dear\nteam")]);
        assert_eq!(check_text(&fields), vec![Refusal::InvalidCharacters(Field::FirstName)]);
    }

    #[test]
    fn the_first_field_over_its_limit_is_named() {
        let mut fields = text(&[(Field::Phone, "1"), (Field::FirstName, "x")]);
        for (_, value) in &mut fields.text {
            value.too_long = true;
        }
        assert_eq!(check_text(&fields), vec![Refusal::TooLong(Field::FirstName)]);
    }
}
