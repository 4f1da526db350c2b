//! Reading a multipart application body (CONTRACT §6 items 2, 3, 7 and 9; the apply form of §13), streamed:
//! the CV goes to a spool file as it arrives and text fields are read up to their limit, so a body of any
//! size costs at most the limits in memory, and the answer does not depend on the order of the parts. What is
//! read is handed, unchecked, to the pipeline's checks ([`crate::service::intake::checks`]).

use std::path::Path;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::io::AsyncWriteExt;

use crate::service::intake::checks::MAX_TEXT_FIELD_BYTES;
use crate::service::intake::{ApplicationFields, Field, ReceivedFile, TextValue};
use crate::spool::SpoolFile;

/// Room for the text fields and the multipart framing beside the CV; past it the body is cut off.
const BODY_ALLOWANCE_BEYOND_CV: u64 = 4 * 1024 * 1024;
/// More parts than a career-site form could need is a malformed (or hostile) body.
const MAX_PARTS: usize = 64;

pub enum ContentTypeCheck {
    /// The boundary of a `multipart/form-data` body.
    Multipart(String),
    /// Not multipart/form-data at all: 415.
    Unsupported,
    /// multipart/form-data without a usable boundary: 400 Invalid multipart payload.
    MissingBoundary,
}

pub fn check_content_type(headers: &HeaderMap) -> ContentTypeCheck {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return ContentTypeCheck::Unsupported;
    };
    let mut parts = value.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return ContentTypeCheck::Unsupported;
    }
    let boundary = parts
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned());
    match boundary {
        Some(b) if !b.is_empty() && b.len() <= 70 => ContentTypeCheck::Multipart(b),
        _ => ContentTypeCheck::MissingBoundary,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("Invalid multipart payload")]
    Invalid,
    /// The body was cut off while the CV was over its limit.
    #[error("CV file too large")]
    CvTooLarge,
    /// The body was cut off while a text field was over its limit.
    #[error("{} is too long", .0.name())]
    FieldTooLong(Field),
    /// The body was cut off elsewhere (too many or too large other parts).
    #[error("Request body too large")]
    BodyTooLarge,
    #[error("spooling the CV failed")]
    Spool(#[source] std::io::Error),
}

/// Reads the parts the pipeline knows (the text fields of [`Field::TEXT`] and the `cv` file); every other
/// part (`source`, `cv_url`, `company_id`, …) is read past and ignored.
pub async fn read_application_form(
    body: Body,
    boundary: String,
    max_cv_bytes: u64,
    spool_dir: &Path,
) -> Result<ApplicationFields, FormError> {
    read_form_fields(body, boundary, max_cv_bytes, spool_dir, &[]).await.map(|(form, _)| form)
}

/// [`read_application_form`], also keeping the text parts named in `extra_fields` (the HTML form's consent
/// checkbox and honeypot, CONTRACT §13), under the same limits.
pub async fn read_form_fields(
    body: Body,
    boundary: String,
    max_cv_bytes: u64,
    spool_dir: &Path,
    extra_fields: &[&'static str],
) -> Result<(ApplicationFields, Vec<(&'static str, TextValue)>), FormError> {
    let mut extras: Vec<(&'static str, TextValue)> = Vec::new();
    let limits = multer::SizeLimit::new().whole_stream(max_cv_bytes.saturating_add(BODY_ALLOWANCE_BEYOND_CV));
    let stream = OneChunkPerPoll { inner: body.into_data_stream(), yield_now: false };
    let mut multipart =
        multer::Multipart::with_constraints(stream, boundary, multer::Constraints::new().size_limit(limits));
    let mut form = ApplicationFields::default();
    let mut parts = 0;
    let cut_off = |form: &ApplicationFields, error: multer::Error| match error {
        multer::Error::StreamSizeExceeded { .. } if form.cv.as_ref().is_some_and(|cv| cv.too_large) => {
            FormError::CvTooLarge
        }
        // A body cut off at its limit still answers with the part that overflowed, when one did.
        multer::Error::StreamSizeExceeded { .. } => match form.first_too_long() {
            Some(field) => FormError::FieldTooLong(field),
            None => FormError::BodyTooLarge,
        },
        _ => FormError::Invalid,
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => return Err(cut_off(&form, error)),
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Err(FormError::Invalid);
        }
        let name = field.name().unwrap_or("").to_owned();
        let known = Field::from_name(&name);
        let extra = extra_fields.iter().copied().find(|e| *e == name).filter(|e| !extras.iter().any(|(x, _)| x == e));
        let result = match (known, extra) {
            (Some(Field::Cv), _) if form.cv.is_none() => spool_cv(field, max_cv_bytes, spool_dir, &mut form).await,
            (Some(text), _) if text != Field::Cv && !form.text.iter().any(|(f, _)| *f == text) => {
                form.text.push((text, TextValue::default()));
                let slot = &mut form.text.last_mut().expect("just pushed").1;
                read_text(field, slot).await
            }
            (None, Some(extra)) => {
                extras.push((extra, TextValue::default()));
                let slot = &mut extras.last_mut().expect("just pushed").1;
                read_text(field, slot).await
            }
            _ => drain(field).await,
        };
        match result {
            Ok(()) => {}
            Err(ReadError::Multipart(error)) => return Err(cut_off(&form, error)),
            Err(ReadError::NotUtf8) => return Err(FormError::Invalid),
            Err(ReadError::Spool(error)) => return Err(FormError::Spool(error)),
        }
    }
    Ok((form, extras))
}

/// Hands multer one chunk of the body per poll. multer reads its source for as long as data is ready, so a
/// fast client could fill its buffer with the whole body (up to the body's limit) before a part is read;
/// one chunk at a time keeps the buffer at about a chunk, and an oversized body is noticed inside the part
/// that made it too large.
struct OneChunkPerPoll<S> {
    inner: S,
    yield_now: bool,
}

impl<S: Stream + Unpin> Stream for OneChunkPerPoll<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.yield_now {
            self.yield_now = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if matches!(item, Poll::Ready(Some(_))) {
            self.yield_now = true;
        }
        item
    }
}

enum ReadError {
    Multipart(multer::Error),
    NotUtf8,
    Spool(std::io::Error),
}

impl From<multer::Error> for ReadError {
    fn from(error: multer::Error) -> Self {
        ReadError::Multipart(error)
    }
}

/// Reads a text field into `slot`, keeping at most the limit; `slot.too_long` is set as soon as the limit is
/// passed, so it is known even if the body is cut off inside this field.
async fn read_text(mut field: multer::Field<'_>, slot: &mut TextValue) -> Result<(), ReadError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.inspect_err(|e| blame_overflow(e, &mut slot.too_long))? {
        if slot.too_long {
            continue;
        }
        let room = MAX_TEXT_FIELD_BYTES - bytes.len();
        if chunk.len() > room {
            slot.too_long = true;
            bytes.extend_from_slice(&chunk[..room]);
            // The value only serves the checks that run before `<field> is too long`.
            slot.value = String::from_utf8_lossy(&bytes).into_owned();
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    if !slot.too_long {
        slot.value = String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)?;
    }
    Ok(())
}

async fn spool_cv(
    mut field: multer::Field<'_>,
    max_bytes: u64,
    spool_dir: &Path,
    form: &mut ApplicationFields,
) -> Result<(), ReadError> {
    let (spooled, writer) = SpoolFile::create_in(spool_dir).map_err(ReadError::Spool)?;
    let mut file = tokio::fs::File::from_std(writer);
    form.cv = Some(ReceivedFile { file: spooled, size_bytes: 0, too_large: false });
    let mut size: u64 = 0;
    let chunks = loop {
        let chunk = match field.chunk().await {
            Ok(chunk) => chunk,
            Err(error) => {
                if let Some(cv) = form.cv.as_mut() {
                    blame_overflow(&error, &mut cv.too_large);
                }
                break Err(error);
            }
        };
        let Some(chunk) = chunk else { break Ok(()) };
        size = size.saturating_add(chunk.len() as u64);
        if size > max_bytes {
            // CONTRACT §6, item 7: detected while streaming; the rest is read (up to the body's limit) but not kept.
            if let Some(cv) = form.cv.as_mut() {
                cv.too_large = true;
                cv.size_bytes = size;
            }
            continue;
        }
        file.write_all(&chunk).await.map_err(ReadError::Spool)?;
        if let Some(cv) = form.cv.as_mut() {
            cv.size_bytes = size;
        }
    };
    chunks?;
    file.flush().await.map_err(ReadError::Spool)?;
    Ok(())
}

/// The body's limit was hit while this part was being read: multer reads ahead of the part's data, so the
/// part may not have shown its excess yet, but it is the part that made the body too large.
fn blame_overflow(error: &multer::Error, over_limit: &mut bool) {
    if matches!(error, multer::Error::StreamSizeExceeded { .. }) {
        *over_limit = true;
    }
}

async fn drain(mut field: multer::Field<'_>) -> Result<(), ReadError> {
    while field.chunk().await?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn content_types_are_sorted_into_415_400_and_multipart() {
        assert!(matches!(check_content_type(&HeaderMap::new()), ContentTypeCheck::Unsupported));
        assert!(matches!(check_content_type(&with_type("application/json")), ContentTypeCheck::Unsupported));
        assert!(matches!(check_content_type(&with_type("multipart/mixed; boundary=x")), ContentTypeCheck::Unsupported));
        assert!(matches!(check_content_type(&with_type("multipart/form-data")), ContentTypeCheck::MissingBoundary));
        assert!(matches!(
            check_content_type(&with_type("multipart/form-data; boundary=")),
            ContentTypeCheck::MissingBoundary
        ));
        match check_content_type(&with_type("Multipart/Form-Data; charset=utf-8; boundary=\"abc 123\"")) {
            ContentTypeCheck::Multipart(boundary) => assert_eq!(boundary, "abc 123"),
            _ => panic!("a boundary was given"),
        }
    }
}
