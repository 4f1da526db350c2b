//! CONTRACT §6, items 1–9: every refusal's status and message, in the contract's order (the first failing
//! check answers), always in the error envelope with the rate-limit headers, and never writing a candidate
//! or an application.

use reqwest::header::CONTENT_TYPE;
use uuid::Uuid;

use crate::fixtures::{
    CV_PDF, Form, Tenant, assert_nothing_written, corpus_bytes, expect_created, expect_error, padded_pdf,
    stored_application, stored_candidate, stored_object,
};

const UNSUPPORTED_CONTENT_TYPE: &str =
    "Unsupported Content-Type. Use multipart/form-data with the CV in the \"cv\" file field.";
const INVALID_MULTIPART: &str = "Invalid multipart payload";
const OFFER_REQUIRED: &str = "job_offer_id is required";
const OFFER_FORMAT: &str = "Invalid job_offer_id format";
const PERSON_REQUIRED: &str = "first_name, last_name, and email are required";
const EMAIL_INVALID: &str = "email is invalid";
const CV_REQUIRED: &str = "cv file is required (multipart field \"cv\")";
const CV_EMPTY: &str = "CV validation failed: CV file is empty";
const CV_TOO_LARGE: &str = "CV validation failed: CV file too large (max 10485760 bytes)";
const CV_UNSUPPORTED: &str = "CV validation failed: unsupported file format (expected PDF or DOCX)";
const OFFER_NOT_FOUND: &str = "Job offer not found";
const OFFER_OTHER_COMPANY: &str = "Job offer does not belong to your company";
const OFFER_NOT_OPEN: &str = "Job offer is not open for applications";

const MAX_CV_BYTES: usize = 10 * 1024 * 1024;
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A body that would be a valid application if it were multipart with this boundary.
fn raw_multipart(tenant: &Tenant, boundary: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in [
        ("job_offer_id", tenant.offer.id.to_string()),
        ("first_name", "Jean".to_owned()),
        ("last_name", "Dupont".to_owned()),
        ("email", "jean.dupont@example.com".to_owned()),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&corpus_bytes(CV_PDF));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn json_or_no_content_type_answers_415() {
    let tenant = Tenant::start().await;
    let json = format!(
        r#"{{"job_offer_id":"{}","first_name":"Jean","last_name":"Dupont","email":"jean@example.com","cv_url":"https://x/cv.pdf"}}"#,
        tenant.offer.id
    );
    let response = tenant.post().header(CONTENT_TYPE, "application/json").body(json.clone()).send().await.unwrap();
    expect_error(response, 415, UNSUPPORTED_CONTENT_TYPE).await;

    let response = tenant.post().body(raw_multipart(&tenant, "b0und4ry")).send().await.unwrap();
    expect_error(response, 415, UNSUPPORTED_CONTENT_TYPE).await;

    for other in ["application/x-www-form-urlencoded", "text/plain", "multipart/mixed; boundary=b0und4ry"] {
        let response =
            tenant.post().header(CONTENT_TYPE, other).body(raw_multipart(&tenant, "b0und4ry")).send().await.unwrap();
        expect_error(response, 415, UNSUPPORTED_CONTENT_TYPE).await;
    }
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_missing_api_key_answers_401_before_the_content_type_is_checked() {
    let tenant = Tenant::start().await;
    let response = tenant
        .app
        .client
        .post(tenant.app.url("/api/job_applications"))
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(response, 401, "API key is required").await;
    let response = tenant
        .app
        .client
        .post(tenant.app.url("/api/job_applications"))
        .header("X-API-Key", "tlq_notakey000000000000000000000000")
        .multipart(tenant.form(CV_PDF).build())
        .send()
        .await
        .unwrap();
    expect_error(response, 401, "Invalid API key").await;
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_missing_boundary_or_a_body_that_is_not_multipart_is_an_invalid_multipart_payload() {
    let tenant = Tenant::start().await;
    let cases: [(&str, Vec<u8>); 6] = [
        ("multipart/form-data", raw_multipart(&tenant, "b0und4ry")),
        ("multipart/form-data; boundary=", raw_multipart(&tenant, "b0und4ry")),
        ("multipart/form-data; boundary=b0und4ry", b"this is not a multipart body at all".to_vec()),
        ("multipart/form-data; boundary=b0und4ry", raw_multipart(&tenant, "another-boundary")),
        // Cut off in the middle of the CV part: the closing boundary never comes.
        ("multipart/form-data; boundary=b0und4ry", raw_multipart(&tenant, "b0und4ry")[..2000].to_vec()),
        ("multipart/form-data; boundary=b0und4ry", Vec::new()),
    ];
    for (content_type, body) in cases {
        let response = tenant.post().header(CONTENT_TYPE, content_type).body(body).send().await.unwrap();
        expect_error(response, 400, INVALID_MULTIPART).await;
    }
    // Well-formed multipart without any part: the framing is valid, the fields are missing.
    let response = tenant
        .post()
        .header(CONTENT_TYPE, "multipart/form-data; boundary=b0und4ry")
        .body("--b0und4ry--\r\n")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, OFFER_REQUIRED).await;
    assert_nothing_written(tenant.db()).await;
    // The same raw body with the right boundary is a valid application: the refusals above are about the framing.
    let response = tenant
        .post()
        .header(CONTENT_TYPE, "multipart/form-data; boundary=b0und4ry")
        .body(raw_multipart(&tenant, "b0und4ry"))
        .send()
        .await
        .unwrap();
    expect_created(response).await;
}

#[tokio::test]
async fn a_missing_or_blank_job_offer_id_is_required_and_a_malformed_one_is_refused() {
    let tenant = Tenant::start().await;
    let form = tenant.form(CV_PDF);
    expect_error(tenant.apply(&form.clone().without("job_offer_id")).await, 400, OFFER_REQUIRED).await;
    for blank in ["", "   ", "\t\n"] {
        expect_error(tenant.apply(&form.clone().text("job_offer_id", blank)).await, 400, OFFER_REQUIRED).await;
    }
    for malformed in [
        "abc",
        "550e8400e29b41d4a716446655440000",
        "{550e8400-e29b-41d4-a716-446655440000}",
        "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
        "550e8400-e29b-41d4-a716-44665544000g",
        "1 OR 1=1",
    ] {
        expect_error(tenant.apply(&form.clone().text("job_offer_id", malformed)).await, 400, OFFER_FORMAT).await;
    }
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn missing_or_blank_names_and_email_are_required_and_a_malformed_email_is_invalid() {
    let tenant = Tenant::start().await;
    let form = tenant.form(CV_PDF);
    for field in ["first_name", "last_name", "email"] {
        expect_error(tenant.apply(&form.clone().without(field)).await, 400, PERSON_REQUIRED).await;
        for blank in ["", "  ", "\t \r\n"] {
            expect_error(tenant.apply(&form.clone().text(field, blank)).await, 400, PERSON_REQUIRED).await;
        }
    }
    let too_long = format!("{}@example.com", "a".repeat(243));
    for malformed in
        ["jean", "jean@", "@example.com", "jean dupont@example.com", "jean@exa mple.com", "a@b@c", too_long.as_str()]
    {
        expect_error(tenant.apply(&form.clone().text("email", malformed)).await, 400, EMAIL_INVALID).await;
    }
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn no_cv_part_or_a_cv_under_another_name_is_a_missing_cv() {
    let tenant = Tenant::start().await;
    let form = tenant.form(CV_PDF);
    expect_error(tenant.apply(&form.clone().without("cv")).await, 400, CV_REQUIRED).await;
    let renamed =
        form.clone().without("cv").file("resume", "resume.pdf", Some("application/pdf"), corpus_bytes(CV_PDF));
    expect_error(tenant.apply(&renamed).await, 400, CV_REQUIRED).await;
    let by_url = form.clone().without("cv").text("cv_url", "https://example.com/cv.pdf");
    expect_error(tenant.apply(&by_url).await, 400, CV_REQUIRED).await;
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn an_empty_cv_fails_validation() {
    let tenant = Tenant::start().await;
    expect_error(tenant.apply(&tenant.form(CV_PDF).cv("cv.pdf", Vec::new())).await, 400, CV_EMPTY).await;
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_cv_one_byte_over_10_mib_is_too_large() {
    let tenant = Tenant::start().await;
    let pdf = padded_pdf(MAX_CV_BYTES + 1);
    assert_eq!(pdf.len(), 10_485_761);
    expect_error(tenant.apply(&tenant.form(CV_PDF).cv("big.pdf", pdf)).await, 400, CV_TOO_LARGE).await;
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_cv_one_byte_under_10_mib_is_accepted_whole() {
    let tenant = Tenant::start().await;
    let pdf = padded_pdf(MAX_CV_BYTES - 1);
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF).cv("big.pdf", pdf.clone())).await).await;
    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.cv_size_bytes, 10_485_759);
    assert!(stored_object(&tenant.app, &candidate.cv_object_key) == Some(pdf), "the stored CV differs");
    // The padding is an unreferenced stream: the PDF is valid and its text is read.
    let application = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!(application.scoring_status, "scored", "{:?}", application.cv_text);
}

#[tokio::test]
async fn files_that_are_neither_pdf_nor_docx_are_an_unsupported_format() {
    let tenant = Tenant::start().await;
    let form = tenant.form(CV_PDF);
    for (file_name, bytes) in [
        ("cv.doc", corpus_bytes("bad/doc_legacy-word97.doc")),
        ("cv.odt", corpus_bytes("bad/odt_zip-but-not-docx.odt")),
        ("cv.docx", corpus_bytes("bad/synth_docx_no-document-xml.docx")),
        ("cv.docx", corpus_bytes("bad/synth_zip_plain-not-docx.docx")),
        ("cv.txt", b"Jean Dupont\nSoftware engineer, Python and SQL.\n".to_vec()),
        // The PDF header further than 1024 bytes into the file.
        ("cv.pdf", [vec![b' '; 1025], corpus_bytes(CV_PDF)].concat()),
    ] {
        let response = tenant.apply(&form.clone().cv(file_name, bytes)).await;
        expect_error(response, 400, CV_UNSUPPORTED).await;
    }
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_pdf_sent_as_a_word_file_is_accepted_and_stored_as_pdf() {
    let tenant = Tenant::start().await;
    let form =
        tenant.form(CV_PDF).without("cv").file("cv", "resume.docx", Some("application/msword"), corpus_bytes(CV_PDF));
    let receipt = expect_created(tenant.apply(&form).await).await;
    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.cv_content_type, "application/pdf");
    assert!(candidate.cv_object_key.ends_with(".pdf"), "{}", candidate.cv_object_key);
    assert_eq!(stored_application(tenant.db(), receipt.application_id).await.scoring_status, "scored");
}

#[tokio::test]
async fn unknown_foreign_and_unopen_offers_are_refused() {
    let tenant = Tenant::start().await;
    let other = tenant.app.company("other").await;
    let foreign = tenant.app.offer(&other, crate::fixtures::offer_fields("Their job", "open")).await;
    let closed = tenant.offer("Closed job", "closed").await;
    let draft = tenant.offer("Draft job", "draft").await;
    let paused = tenant.offer("Paused job", "paused").await;
    let form = tenant.form(CV_PDF);
    let to = |offer: Uuid| form.clone().text("job_offer_id", &offer.to_string());

    expect_error(tenant.apply(&to(Uuid::new_v4())).await, 404, OFFER_NOT_FOUND).await;
    expect_error(tenant.apply(&to(foreign.id)).await, 403, OFFER_OTHER_COMPANY).await;
    for offer in [&closed, &draft, &paused] {
        expect_error(tenant.apply(&to(offer.id)).await, 400, OFFER_NOT_OPEN).await;
    }
    // An uppercase id names the same (unknown) offer rather than failing the format check.
    expect_error(
        tenant.apply(&form.clone().text("job_offer_id", &Uuid::new_v4().to_string().to_uppercase())).await,
        404,
        OFFER_NOT_FOUND,
    )
    .await;
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_text_field_over_64_kib_is_too_long() {
    let tenant = Tenant::start().await;
    let form = tenant.form(CV_PDF);
    let over = "x".repeat(MAX_TEXT_BYTES + 1);
    expect_error(tenant.apply(&form.clone().text("cover_letter", &over)).await, 400, "cover_letter is too long").await;
    expect_error(tenant.apply(&form.clone().text("phone", &over)).await, 400, "phone is too long").await;
    expect_error(tenant.apply(&form.clone().text("linkedin_url", &over)).await, 400, "linkedin_url is too long").await;
    // 64 KiB of two-byte characters plus one byte.
    let accents = format!("{}x", "é".repeat(MAX_TEXT_BYTES / 2));
    expect_error(tenant.apply(&form.clone().text("cover_letter", &accents)).await, 400, "cover_letter is too long")
        .await;
    // Ignored fields are not limited: they are not read.
    let ignored = form.clone().text("source", &over).text("cv_url", &over).text("cover_letter", &over);
    expect_error(tenant.apply(&ignored).await, 400, "cover_letter is too long").await;
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn a_cover_letter_of_exactly_64_kib_is_accepted_whole() {
    let tenant = Tenant::start().await;
    let letter = "é".repeat(MAX_TEXT_BYTES / 2);
    assert_eq!(letter.len(), 65_536);
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF).text("cover_letter", &letter)).await).await;
    assert_eq!(stored_application(tenant.db(), receipt.application_id).await.cover_letter, letter);
}

#[tokio::test]
async fn the_first_failing_check_in_the_contracts_order_answers() {
    let tenant = Tenant::start().await;
    let other = tenant.app.company("other").await;
    let foreign = tenant.app.offer(&other, crate::fixtures::offer_fields("Their job", "open")).await;
    let closed = tenant.offer("Closed job", "closed").await;
    let form = tenant.form(CV_PDF);
    let unknown = Uuid::new_v4().to_string();
    let too_long = "x".repeat(MAX_TEXT_BYTES + 1);
    let unsupported = b"plain text, not a CV".to_vec();

    let cases: Vec<(&str, Form, u16, &str)> = vec![
        ("no job_offer_id and no cv", form.clone().without("job_offer_id").without("cv"), 400, OFFER_REQUIRED),
        (
            "no job_offer_id and no names",
            form.clone().without("job_offer_id").without("first_name").without("email"),
            400,
            OFFER_REQUIRED,
        ),
        (
            "malformed job_offer_id and no email",
            form.clone().text("job_offer_id", "abc").without("email"),
            400,
            OFFER_FORMAT,
        ),
        (
            "missing first_name and a malformed email",
            form.clone().without("first_name").text("email", "not-an-email"),
            400,
            PERSON_REQUIRED,
        ),
        ("malformed email and no cv", form.clone().text("email", "nope").without("cv"), 400, EMAIL_INVALID),
        (
            "malformed email and an unknown offer",
            form.clone().text("email", "nope").text("job_offer_id", &unknown),
            400,
            EMAIL_INVALID,
        ),
        ("no cv and an unknown offer", form.clone().without("cv").text("job_offer_id", &unknown), 400, CV_REQUIRED),
        (
            "an empty cv and a closed offer",
            form.clone().cv("cv.pdf", Vec::new()).text("job_offer_id", &closed.id.to_string()),
            400,
            CV_EMPTY,
        ),
        (
            "an unsupported cv and an unknown offer",
            form.clone().cv("cv.txt", unsupported.clone()).text("job_offer_id", &unknown),
            400,
            CV_UNSUPPORTED,
        ),
        (
            "an unsupported cv and a too-long cover letter",
            form.clone().cv("cv.txt", unsupported).text("cover_letter", &too_long),
            400,
            CV_UNSUPPORTED,
        ),
        (
            "an unknown offer and a too-long cover letter",
            form.clone().text("job_offer_id", &unknown).text("cover_letter", &too_long),
            404,
            OFFER_NOT_FOUND,
        ),
        (
            "another company's offer and a too-long cover letter",
            form.clone().text("job_offer_id", &foreign.id.to_string()).text("cover_letter", &too_long),
            403,
            OFFER_OTHER_COMPANY,
        ),
        (
            "a closed offer and a too-long cover letter",
            form.clone().text("job_offer_id", &closed.id.to_string()).text("cover_letter", &too_long),
            400,
            OFFER_NOT_OPEN,
        ),
    ];
    for (case, form, status, message) in cases {
        let response = tenant.apply(&form).await;
        let actual_status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!((actual_status, body["message"].as_str().unwrap_or("")), (status, message), "{case}");
    }
    assert_nothing_written(tenant.db()).await;
}

#[tokio::test]
async fn the_cv_limit_follows_max_cv_bytes() {
    let tenant = Tenant::start_with(&[("MAX_CV_BYTES", "20000")]).await;
    let cv = corpus_bytes(CV_PDF);
    assert!(cv.len() > 20_000, "the standard CV must be over the lowered limit");
    let response = tenant.apply(&tenant.form(CV_PDF)).await;
    expect_error(response, 400, "CV validation failed: CV file too large (max 20000 bytes)").await;
    let exactly = padded_pdf(20_000);
    expect_created(tenant.apply(&tenant.form(CV_PDF).cv("cv.pdf", exactly)).await).await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_before_the_api_key_is_checked() {
    let tenant = Tenant::start_with(&[("CAREER_API_RATE_LIMIT_PER_IP", "1")]).await;
    expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    let response = tenant
        .app
        .client
        .post(tenant.app.url("/api/job_applications"))
        .header(CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 429, "Too many requests. Please retry later.").await;
}

/// CONTRACT §11 "Bad characters": a NUL or another C0 control character in a text field is a 400 naming the
/// field, never a 500 (PostgreSQL refuses NUL in text); line breaks and tabs are allowed in the cover letter.
#[tokio::test]
async fn control_characters_in_a_text_field_answer_400_naming_the_field() {
    let tenant = Tenant::start().await;
    for field in ["first_name", "last_name", "phone", "linkedin_url", "cover_letter"] {
        for bad in ["Jo\0hn", "bell\u{7}", "esc\u{1b}[31m"] {
            let form = tenant.form(CV_PDF).without(field).text(field, bad);
            expect_error(tenant.apply(&form).await, 400, &format!("{field} is invalid")).await;
        }
    }
    for field in ["first_name", "last_name", "phone", "linkedin_url"] {
        let form = tenant.form(CV_PDF).without(field).text(field, "two\nlines");
        expect_error(tenant.apply(&form).await, 400, &format!("{field} is invalid")).await;
    }
    let form = tenant.form(CV_PDF).without("email").text("email", "jean\0@example.com");
    expect_error(tenant.apply(&form).await, 400, "email is invalid").await;
    assert_nothing_written(tenant.db()).await;

    let letter = "Madame, Monsieur,\r\n\n\tJe vous écris…";
    let form = tenant.form(CV_PDF).without("cover_letter").text("cover_letter", letter);
    let receipt = expect_created(tenant.apply(&form).await).await;
    assert_eq!(stored_application(tenant.db(), receipt.application_id).await.cover_letter, letter);
}
