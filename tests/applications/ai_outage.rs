//! CONTRACT §6 "Scoring": no candidate is lost to an AI outage. The application is created unscored, and the
//! background worker scores it once the AI answers again, applying auto-reject then.

use chrono::{Duration, Utc};

use crate::fixtures::{
    CV_PDF, FakeAnswer, FakeOpenAi, Tenant, WORKER_BOUND, eventually, expect_created, outbox, steps, stored_application,
};

/// Applies while the fake answers 500; checks the application is waiting to be scored.
async fn apply_during_outage(tenant: &Tenant, fake: &FakeOpenAi) -> uuid::Uuid {
    let receipt = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    assert_eq!(receipt.status, "new");
    assert!(fake.calls() >= 2, "the scorer retries: {} call(s)", fake.calls());
    let application = stored_application(tenant.db(), receipt.application_id).await;
    assert_eq!((application.scoring_status.as_str(), application.rating), ("pending", None));
    assert!(application.next_scoring_at.is_some_and(|at| at > Utc::now()), "a later attempt is scheduled");
    assert!(application.cv_text.is_some(), "the text waits for the scorer");
    assert_eq!(steps(tenant.db(), receipt.application_id).await, ["awaiting_advance"]);
    let kinds: Vec<String> = outbox(tenant.db(), receipt.application_id).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["confirmation"]);
    receipt.application_id
}

/// Lets the fake answer `rating`, makes the application due, and waits for the worker to score it.
async fn recover_and_rescore(tenant: &Tenant, fake: &FakeOpenAi, id: uuid::Uuid, rating: u8) {
    fake.answer(FakeAnswer::Rating(rating));
    sqlx::query("UPDATE job_applications SET next_scoring_at = now() WHERE id = $1")
        .bind(id)
        .execute(tenant.db())
        .await
        .unwrap();
    eventually(WORKER_BOUND, "the worker scores the application", || async {
        let application = stored_application(tenant.db(), id).await;
        (application.scoring_status == "scored").then_some(())
    })
    .await;
}

#[tokio::test]
async fn during_an_ai_outage_the_application_is_created_and_scored_once_the_ai_recovers() {
    let fake = FakeOpenAi::start(FakeAnswer::ServerError).await;
    let tenant = Tenant::start_with(&fake.settings()).await;
    let id = apply_during_outage(&tenant, &fake).await;

    recover_and_rescore(&tenant, &fake, id, 40).await;
    let application = stored_application(tenant.db(), id).await;
    assert_eq!((application.status.as_str(), application.rating), ("new", Some(40)), "no threshold");
    assert_eq!(application.next_scoring_at, None);
    assert_eq!(application.ai_resume_summary.as_deref(), Some("Software engineer with Python and SQL."));
    assert_eq!(steps(tenant.db(), id).await, ["awaiting_advance"]);
    assert_eq!(outbox(tenant.db(), id).await.len(), 1);
}

#[tokio::test]
async fn a_late_score_below_the_threshold_rejects_the_application() {
    let fake = FakeOpenAi::start(FakeAnswer::ServerError).await;
    let mut settings = fake.settings().to_vec();
    settings.push(("REJECTION_EMAIL_DELAY", "1h"));
    let tenant = Tenant::start_with(&settings).await;
    tenant.set_auto_reject_threshold(Some(50)).await;
    let id = apply_during_outage(&tenant, &fake).await;

    let before = Utc::now();
    recover_and_rescore(&tenant, &fake, id, 40).await;
    let after = Utc::now();
    let application = stored_application(tenant.db(), id).await;
    assert_eq!((application.status.as_str(), application.rating), ("rejected", Some(40)));
    assert_eq!(steps(tenant.db(), id).await, ["awaiting_advance", "rejected"]);
    let emails = outbox(tenant.db(), id).await;
    let rejection = emails.iter().find(|e| e.kind == "rejection").expect("a rejection email is scheduled");
    assert!(
        rejection.send_after >= before + Duration::hours(1) - Duration::seconds(1)
            && rejection.send_after <= after + Duration::hours(1) + Duration::seconds(1),
        "{rejection:?}"
    );
    let body: serde_json::Value =
        tenant.app.get(&format!("/api/job_applications/{id}"), &tenant.key).await.json().await.unwrap();
    assert_eq!(body["data"]["status"], "rejected");
}

#[tokio::test]
async fn a_late_score_at_or_above_the_threshold_leaves_the_application_new() {
    let fake = FakeOpenAi::start(FakeAnswer::ServerError).await;
    let tenant = Tenant::start_with(&fake.settings()).await;
    tenant.set_auto_reject_threshold(Some(50)).await;
    let id = apply_during_outage(&tenant, &fake).await;
    recover_and_rescore(&tenant, &fake, id, 50).await;
    let application = stored_application(tenant.db(), id).await;
    assert_eq!((application.status.as_str(), application.rating), ("new", Some(50)));
    assert_eq!(steps(tenant.db(), id).await, ["awaiting_advance"]);
    let kinds: Vec<String> = outbox(tenant.db(), id).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["confirmation"]);
}

#[tokio::test]
async fn a_late_score_does_not_reject_an_application_a_recruiter_already_moved_on() {
    let fake = FakeOpenAi::start(FakeAnswer::ServerError).await;
    let tenant = Tenant::start_with(&fake.settings()).await;
    tenant.set_auto_reject_threshold(Some(50)).await;
    let id = apply_during_outage(&tenant, &fake).await;
    sqlx::query("UPDATE job_applications SET status = 'in_progress' WHERE id = $1")
        .bind(id)
        .execute(tenant.db())
        .await
        .unwrap();
    recover_and_rescore(&tenant, &fake, id, 10).await;
    let application = stored_application(tenant.db(), id).await;
    assert_eq!((application.status.as_str(), application.rating), ("in_progress", Some(10)));
    assert_eq!(steps(tenant.db(), id).await, ["awaiting_advance"]);
    assert_eq!(outbox(tenant.db(), id).await.len(), 1, "no rejection email");
}
