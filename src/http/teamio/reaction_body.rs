//! Reading the body of `POST /api/v1/candidate-reactions` (CONTRACT §12, step 3) as it streams: each member is
//! kept as what it turned out to be (missing, null, of the wrong JSON type, or a value), so that the checks of
//! step 4 can report every field at once; each attachment's `content` is decoded into a spool file on the way.
//! Unknown members are skipped. A member given twice keeps its last value.

use std::path::Path;

use super::base64_spool::{Base64Spool, DecodedContent};
use super::json_stream::{BodyError, BodyResult, CappedText, JsonReader, ValueStart};

/// CONTRACT §12, step 5: more attachments than this are refused, so their contents are checked but not kept.
pub const MAX_ATTACHMENTS: usize = 5;
/// Text members are kept up to this many bytes; longer ones are too long for every rule anyway.
const TEXT_CAP_BYTES: usize = 4096;

/// A member as found in the body.
#[derive(Debug, Default)]
pub enum Member<T> {
    #[default]
    Missing,
    Null,
    /// Present with another JSON type than the one expected.
    WrongType,
    Value(T),
}

#[derive(Debug, Default)]
pub struct RawReaction {
    pub first_name: Member<CappedText>,
    pub surname: Member<CappedText>,
    pub email: Member<CappedText>,
    pub phone: Member<CappedText>,
    /// The number's text as sent (`67890`, `1.5`, `-3`).
    pub recruitment_id: Member<CappedText>,
    pub attachments: Member<Vec<Member<RawFile>>>,
    pub gdpr_notice: Member<RawGdprNotice>,
    /// CONTRACT §12, step 6: the path of the first decoded file found over the limit, in the body's order.
    pub first_oversized: Option<String>,
}

#[derive(Debug, Default)]
pub struct RawFile {
    pub filename: Member<CappedText>,
    pub content_type: Member<CappedText>,
    pub kind: Member<CappedText>,
    pub content: Member<DecodedContent>,
}

#[derive(Debug, Default)]
pub struct RawGdprNotice {
    pub consent_text: Member<RawFile>,
    pub valid_to: Member<CappedText>,
}

struct Spooling<'a> {
    dir: &'a Path,
    max_file_bytes: u64,
    first_oversized: Option<String>,
}

/// Reads the whole body. `Err` only for what answers before the field checks: a body that is too large, not
/// JSON or not an object (step 3), and failures of our own (spooling).
pub async fn read_reaction(reader: &mut JsonReader, spool_dir: &Path, max_file_bytes: u64) -> BodyResult<RawReaction> {
    if reader.peek_value().await? != ValueStart::Object {
        reader.skip_value().await?;
        reader.expect_end().await?;
        return Err(BodyError::Invalid("The request body must be a JSON object"));
    }
    let mut spooling = Spooling { dir: spool_dir, max_file_bytes, first_oversized: None };
    let mut raw = RawReaction::default();
    let mut key = reader.begin_object().await?;
    while let Some(name) = key {
        match name.as_str().as_ref() {
            "firstName" => raw.first_name = read_text(reader).await?,
            "surname" => raw.surname = read_text(reader).await?,
            "email" => raw.email = read_text(reader).await?,
            "phone" => raw.phone = read_text(reader).await?,
            "recruitmentId" => raw.recruitment_id = read_number(reader).await?,
            "attachments" => raw.attachments = read_attachments(reader, &mut spooling).await?,
            "gdprNotice" => raw.gdpr_notice = read_gdpr_notice(reader, &mut spooling).await?,
            _ => reader.skip_value().await?,
        }
        key = reader.next_key().await?;
    }
    reader.expect_end().await?;
    raw.first_oversized = spooling.first_oversized;
    Ok(raw)
}

/// `null`, or a value of another kind than `wanted` (skipped): the member's state; `None` when it is `wanted`.
async fn other_than<T>(reader: &mut JsonReader, wanted: ValueStart) -> BodyResult<Option<Member<T>>> {
    let start = reader.peek_value().await?;
    if start == wanted {
        return Ok(None);
    }
    if start == ValueStart::Literal(b'n') {
        reader.read_literal().await?;
        return Ok(Some(Member::Null));
    }
    reader.skip_value().await?;
    Ok(Some(Member::WrongType))
}

async fn read_text(reader: &mut JsonReader) -> BodyResult<Member<CappedText>> {
    if let Some(other) = other_than(reader, ValueStart::String).await? {
        return Ok(other);
    }
    let mut text = CappedText::with_cap(TEXT_CAP_BYTES);
    reader.read_string(&mut text).await?;
    Ok(Member::Value(text))
}

async fn read_number(reader: &mut JsonReader) -> BodyResult<Member<CappedText>> {
    if let Some(other) = other_than(reader, ValueStart::Number).await? {
        return Ok(other);
    }
    Ok(Member::Value(reader.read_number().await?))
}

async fn read_attachments(
    reader: &mut JsonReader,
    spooling: &mut Spooling<'_>,
) -> BodyResult<Member<Vec<Member<RawFile>>>> {
    if let Some(other) = other_than(reader, ValueStart::Array).await? {
        return Ok(other);
    }
    let mut attachments = Vec::new();
    let mut more = reader.begin_array().await?;
    while more {
        let index = attachments.len();
        let keep = index < MAX_ATTACHMENTS;
        attachments.push(read_file(reader, spooling, keep, &format!("attachments[{index}]")).await?);
        more = reader.next_element().await?;
    }
    Ok(Member::Value(attachments))
}

async fn read_gdpr_notice(reader: &mut JsonReader, spooling: &mut Spooling<'_>) -> BodyResult<Member<RawGdprNotice>> {
    if let Some(other) = other_than(reader, ValueStart::Object).await? {
        return Ok(other);
    }
    let mut notice = RawGdprNotice::default();
    let mut key = reader.begin_object().await?;
    while let Some(name) = key {
        match name.as_str().as_ref() {
            "consentText" => {
                notice.consent_text = read_file(reader, spooling, true, "gdprNotice.consentText").await?;
            }
            "validTo" => notice.valid_to = read_text(reader).await?,
            _ => reader.skip_value().await?,
        }
        key = reader.next_key().await?;
    }
    Ok(Member::Value(notice))
}

/// An attachment or the consent document; `keep` false checks its content without storing it.
async fn read_file(
    reader: &mut JsonReader,
    spooling: &mut Spooling<'_>,
    keep: bool,
    path: &str,
) -> BodyResult<Member<RawFile>> {
    if let Some(other) = other_than(reader, ValueStart::Object).await? {
        return Ok(other);
    }
    let mut file = RawFile::default();
    let mut key = reader.begin_object().await?;
    while let Some(name) = key {
        match name.as_str().as_ref() {
            "filename" => file.filename = read_text(reader).await?,
            "contentType" => file.content_type = read_text(reader).await?,
            "type" => file.kind = read_text(reader).await?,
            "content" => {
                file.content = match other_than(reader, ValueStart::String).await? {
                    Some(other) => other,
                    None => {
                        let mut spool = Base64Spool::new(spooling.dir, spooling.max_file_bytes, keep)?;
                        reader.read_string(&mut spool).await?;
                        let decoded = spool.finish().await?;
                        if decoded.over_limit && spooling.first_oversized.is_none() {
                            spooling.first_oversized = Some(format!("{path}.content"));
                        }
                        Member::Value(decoded)
                    }
                };
            }
            _ => reader.skip_value().await?,
        }
        key = reader.next_key().await?;
    }
    Ok(Member::Value(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn read(body: &str) -> BodyResult<RawReaction> {
        read_in(body, &tempfile::tempdir().unwrap()).await
    }

    async fn read_in(body: &str, dir: &tempfile::TempDir) -> BodyResult<RawReaction> {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
            body.as_bytes().chunks(7).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        let stream = Body::from_stream(futures_util::stream::iter(chunks)).into_data_stream();
        let mut reader = JsonReader::new(stream, 1 << 20);
        read_reaction(&mut reader, dir.path(), 8).await
    }

    fn text(member: &Member<CappedText>) -> Option<String> {
        match member {
            Member::Value(t) => Some(t.as_str().into_owned()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn members_are_read_with_their_kind_and_unknown_ones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let raw = read_in(
            r#"{"firstName":"J\u00e9r\u00f4me","surname":null,"email":5,"extra":{"deep":[1,2,{"x":[true,false,null]}],"s":"\"q\""},
               "recruitmentId":67890,"attachments":[{"filename":"cv.pdf","content":"SGVs\nbG8=","contentType":"application/pdf","type":"CV"},null,"x"],
               "gdprNotice":{"validTo":"2030-01-01T00:00:00Z"}}"#,
            &dir,
        )
        .await
        .unwrap();
        assert_eq!(text(&raw.first_name).as_deref(), Some("Jérôme"));
        assert!(matches!(raw.surname, Member::Null));
        assert!(matches!(raw.email, Member::WrongType));
        assert!(matches!(raw.phone, Member::Missing));
        assert_eq!(text(&raw.recruitment_id).as_deref(), Some("67890"));
        let Member::Value(attachments) = &raw.attachments else { panic!("attachments") };
        assert_eq!(attachments.len(), 3);
        let Member::Value(cv) = &attachments[0] else { panic!("first attachment") };
        let Member::Value(content) = &cv.content else { panic!("content") };
        assert_eq!(std::fs::read(content.file.as_ref().unwrap().path()).unwrap(), b"Hello");
        assert!(matches!(attachments[1], Member::Null));
        assert!(matches!(attachments[2], Member::WrongType));
        assert!(raw.first_oversized.is_none());
    }

    #[tokio::test]
    async fn the_first_file_over_the_limit_is_named_by_its_path() {
        let raw = read(
            r#"{"attachments":[{"content":"SGVsbG8="},{"content":"SGVsbG8gd29ybGQ="}],
                "gdprNotice":{"consentText":{"content":"SGVsbG8gd29ybGQ="}}}"#,
        )
        .await
        .unwrap();
        assert_eq!(raw.first_oversized.as_deref(), Some("attachments[1].content"));
    }

    #[tokio::test]
    async fn malformed_bodies_and_other_top_level_values_are_refused() {
        for body in
            ["", "[]", "\"x\"", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":01}", "{\"a\":\"\\x\"}", "nul"]
        {
            assert!(matches!(read(body).await, Err(BodyError::Invalid(_))), "{body:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(read(&deep).await, Err(BodyError::Invalid(_))));
    }

    #[tokio::test]
    async fn the_body_limit_is_enforced_while_streaming() {
        let dir = tempfile::tempdir().unwrap();
        let body = format!("{{\"x\":\"{}\"}}", "a".repeat(1000));
        let stream = Body::from(body).into_data_stream();
        let mut reader = JsonReader::new(stream, 100);
        assert!(matches!(read_reaction(&mut reader, dir.path(), 8).await, Err(BodyError::TooLarge)));
    }
}
