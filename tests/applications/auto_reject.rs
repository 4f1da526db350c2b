//! CONTRACT §6 "Auto-reject": a scored application rated below the company's threshold is created `rejected`
//! with a `rejected` first step and a rejection email scheduled after `REJECTION_EMAIL_DELAY`, and no
//! confirmation; at or above the threshold, or without one, it is `new`.

use chrono::{Duration, Utc};

use crate::fixtures::{
    COMPANY_NAME, CV_PDF, OFFER_TITLE, Tenant, delivered_emails, expect_created, outbox, steps, stored_application,
};

/// The builtin scorer's rating of the standard CV for the tenant's offer, learnt from a first application
/// (without a threshold) by someone else. The builtin scorer is deterministic.
async fn rating_of_standard_cv(tenant: &Tenant) -> i16 {
    let probe = tenant.form(CV_PDF).person("Probe", "Person", "probe@example.com");
    let receipt = expect_created(tenant.apply(&probe).await).await;
    assert_eq!(receipt.status, "new", "no threshold: never rejected");
    let application = stored_application(tenant.db(), receipt.application_id).await;
    let rating = application.rating.expect("the standard CV is scored");
    assert!((1..=99).contains(&rating), "the test needs a rating strictly between 0 and 100, got {rating}");
    rating
}

#[tokio::test]
async fn a_rating_below_the_threshold_is_rejected_at_creation_with_a_delayed_rejection_email() {
    let tenant = Tenant::start_with(&[("REJECTION_EMAIL_DELAY", "1h")]).await;
    let rating = rating_of_standard_cv(&tenant).await;
    tenant.set_auto_reject_threshold(Some(rating + 1)).await;

    let before = Utc::now();
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    let after = Utc::now();
    assert_eq!(receipt.status, "rejected");

    let application = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!((application.status.as_str(), application.rating), ("rejected", Some(rating)));
    assert_eq!(steps(tenant.db(), receipt.application_id).await, ["rejected"]);
    let emails = outbox(tenant.db(), receipt.application_id).await;
    assert_eq!(emails.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["rejection"], "no confirmation");
    let send_after = emails[0].send_after;
    assert!(
        send_after >= before + Duration::hours(1) - Duration::seconds(1)
            && send_after <= after + Duration::hours(1) + Duration::seconds(1),
        "send_after {send_after} is not an hour after {before}..{after}"
    );
    assert_eq!(emails[0].sent_at, None);
    assert_eq!(emails[0].recipient, "jean.dupont@example.com");

    // GET tells the same story.
    let body: serde_json::Value = tenant
        .app
        .get(&format!("/api/job_applications/{}", receipt.application_id), &tenant.key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["status"], "rejected");
}

#[tokio::test]
async fn a_rating_equal_to_the_threshold_or_no_threshold_leaves_the_application_new() {
    let tenant = Tenant::start().await;
    let rating = rating_of_standard_cv(&tenant).await;

    tenant.set_auto_reject_threshold(Some(rating)).await;
    let at_threshold = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    assert_eq!(at_threshold.status, "new");
    assert_eq!(steps(tenant.db(), at_threshold.application_id).await, ["awaiting_advance"]);
    let kinds: Vec<String> =
        outbox(tenant.db(), at_threshold.application_id).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["confirmation"]);

    tenant.set_auto_reject_threshold(Some(0)).await;
    let below = tenant.form(CV_PDF).person("Ana", "Lima", "ana.lima@example.com");
    assert_eq!(expect_created(tenant.apply(&below).await).await.status, "new");

    tenant.set_auto_reject_threshold(None).await;
    let none = tenant.form(CV_PDF).person("Bo", "Chen", "bo.chen@example.com");
    assert_eq!(expect_created(tenant.apply(&none).await).await.status, "new");
}

#[tokio::test]
async fn after_a_short_rejection_delay_the_rejection_email_is_delivered() {
    let tenant = Tenant::start_with(&[("REJECTION_EMAIL_DELAY", "1s")]).await;
    tenant.set_auto_reject_threshold(Some(100)).await;
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    let rating = stored_application(tenant.db(), receipt.application_id).await.rating;
    assert!(rating.is_some_and(|r| r < 100), "{rating:?}");
    assert_eq!(receipt.status, "rejected");

    let delivered = delivered_emails(&tenant.app, 1).await;
    assert_eq!(delivered.len(), 1, "only the rejection: {delivered:?}");
    let email = &delivered[0];
    assert!(email.to.contains("jean.dupont@example.com"), "{email:?}");
    assert!(email.subject.contains(OFFER_TITLE) && email.subject.contains(COMPANY_NAME), "{email:?}");
    assert!(!email.subject.to_lowercase().contains("reçue"), "a confirmation was sent: {email:?}");
    let emails = outbox(tenant.db(), receipt.application_id).await;
    assert!(emails[0].sent_at.is_some(), "{emails:?}");
}
