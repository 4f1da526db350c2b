//! CONTRACT §6 "Normalisation" and "Dedup before cost": the same person (email and names lowercased, accents
//! stripped) applying again to the same offer gets the existing application, without a second scoring, and
//! their new CV replaces the stored one; concurrent identical submissions make one application.

use std::time::Duration;

use futures_util::future::join_all;

use crate::fixtures::{
    CV_DOCX, CV_PDF, Counts, DOCX_TYPE, FakeAnswer, FakeOpenAi, Tenant, corpus_bytes, counts, eventually,
    expect_created, expect_existing, steps, stored_application, stored_candidate, stored_object,
};

#[tokio::test]
async fn the_same_person_again_gets_the_existing_application_unscored_and_their_cv_replaced() {
    let fake = FakeOpenAi::start(FakeAnswer::Rating(72)).await;
    let tenant = Tenant::start_with(&fake.settings()).await;
    let first_form = tenant.form(CV_PDF).person("Élodie", "Martin", "elodie.martin@example.com");
    let first = expect_created(tenant.apply(&first_form).await).await;
    assert_eq!(fake.calls(), 1);
    let old_key = stored_candidate(tenant.db(), first.candidate_id).await.cv_object_key;
    assert!(stored_object(&tenant.app, &old_key).is_some());

    // The same person, written differently, with a new CV (a DOCX now).
    let again = tenant.form(CV_DOCX).person(" elodie ", "MARTIN", "  Elodie.MARTIN@Example.com ");
    let existing = expect_existing(tenant.apply(&again).await).await;
    assert_eq!(existing, first, "the application as it was");
    assert_eq!(fake.calls(), 1, "a duplicate is answered before any scoring");

    let candidate = stored_candidate(tenant.db(), first.candidate_id).await;
    assert_ne!(candidate.cv_object_key, old_key);
    assert_eq!(candidate.cv_content_type, DOCX_TYPE);
    assert!(
        stored_object(&tenant.app, &candidate.cv_object_key) == Some(corpus_bytes(CV_DOCX)),
        "the new CV is stored"
    );
    assert!(stored_object(&tenant.app, &old_key).is_none(), "the replaced CV {old_key} is still in storage");
    let pending_deletions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM storage_deletions").fetch_one(tenant.db()).await.unwrap();
    assert_eq!(pending_deletions, 0);

    assert_eq!(counts(tenant.db()).await, Counts { candidates: 1, applications: 1, steps: 1, emails: 1 });
    assert_eq!(steps(tenant.db(), first.application_id).await, ["awaiting_advance"]);
    assert_eq!(stored_application(tenant.db(), first.application_id).await.rating, Some(72));

    // The answer is the application as it is now.
    sqlx::query("UPDATE job_applications SET status = 'in_progress' WHERE id = $1")
        .bind(first.application_id)
        .execute(tenant.db())
        .await
        .unwrap();
    let now = expect_existing(tenant.apply(&first_form).await).await;
    assert_eq!((now.application_id, now.status.as_str()), (first.application_id, "in_progress"));
    assert_eq!(stored_application(tenant.db(), first.application_id).await.status, "in_progress", "unchanged");
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_different_first_name_is_a_different_candidate() {
    let tenant = Tenant::start().await;
    let jean = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    let jeanne = expect_created(tenant.apply(&tenant.form(CV_PDF).text("first_name", "Jeanne")).await).await;
    assert_ne!(jean.candidate_id, jeanne.candidate_id);
    assert_ne!(jean.application_id, jeanne.application_id);
}

#[tokio::test]
async fn the_same_person_applying_to_a_second_offer_is_the_same_candidate() {
    let tenant = Tenant::start().await;
    let second_offer = tenant.offer("Data Engineer", "open").await;
    let first = expect_created(tenant.apply(&tenant.form(CV_PDF)).await).await;
    let second = expect_created(
        tenant
            .apply(
                &tenant
                    .form(CV_DOCX)
                    .text("job_offer_id", &second_offer.id.to_string())
                    .text("email", "JEAN.DUPONT@example.com"),
            )
            .await,
    )
    .await;
    assert_eq!(second.candidate_id, first.candidate_id);
    assert_ne!(second.application_id, first.application_id);
    assert_eq!(second.status, "new");
    assert_eq!(counts(tenant.db()).await, Counts { candidates: 1, applications: 2, steps: 2, emails: 2 });
    assert_eq!(stored_application(tenant.db(), second.application_id).await.job_offer_id, second_offer.id);
    // The candidate's CV is now the latest one.
    let candidate = stored_candidate(tenant.db(), first.candidate_id).await;
    assert_eq!(candidate.cv_content_type, DOCX_TYPE);
}

/// Sends the same application 20 times at once (the scorer answering slowly, so that the first request is
/// still scoring when the others arrive); checks that one application exists and that every answer names it.
async fn twenty_identical_posts_at_once() -> (Tenant, FakeOpenAi) {
    let fake = FakeOpenAi::start_slow(FakeAnswer::Rating(64), Duration::from_millis(500)).await;
    let mut settings = fake.settings().to_vec();
    settings.push(("CAREER_API_RATE_LIMIT_PER_IP", "1000"));
    let tenant = Tenant::start_with(&settings).await;
    let form = tenant.form(CV_PDF);

    let answers = join_all((0..20).map(|_| async {
        let response = tenant.apply(&form).await;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body)
    }))
    .await;

    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let existing = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!((created, existing), (1, 19), "{answers:?}");
    let application_ids: Vec<&str> =
        answers.iter().map(|(_, body)| body["data"]["application_id"].as_str().unwrap_or("none")).collect();
    assert!(application_ids.iter().all(|id| *id == application_ids[0]), "{application_ids:?}");
    for (status, body) in &answers {
        if *status == 200 {
            assert_eq!(body["message"], "Application already exists");
        }
    }
    assert_eq!(counts(tenant.db()).await, Counts { candidates: 1, applications: 1, steps: 1, emails: 1 });
    assert!(fake.calls() >= 1);
    eprintln!("20 identical POSTs: the scorer was called {} time(s)", fake.calls());
    (tenant, fake)
}

#[tokio::test]
async fn twenty_identical_concurrent_posts_make_one_application_that_every_answer_names() {
    let (tenant, _fake) = twenty_identical_posts_at_once().await;
    // Every duplicate replaced the CV; exactly one object is left, the candidate's.
    let candidate_key: String =
        sqlx::query_scalar("SELECT cv_object_key FROM candidates").fetch_one(tenant.db()).await.unwrap();
    let folder = tenant.app.files().join("storage").join(format!("cvs/{}", tenant.company.id));
    let objects: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| format!("cvs/{}/{}", tenant.company.id, entry.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(objects, [candidate_key], "replaced CV objects are deleted");
}

#[tokio::test]
async fn twenty_identical_concurrent_posts_call_the_scorer_exactly_once() {
    let (_tenant, fake) = twenty_identical_posts_at_once().await;
    assert_eq!(fake.calls(), 1, "the scorer is called once for one application");
}

/// Waits until a backend of the test database waits on a lock while running a statement starting with `sql`.
async fn backend_waiting_on(db: &sqlx::PgPool, sql: &str) {
    eventually(Duration::from_secs(30), &format!("a backend blocked in {sql}"), || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1 || '%'",
        )
        .bind(sql)
        .fetch_one(db)
        .await
        .unwrap();
        (waiting > 0).then_some(())
    })
    .await;
}

/// The race behind the flaky test above, made deterministic: request A holds the identity's lock while it is
/// scored (the scorer answers slowly) and commits; duplicate B arrives meanwhile and waits on that lock. When
/// A commits, B sees A's application and answers 200 without paying for extraction or scoring.
#[tokio::test]
async fn a_duplicate_arriving_while_the_first_request_commits_is_not_scored_again() {
    let fake = FakeOpenAi::start_slow(FakeAnswer::Rating(64), Duration::from_millis(300)).await;
    let tenant = std::sync::Arc::new(Tenant::start_with(&fake.settings()).await);
    let form = tenant.form(CV_PDF);

    let first = tokio::spawn({
        let (tenant, form) = (tenant.clone(), form.clone());
        async move { tenant.apply(&form).await.status().as_u16() }
    });
    eventually(Duration::from_secs(30), "request A's identity lock", || async {
        let locks: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()",
        )
        .fetch_one(tenant.db())
        .await
        .unwrap();
        (locks == 1).then_some(())
    })
    .await;

    let second = tokio::spawn({
        let (tenant, form) = (tenant.clone(), form.clone());
        async move { tenant.apply(&form).await.status().as_u16() }
    });
    backend_waiting_on(tenant.db(), "SELECT pg_advisory_xact_lock").await;

    assert_eq!(first.await.unwrap(), 201);
    assert_eq!(second.await.unwrap(), 200);
    assert_eq!(counts(tenant.db()).await.applications, 1);
    assert_eq!(fake.calls(), 1, "the duplicate was scored: dedup did not come before cost");
}

#[tokio::test]
async fn the_same_new_person_applying_to_ten_offers_at_once_is_one_candidate_with_one_cv() {
    let tenant = Tenant::start_with(&[("CAREER_API_RATE_LIMIT_PER_IP", "1000")]).await;
    let mut offers = Vec::new();
    for index in 0..10 {
        offers.push(tenant.offer(&format!("Engineer {index}"), "open").await);
    }
    let receipts = join_all(offers.iter().map(|offer| async {
        expect_created(tenant.apply(&tenant.form(CV_PDF).text("job_offer_id", &offer.id.to_string())).await).await
    }))
    .await;
    let candidate_id = receipts[0].candidate_id;
    assert!(receipts.iter().all(|r| r.candidate_id == candidate_id), "{receipts:?}");
    assert_eq!(counts(tenant.db()).await, Counts { candidates: 1, applications: 10, steps: 10, emails: 10 });

    // Each application's CV replaced the previous one: only the candidate's current object is left.
    let key = stored_candidate(tenant.db(), candidate_id).await.cv_object_key;
    assert!(stored_object(&tenant.app, &key) == Some(corpus_bytes(CV_PDF)));
    let folder = tenant.app.files().join("storage").join(format!("cvs/{}", tenant.company.id));
    let objects = std::fs::read_dir(&folder).unwrap().count();
    assert_eq!(objects, 1, "replaced CV objects are deleted");
}

#[tokio::test]
async fn a_known_candidate_gets_the_contact_details_sent_again_and_keeps_the_ones_left_out() {
    let tenant = Tenant::start().await;
    let first =
        tenant.form(CV_PDF).text("phone", "+33 1 23 45 67 89").text("linkedin_url", "https://linkedin.com/in/jd");
    let receipt = expect_created(tenant.apply(&first).await).await;
    let again = tenant.form(CV_PDF).text("phone", "+33 6 00 00 00 00");
    expect_existing(tenant.apply(&again).await).await;
    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(candidate.phone.as_deref(), Some("+33 6 00 00 00 00"));
    assert_eq!(candidate.linkedin_url.as_deref(), Some("https://linkedin.com/in/jd"), "kept when not sent");
}

#[tokio::test]
async fn a_known_candidate_keeps_the_names_and_email_as_first_written() {
    let tenant = Tenant::start().await;
    let first = tenant.form(CV_PDF).person("Élodie", "Müller", "Elodie.Muller@example.com");
    let receipt = expect_created(tenant.apply(&first).await).await;
    let again = tenant.form(CV_PDF).person("ELODIE", "muller", "elodie.muller@EXAMPLE.com");
    expect_existing(tenant.apply(&again).await).await;
    let candidate = stored_candidate(tenant.db(), receipt.candidate_id).await;
    assert_eq!(
        (candidate.first_name.as_str(), candidate.last_name.as_str(), candidate.email.as_str()),
        ("Élodie", "Müller", "elodie.muller@example.com")
    );
}
