//! CONTRACT §11 "Email", through the real server: an application posted over HTTP queues its confirmation,
//! the server's own worker delivers it to a real SMTP server on loopback (aiosmtpd), and what reached that
//! server is counted.
//! - PostgreSQL going away while the SMTP server accepts the email: recorded when the database is back, sent once
//!   (a throwaway cluster started by the test, never the shared server);
//! - an SMTP server slower to answer DATA than the delivery lease, with a second instance ready to take the
//!   row over: sent once;
//! - addresses refused for good (by the mail library, by the server with a 5xx) end `failed` after
//!   `MAIL_MAX_ATTEMPTS` tries, and `talqo-server outbox failed` lists them.

#[path = "common/mod.rs"]
mod common;
#[path = "support/pg_cluster.rs"]
mod pg_cluster;
#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use common::{TestApp, corpus_dir, open_offer, test_settings};
use pg_cluster::PgCluster;
use smtp_sink::{SinkBehaviour, SmtpSink};

const CV_PDF: &str = "cv/rendercv_classic_John_Doe.pdf";
/// How long the worker (every 100 ms in tests) may take to get to an email.
const WORKER_BOUND: Duration = Duration::from_secs(30);

/// A company with a key and an open offer on `app`: (API key, offer id).
async fn tenant(app: &TestApp) -> (String, Uuid) {
    let company = app.company("acme").await;
    let (_, key) = app.api_key(&company).await;
    let offer = app.offer(&company, open_offer("Développeuse Rust")).await;
    (key, offer.id)
}

/// Applies over HTTP as `email`; the new application's id.
async fn apply(app: &TestApp, key: &str, offer_id: Uuid, email: &str) -> Uuid {
    let cv = std::fs::read(corpus_dir().join(CV_PDF)).expect("the corpus CV");
    let form = reqwest::multipart::Form::new()
        .text("job_offer_id", offer_id.to_string())
        .text("first_name", "Zoé")
        .text("last_name", "Durand")
        .text("email", email.to_owned())
        .part(
            "cv",
            reqwest::multipart::Part::bytes(cv).file_name("resume.pdf").mime_str("application/pdf").expect("a type"),
        );
    let response = app
        .client
        .post(app.url("/api/job_applications"))
        .header("X-API-Key", key)
        .multipart(form)
        .send()
        .await
        .expect("POST answered");
    assert_eq!(response.status(), 201, "application by {email}");
    let body: Value = response.json().await.expect("a JSON body");
    body["data"]["application_id"].as_str().and_then(|id| id.parse().ok()).expect("an application id")
}

#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    id: Uuid,
    attempts: i32,
    last_error: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

/// The application's confirmation row; `None` while the database does not answer.
async fn confirmation(db: &PgPool, application_id: Uuid) -> Option<OutboxRow> {
    sqlx::query_as(
        "SELECT id, attempts, last_error, sent_at, failed_at FROM email_outbox \
         WHERE application_id = $1 AND kind = 'confirmation'",
    )
    .bind(application_id)
    .fetch_optional(db)
    .await
    .ok()
    .flatten()
}

/// Polls `probe` every 100 ms until it gives a value; panics naming `what` after `bound`.
async fn eventually<T, Fut: Future<Output = Option<T>>>(
    bound: Duration,
    what: &str,
    mut probe: impl FnMut() -> Fut,
) -> T {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "not within {bound:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn database_name(app_settings_url: &str) -> String {
    app_settings_url.rsplit('/').next().expect("a database name").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_accepted_while_postgres_is_away_is_recorded_when_it_is_back_and_sent_once() {
    const LEASE: Duration = Duration::from_secs(12);
    // Declared first, dropped last: the server stops before its database does.
    let cluster = PgCluster::start_new();
    let mut sink = SmtpSink::start(SinkBehaviour { hold_data: true, ..SinkBehaviour::default() }).await;
    let mut settings = test_settings(&[("MAIL_URL", &sink.url()), ("MAIL_LEASE", "12s"), ("MAIL_SMTP_TIMEOUT", "60s")]);
    settings.database_url = format!("{}/{}", cluster.url(), database_name(&settings.database_url));
    let app = TestApp::spawn_with(settings).await;
    let (key, offer_id) = tenant(&app).await;

    let application_id = apply(&app, &key, offer_id, "zoe.durand@example.com").await;
    // The SMTP server has the whole message and has not answered yet: PostgreSQL goes away now.
    sink.wait_held(1, WORKER_BOUND).await;
    cluster.stop();
    sink.release().await;
    // The server accepted the email while the worker cannot record it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(confirmation(&app.db, application_id).await.is_none(), "the database is down");
    cluster.start();

    let row = eventually(WORKER_BOUND, "the sent email recorded once PostgreSQL is back", || async {
        confirmation(&app.db, application_id).await.filter(|row| row.sent_at.is_some())
    })
    .await;
    // Past a whole lease: an email left unrecorded would have been taken again and sent a second time by now.
    tokio::time::sleep(LEASE + Duration::from_secs(3)).await;
    assert_eq!(sink.held(), 1, "the SMTP server received the email once");
    assert_eq!(sink.accepted().len(), 1);
    assert_eq!(sink.accepted_message_ids(), [format!("<{}@localhost>", row.id)]);
    let row = confirmation(&app.db, application_id).await.expect("the row");
    assert!(row.sent_at.is_some() && row.failed_at.is_none(), "{row:?}");
    assert_eq!(row.attempts, 0, "{row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_slower_than_the_lease_gets_the_email_once_though_another_instance_waits() {
    const LEASE: Duration = Duration::from_secs(3);
    let sink =
        SmtpSink::start(SinkBehaviour { data_delay: Some(Duration::from_secs(8)), ..SinkBehaviour::default() }).await;
    let settings = test_settings(&[("MAIL_URL", &sink.url()), ("MAIL_LEASE", "3s"), ("MAIL_SMTP_TIMEOUT", "60s")]);
    let first = TestApp::spawn_with(settings.clone()).await;
    // A second instance on the same database, whose worker would take over any row whose lease ran out.
    let _second = TestApp::spawn_with(settings).await;
    let (key, offer_id) = tenant(&first).await;

    let application_id = apply(&first, &key, offer_id, "zoe.durand@example.com").await;
    let row = eventually(WORKER_BOUND, "the email sent and recorded", || async {
        confirmation(&first.db, application_id).await.filter(|row| row.sent_at.is_some())
    })
    .await;
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(sink.accepted().len(), 1, "{:?}", sink.accepted());
    assert_eq!(sink.accepted_message_ids(), [format!("<{}@localhost>", row.id)]);
    assert_eq!(row.attempts, 0, "no attempt failed: {row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_refused_for_good_end_failed_after_mail_max_attempts_and_operators_can_list_them() {
    let sink = SmtpSink::start(SinkBehaviour {
        refuse_recipients_containing: Some("@refused.example"),
        ..SinkBehaviour::default()
    })
    .await;
    let settings =
        test_settings(&[("MAIL_URL", &sink.url()), ("MAIL_MAX_ATTEMPTS", "3"), ("MAIL_RETRY_DELAY", "200ms")]);
    let app = TestApp::spawn_with(settings).await;
    let (key, offer_id) = tenant(&app).await;

    // Accepted by the API, refused by the mail library.
    let unparsable = apply(&app, &key, offer_id, "o'brien;drop@example.com").await;
    // Refused by the SMTP server with a 550.
    let refused = apply(&app, &key, offer_id, "nobody@refused.example").await;
    // Delivered: the queue goes on around the failures.
    let fine = apply(&app, &key, offer_id, "zoe.durand@example.com").await;

    for application_id in [unparsable, refused] {
        let row = eventually(WORKER_BOUND, "the email given up on", || async {
            confirmation(&app.db, application_id).await.filter(|row| row.failed_at.is_some())
        })
        .await;
        assert_eq!(row.attempts, 3, "{row:?}");
        assert!(row.sent_at.is_none(), "{row:?}");
        assert!(row.last_error.as_deref().is_some_and(|error| !error.is_empty()), "{row:?}");
    }
    eventually(WORKER_BOUND, "the good email sent", || async {
        confirmation(&app.db, fine).await.filter(|row| row.sent_at.is_some())
    })
    .await;
    // Given up means no more tries.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for application_id in [unparsable, refused] {
        assert_eq!(confirmation(&app.db, application_id).await.map(|row| row.attempts), Some(3));
    }
    assert_eq!(sink.accepted().len(), 1);

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_talqo-server"))
        .args(["outbox", "failed"])
        .env("DATABASE_URL", &app.settings.database_url)
        .env("LOG_FORMAT", "text")
        .output()
        .await
        .expect("run talqo-server outbox failed");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listed: Value = serde_json::from_slice(&output.stdout).expect("one JSON value on stdout");
    let listed = listed.as_array().expect("a JSON array");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (application_id, recipient) in [(unparsable, "o'brien;drop@example.com"), (refused, "nobody@refused.example")] {
        let entry = listed
            .iter()
            .find(|entry| entry["application_id"] == application_id.to_string())
            .unwrap_or_else(|| panic!("{application_id} is not listed: {listed:?}"));
        let mut keys: Vec<&str> = entry.as_object().expect("an object").keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["application_id", "attempts", "failed_at", "id", "kind", "last_error", "recipient"]);
        assert_eq!(entry["kind"], "confirmation");
        assert_eq!(entry["recipient"], recipient);
        assert_eq!(entry["attempts"], 3);
        assert!(entry["last_error"].as_str().is_some_and(|error| !error.is_empty()), "{entry}");
        assert!(entry["failed_at"].as_str().is_some_and(|at| at.parse::<DateTime<Utc>>().is_ok()), "{entry}");
    }
}
