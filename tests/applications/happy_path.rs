//! CONTRACT §6, the nominal case: a real PDF or DOCX CV becomes a candidate, a scored application, its first
//! step, a stored CV object and a confirmation email naming the offer and the company.

use std::time::Duration;

use chrono::Utc;

use crate::fixtures::{
    COMPANY_NAME, CV_DOCX, CV_PDF, Counts, DOCX_TYPE, OFFER_TITLE, PDF_TYPE, Tenant, corpus_bytes, counts,
    delivered_emails, eventually, expect_created, outbox, steps, stored_application, stored_candidate, stored_object,
};

#[tokio::test]
async fn a_pdf_cv_creates_a_scored_application_with_its_candidate_step_object_and_confirmation_email() {
    let tenant = Tenant::start().await;
    let before = Utc::now();
    let form = tenant
        .form(CV_PDF)
        .person("  Jean ", " Dupont  ", "  Jean.Dupont@Example.COM ")
        .text("phone", "+33123456789")
        .text("linkedin_url", "https://linkedin.com/in/jeandupont")
        .text("cover_letter", "Je suis motivé par ce poste et disponible rapidement.")
        .cv("Jean_Dupont_CV_final.pdf", corpus_bytes(CV_PDF));
    let response = tenant.apply_with(&form, |r| r.header("Origin", "https://careers.acme.example")).await;
    let receipt = expect_created(response).await;

    assert_eq!(receipt.status, "new");
    let now = Utc::now();
    assert!(
        receipt.created_at >= before - chrono::Duration::seconds(1) && receipt.created_at <= now,
        "created_at {} is not now",
        receipt.created_at
    );

    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.company_id, tenant.company.id);
    assert_eq!(candidate.email, "jean.dupont@example.com", "trimmed and lowercased");
    assert_eq!((candidate.first_name.as_str(), candidate.last_name.as_str()), ("Jean", "Dupont"), "trimmed");
    assert_eq!(candidate.phone.as_deref(), Some("+33123456789"));
    assert_eq!(candidate.linkedin_url.as_deref(), Some("https://linkedin.com/in/jeandupont"));

    let application = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!(application.candidate_id, receipt.candidate_id);
    assert_eq!(application.job_offer_id, tenant.offer.id);
    assert_eq!(application.company_id, tenant.company.id);
    assert_eq!(application.status, "new");
    assert_eq!(application.source, "careers.acme.example");
    assert_eq!(application.cover_letter, "Je suis motivé par ce poste et disponible rapidement.");
    assert_eq!(application.scoring_status, "scored");
    let rating = application.rating.expect("a rating for a real CV");
    assert!((0..=100).contains(&rating), "{rating}");
    assert!(application.ai_resume_summary.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(application.first_impression_text.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(application.cv_text.as_deref().is_some_and(|text| text.contains("John Doe")), "the CV's text is kept");
    assert_eq!(application.created_at.timestamp(), receipt.created_at.timestamp());

    assert_eq!(steps(tenant.db(), receipt.application_id).await, ["awaiting_advance"]);
    let emails = outbox(tenant.db(), receipt.application_id).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!((emails[0].kind.as_str(), emails[0].recipient.as_str()), ("confirmation", "jean.dupont@example.com"));
    assert!(emails[0].subject.contains(OFFER_TITLE), "{emails:?}");
    assert_eq!(counts(tenant.db()).await, Counts { candidates: 1, applications: 1, steps: 1, emails: 1 });

    // The CV object: the bytes sent, under a key the server made (CONTRACT §6 "Storage").
    let key = &candidate.cv_object_key;
    assert!(!key.contains("Jean_Dupont"), "the client's file name leaked into the key {key}");
    assert!(key.starts_with(&format!("cvs/{}/", tenant.company.id)) && key.ends_with(".pdf"), "{key}");
    assert_eq!(candidate.cv_content_type, PDF_TYPE);
    let sent = corpus_bytes(CV_PDF);
    assert_eq!(candidate.cv_size_bytes, i64::try_from(sent.len()).unwrap());
    assert!(stored_object(&tenant.app, key) == Some(sent), "the stored object differs from the CV sent");

    // The upload spooled while the request was in flight is gone.
    let spool = tenant.app.files().join("spool");
    eventually(Duration::from_secs(10), "an empty spool folder", || {
        let spool = spool.clone();
        async move { std::fs::read_dir(&spool).map(|entries| entries.count() == 0).unwrap_or(true).then_some(()) }
    })
    .await;

    // The worker delivers the confirmation, naming the offer and the company.
    let delivered = delivered_emails(&tenant.app, 1).await;
    assert_eq!(delivered.len(), 1);
    let email = &delivered[0];
    assert!(email.to.contains("jean.dupont@example.com"), "{email:?}");
    assert!(email.subject.contains(OFFER_TITLE) && email.subject.contains(COMPANY_NAME), "{email:?}");
    for body in [email.text.as_deref(), email.html.as_deref()] {
        let body = body.expect("a text and an HTML body");
        assert!(body.contains(OFFER_TITLE) && body.contains(COMPANY_NAME) && body.contains("Jean"), "{body}");
    }
}

#[tokio::test]
async fn a_docx_cv_is_scored_and_stored_as_docx_with_an_empty_cover_letter_when_omitted() {
    let tenant = Tenant::start().await;
    let receipt = expect_created(tenant.apply(&tenant.form(CV_DOCX)).await).await;
    assert_eq!(receipt.status, "new");

    let application = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!(application.cover_letter, "");
    assert_eq!(application.source, "career_site");
    assert_eq!(application.scoring_status, "scored");
    assert!(application.rating.is_some());

    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.cv_content_type, DOCX_TYPE);
    assert!(candidate.cv_object_key.ends_with(".docx"), "{}", candidate.cv_object_key);
    assert_eq!(candidate.phone, None);
    assert!(stored_object(&tenant.app, &candidate.cv_object_key) == Some(corpus_bytes(CV_DOCX)));

    assert_eq!(steps(tenant.db(), receipt.application_id).await, ["awaiting_advance"]);
    let delivered = delivered_emails(&tenant.app, 1).await;
    assert!(delivered[0].subject.contains(OFFER_TITLE), "{:?}", delivered[0]);
}

#[tokio::test]
async fn the_cv_part_may_come_before_the_text_fields() {
    let tenant = Tenant::start().await;
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF).cv_first()).await).await;
    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.email, "jean.dupont@example.com");
    assert!(stored_object(&tenant.app, &candidate.cv_object_key) == Some(corpus_bytes(CV_PDF)));
}

#[tokio::test]
async fn an_active_offer_takes_applications() {
    let tenant = Tenant::start().await;
    let active = tenant.offer("Data Engineer", "active").await;
    let receipt =
        expect_created(tenant.apply(&tenant.form(CV_PDF).text("job_offer_id", &active.id.to_string())).await).await;
    assert_eq!(stored_application(tenant.db(), receipt.application_id).await.job_offer_id, active.id);
}
