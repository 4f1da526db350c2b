//! CONTRACT §6 "Extraction": a CV whose text cannot be extracted (encrypted, broken for the parser, or an
//! image without text) is still accepted, unscored, with its file kept and the candidate emailed.

use crate::fixtures::{
    Counts, Tenant, corpus_bytes, counts, expect_created, outbox, steps, stored_application, stored_candidate,
    stored_object,
};

/// Applies with the corpus file `cv` and checks that the application was accepted unscored, with everything
/// else in place.
async fn accepted_unscored(tenant: &Tenant, cv: &str, person: &str) {
    let form = tenant.form("cv/rendercv_classic_John_Doe.pdf").person("Ana", person, &format!("{person}@example.com"));
    let receipt = expect_created(tenant.apply(&form.cv("cv.pdf", corpus_bytes(cv))).await).await;
    assert_eq!(receipt.status, "new", "{cv}");

    let application = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!(application.scoring_status, "unscorable", "{cv}: {:?}", application.cv_text);
    assert_eq!((application.rating, application.next_scoring_at), (None, None), "{cv}");
    assert_eq!(steps(tenant.db(), receipt.application_id).await, ["awaiting_advance"], "{cv}");
    let kinds: Vec<String> = outbox(tenant.db(), receipt.application_id).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["confirmation"], "{cv}");

    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.cv_content_type, "application/pdf");
    assert!(stored_object(&tenant.app, &candidate.cv_object_key) == Some(corpus_bytes(cv)), "{cv}: the file is kept");
}

#[tokio::test]
async fn a_pdf_the_parser_cannot_read_is_accepted_unscored() {
    let tenant = Tenant::start().await;
    accepted_unscored(&tenant, "bad/synth_pdf_truncated-half.pdf", "broken").await;
    accepted_unscored(&tenant, "bad/pdf_enc_user-password_openpassword.pdf", "encrypted").await;
    assert_eq!(counts(tenant.db()).await, Counts { candidates: 2, applications: 2, steps: 2, emails: 2 });
}

#[tokio::test]
async fn a_pdf_without_text_is_accepted_unscored() {
    let tenant = Tenant::start().await;
    accepted_unscored(&tenant, "pdf/pdfjs_empty.pdf", "blank").await;
    accepted_unscored(&tenant, "pdf/pypdf_image-only-ccitt.pdf", "scanned").await;
}

#[tokio::test]
async fn an_unscored_application_is_never_rejected_at_creation() {
    let tenant = Tenant::start().await;
    tenant.set_auto_reject_threshold(Some(100)).await;
    accepted_unscored(&tenant, "pdf/pdfjs_empty.pdf", "blank").await;
}
