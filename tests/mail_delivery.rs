//! Email delivery end to end: outbox rows in a fresh PostgreSQL database, sent through the file
//! transport and through a real SMTP server on loopback (aiosmtpd), read back with an independent
//! parser (Python's `email` package, tests/support/eml_to_json.py).
//!
//! Needs PostgreSQL (`TALQO_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432`) and
//! `python3` with aiosmtpd (`TALQO_TEST_PYTHON` to use another interpreter).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{Connection, PgConnection, PgPool};
use talqo_server::db::outbox;
use talqo_server::mail::{
    EmailContext, EmailKind, Locale, Mailer, deliver_due, mailer_from_url, render_email, run_delivery_loop,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MAIL_FROM: &str = "Talqo <no-reply@talqo.localhost>";

// ---------------------------------------------------------------------------------------------
// A fresh database per test.

fn postgres_server_url() -> String {
    std::env::var("TALQO_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database made for one test, migrated, and dropped when the test ends (even by a panic).
struct TestDatabase {
    name: String,
    pool: PgPool,
}

impl TestDatabase {
    async fn create() -> Result<Self, Box<dyn std::error::Error>> {
        let name = format!("talqo_mailtest_{}", Uuid::new_v4().simple());
        let server = postgres_server_url();
        let mut admin = PgConnection::connect(&format!("{server}/postgres")).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await?;
        admin.close().await?;
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&format!("{server}/{name}")).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { name, pool })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort, from a thread of its own: Drop cannot await, and the test's runtime may be
        // shutting down. FORCE ends the pool's connections.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server_url())).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// An application with everything its foreign keys need, and what its emails say.
struct Application {
    id: Uuid,
    recipient: String,
    locale: Locale,
    context: EmailContext,
}

async fn insert_application(
    pool: &PgPool,
    locale: Locale,
    context: EmailContext,
    recipient: &str,
) -> Result<Application, Box<dyn std::error::Error>> {
    let slug = format!("co-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let company_id: Uuid =
        sqlx::query_scalar("INSERT INTO companies (name, slug, locale) VALUES ($1, $2, $3) RETURNING id")
            .bind(&context.company_name)
            .bind(&slug)
            .bind(locale.as_str())
            .fetch_one(pool)
            .await?;
    let offer_id: Uuid =
        sqlx::query_scalar("INSERT INTO job_offers (company_id, title, status) VALUES ($1, $2, 'open') RETURNING id")
            .bind(company_id)
            .bind(&context.offer_title)
            .fetch_one(pool)
            .await?;
    let candidate_id: Uuid = sqlx::query_scalar(
        "INSERT INTO candidates (company_id, email, first_name, last_name, identity_email, \
             identity_first_name, identity_last_name, cv_object_key, cv_content_type, cv_size_bytes) \
         VALUES ($1, $2, $3, $4, lower($2), lower($3), lower($4), 'cv/test.pdf', 'application/pdf', 1234) \
         RETURNING id",
    )
    .bind(company_id)
    .bind(recipient)
    .bind(&context.candidate_first_name)
    .bind(&context.candidate_last_name)
    .fetch_one(pool)
    .await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO job_applications (company_id, candidate_id, job_offer_id, source, scoring_status) \
         VALUES ($3, $1, $2, 'career_site', 'unscorable') RETURNING id",
    )
    .bind(candidate_id)
    .bind(offer_id)
    .bind(company_id)
    .fetch_one(pool)
    .await?;
    Ok(Application { id, recipient: recipient.to_owned(), locale, context })
}

fn context(first_name: &str, offer_title: &str, company_name: &str) -> EmailContext {
    EmailContext {
        candidate_first_name: first_name.to_owned(),
        candidate_last_name: "Durand".to_owned(),
        offer_title: offer_title.to_owned(),
        company_name: company_name.to_owned(),
    }
}

/// Queues `kind` for `application` the way intake does: inside a transaction.
async fn enqueue(pool: &PgPool, application: &Application, kind: EmailKind, send_after: DateTime<Utc>) -> TestResult {
    let email = render_email(kind, application.locale, &application.context);
    let mut transaction = pool.begin().await?;
    outbox::enqueue(&mut transaction, application.id, kind, &application.recipient, &email, send_after).await?;
    transaction.commit().await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    id: Uuid,
    attempts: i32,
    last_error: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
    due_in_future: bool,
}

async fn outbox_row(pool: &PgPool, application_id: Uuid) -> Result<OutboxRow, Box<dyn std::error::Error>> {
    Ok(sqlx::query_as::<_, OutboxRow>(
        "SELECT id, attempts, last_error, sent_at, locked_until, send_after > now() AS due_in_future \
         FROM email_outbox WHERE application_id = $1",
    )
    .bind(application_id)
    .fetch_one(pool)
    .await?)
}

// ---------------------------------------------------------------------------------------------
// Reading what left: Python's email parser, over the files a transport or the sink wrote.

fn python() -> String {
    std::env::var("TALQO_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn support_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(name)
}

#[derive(Debug, Deserialize)]
struct ReceivedEmail {
    envelope_to: Option<String>,
    from: String,
    to: String,
    subject: String,
    message_id: String,
    content_type: String,
    text: Option<String>,
    html: Option<String>,
    defects: Vec<String>,
}

impl ReceivedEmail {
    fn text(&self) -> &str {
        self.text.as_deref().unwrap_or_default()
    }

    fn html(&self) -> &str {
        self.html.as_deref().unwrap_or_default()
    }
}

fn eml_files(directory: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    if !directory.exists() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "eml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

async fn read_emails(directory: &Path) -> Result<Vec<ReceivedEmail>, Box<dyn std::error::Error>> {
    let files = eml_files(directory)?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let output = Command::new(python()).arg(support_script("eml_to_json.py")).args(&files).output().await?;
    assert!(output.status.success(), "eml_to_json.py failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn file_mailer(directory: &Path) -> Result<Mailer, Box<dyn std::error::Error>> {
    Ok(mailer_from_url(&format!("file://{}", directory.display()), MAIL_FROM)?)
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server: aiosmtpd, started by the test on loopback.

/// The running sink; killed when dropped (and it exits by itself when its stdin closes).
struct SmtpSink {
    port: u16,
    _child: Child,
}

async fn start_smtp_sink(directory: &Path, port: u16) -> Result<SmtpSink, Box<dyn std::error::Error>> {
    let mut child = Command::new(python())
        .arg(support_script("smtp_sink.py"))
        .arg(directory)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the sink has no stdout")?;
    let mut first_line = String::new();
    // An upper bound so a broken sink fails the test instead of hanging it.
    tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut first_line)).await??;
    let port = first_line.trim().parse().map_err(|_| {
        format!(
            "the SMTP sink did not start (is aiosmtpd installed for `{}`? `pip install aiosmtpd`); it said {first_line:?}",
            python()
        )
    })?;
    Ok(SmtpSink { port, _child: child })
}

/// A loopback port with nothing listening on it (it was free a moment ago).
fn unused_port() -> Result<u16, Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn file_transport_writes_one_eml_per_email_and_marks_them_sent() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    // The directory is created on first send: a fresh install has no ./data/mail yet.
    let mail_directory = mail_directory.path().join("mail");
    let mailer = file_mailer(&mail_directory)?;

    let french = insert_application(
        pool,
        Locale::Fr,
        context("Zoé", "Développeuse Rust", "Acme Études"),
        "zoe.durand@example.com",
    )
    .await?;
    let english = insert_application(
        pool,
        Locale::En,
        context("John", "Site Reliability Engineer", "Globex"),
        "john.smith@example.org",
    )
    .await?;
    enqueue(pool, &french, EmailKind::Confirmation, Utc::now()).await?;
    enqueue(pool, &english, EmailKind::Confirmation, Utc::now()).await?;

    assert_eq!(deliver_due(pool, &mailer, 10).await?, 2);

    let emails = read_emails(&mail_directory).await?;
    assert_eq!(emails.len(), 2, "{emails:?}");
    let to_french =
        emails.iter().find(|email| email.to == french.recipient).ok_or("no email to the French candidate")?;
    let to_english =
        emails.iter().find(|email| email.to == english.recipient).ok_or("no email to the English candidate")?;

    assert_eq!(to_french.subject, "Candidature reçue\u{a0}: Développeuse Rust chez Acme Études");
    assert!(to_french.text().contains("Bonjour Zoé"));
    assert!(to_french.text().contains("Développeuse Rust"));
    assert!(to_french.text().contains("Acme Études"));
    assert!(to_french.html().contains("Développeuse Rust"));
    assert!(to_french.html().contains("Acme Études"));

    assert_eq!(to_english.subject, "Application received: Site Reliability Engineer at Globex");
    assert!(to_english.text().contains("Hello John"));
    assert!(to_english.html().contains("Site Reliability Engineer"));
    assert!(to_english.html().contains("Globex"));

    for email in &emails {
        assert_eq!(email.content_type, "multipart/alternative");
        assert_eq!(email.from, MAIL_FROM);
        assert!(email.defects.is_empty(), "{:?}", email.defects);
    }
    for application in [&french, &english] {
        let row = outbox_row(pool, application.id).await?;
        assert!(row.sent_at.is_some(), "{row:?}");
        assert_eq!(row.attempts, 0);
        assert!(row.locked_until.is_none());
        let email = emails.iter().find(|email| email.to == application.recipient).ok_or("missing email")?;
        // The Message-ID names the outbox row, so a copy sent again is recognisable.
        assert_eq!(email.message_id, format!("<{}@talqo.localhost>", row.id));
    }

    assert_eq!(deliver_due(pool, &mailer, 10).await?, 0);
    assert_eq!(eml_files(&mail_directory)?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn an_email_is_not_sent_before_its_send_after() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    let application =
        insert_application(pool, Locale::Fr, context("Zoé", "Développeuse Rust", "Acme"), "zoe@example.com").await?;
    // CONTRACT §6 "Auto-reject": the rejection waits REJECTION_EMAIL_DELAY.
    enqueue(pool, &application, EmailKind::Rejection, Utc::now() + chrono::Duration::hours(24)).await?;

    assert_eq!(deliver_due(pool, &mailer, 10).await?, 0);
    assert!(eml_files(mail_directory.path())?.is_empty());
    let row = outbox_row(pool, application.id).await?;
    assert!(row.sent_at.is_none() && row.locked_until.is_none() && row.attempts == 0);

    sqlx::query("UPDATE email_outbox SET send_after = now() WHERE id = $1").bind(row.id).execute(pool).await?;
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 1);
    let emails = read_emails(mail_directory.path()).await?;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].text().contains("regret"), "{}", emails[0].text());
    Ok(())
}

#[tokio::test]
async fn an_email_of_each_kind_is_queued_at_most_once_per_application() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let application =
        insert_application(pool, Locale::En, context("John", "Engineer", "Globex"), "john@example.org").await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;
    enqueue(pool, &application, EmailKind::Rejection, Utc::now()).await?;
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM email_outbox WHERE application_id = $1 ORDER BY kind")
            .bind(application.id)
            .fetch_all(pool)
            .await?;
    assert_eq!(kinds, ["confirmation", "rejection"]);
    Ok(())
}

#[tokio::test]
async fn an_email_held_by_another_worker_waits_for_its_lease_to_expire() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    let application =
        insert_application(pool, Locale::En, context("John", "Engineer", "Globex"), "john@example.org").await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;
    sqlx::query("UPDATE email_outbox SET locked_until = now() + interval '5 minutes'").execute(pool).await?;

    assert_eq!(deliver_due(pool, &mailer, 10).await?, 0);
    assert!(eml_files(mail_directory.path())?.is_empty());

    // The holder died: once its lease passed, the email is taken over and sent.
    sqlx::query("UPDATE email_outbox SET locked_until = now() - interval '1 second'").execute(pool).await?;
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 1);
    assert_eq!(eml_files(mail_directory.path())?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_passes_send_each_email_once() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    for number in 0..12 {
        let application = insert_application(
            pool,
            Locale::Fr,
            context("Zoé", "Développeuse Rust", "Acme"),
            &format!("candidate{number}@example.com"),
        )
        .await?;
        enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;
    }

    let (first, second, third) =
        tokio::join!(deliver_due(pool, &mailer, 12), deliver_due(pool, &mailer, 12), deliver_due(pool, &mailer, 12),);
    assert_eq!(first? + second? + third?, 12);
    assert_eq!(eml_files(mail_directory.path())?.len(), 12);
    let unsent: i64 =
        sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE sent_at IS NULL").fetch_one(pool).await?;
    assert_eq!(unsent, 0);
    Ok(())
}

#[tokio::test]
async fn html_bodies_escape_what_candidates_and_companies_wrote() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    let application = insert_application(
        pool,
        Locale::En,
        context("<script>alert('x')</script>", "<img src=x onerror=alert(1)> Engineer", "Smith & \"Sons\""),
        "mallory@example.com",
    )
    .await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 1);

    let emails = read_emails(mail_directory.path()).await?;
    assert_eq!(emails.len(), 1);
    let html = emails[0].html();
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt; Engineer"), "{html}");
    assert!(html.contains("Smith &amp; &quot;Sons&quot;"), "{html}");
    // The plain-text body is not HTML and keeps the values as written.
    assert!(emails[0].text().contains("<script>alert('x')</script>"));
    Ok(())
}

#[tokio::test]
async fn an_smtp_outage_delays_the_email_which_is_then_received_exactly_once() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let received = tempfile::tempdir()?;
    let port = unused_port()?;
    let mailer = mailer_from_url(&format!("smtp://127.0.0.1:{port}"), MAIL_FROM)?;
    let application = insert_application(
        pool,
        Locale::Fr,
        context("Zoé", "Développeuse Rust", "Acme Études"),
        "zoe.durand@example.com",
    )
    .await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;

    // No server: the attempt fails and a retry is scheduled, nothing is lost.
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 0);
    let row = outbox_row(pool, application.id).await?;
    assert_eq!(row.attempts, 1, "{row:?}");
    assert!(row.due_in_future, "{row:?}");
    assert!(row.sent_at.is_none() && row.locked_until.is_none(), "{row:?}");
    assert!(row.last_error.as_deref().is_some_and(|error| !error.is_empty()));
    // Not due yet: another pass leaves it alone.
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 0);
    assert_eq!(outbox_row(pool, application.id).await?.attempts, 1);

    let sink = start_smtp_sink(received.path(), port).await?;
    assert_eq!(sink.port, port);
    sqlx::query("UPDATE email_outbox SET send_after = now() WHERE id = $1").bind(row.id).execute(pool).await?;
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 1);
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 0);

    let emails = read_emails(received.path()).await?;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0];
    assert_eq!(email.envelope_to.as_deref(), Some("zoe.durand@example.com"));
    assert_eq!(email.to, "zoe.durand@example.com");
    assert_eq!(email.from, MAIL_FROM);
    assert_eq!(email.subject, "Candidature reçue\u{a0}: Développeuse Rust chez Acme Études");
    assert_eq!(email.content_type, "multipart/alternative");
    assert!(email.text().contains("Bonjour Zoé"));
    assert!(email.html().contains("Acme Études"));
    assert_eq!(email.message_id, format!("<{}@talqo.localhost>", row.id));
    assert!(email.defects.is_empty(), "{:?}", email.defects);

    let row = outbox_row(pool, application.id).await?;
    assert!(row.sent_at.is_some(), "{row:?}");
    assert_eq!(row.attempts, 1);
    assert!(row.last_error.is_none());
    Ok(())
}

#[tokio::test]
async fn smtp_delivers_several_emails_over_one_server() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let received = tempfile::tempdir()?;
    let sink = start_smtp_sink(received.path(), 0).await?;
    let mailer = mailer_from_url(&format!("smtp://127.0.0.1:{}", sink.port), MAIL_FROM)?;
    for (number, locale) in [Locale::Fr, Locale::En, Locale::Fr].into_iter().enumerate() {
        let application = insert_application(
            pool,
            locale,
            context("Zoé", "Développeuse Rust", "Acme"),
            &format!("candidate{number}@example.com"),
        )
        .await?;
        enqueue(pool, &application, EmailKind::Rejection, Utc::now()).await?;
    }
    assert_eq!(deliver_due(pool, &mailer, 10).await?, 3);
    let emails = read_emails(received.path()).await?;
    let mut recipients: Vec<&str> = emails.iter().map(|email| email.to.as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(recipients, ["candidate0@example.com", "candidate1@example.com", "candidate2@example.com"]);
    Ok(())
}

#[tokio::test]
async fn the_delivery_loop_sends_queued_email_and_stops_when_told() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let delivery = tokio::spawn(run_delivery_loop(pool.clone(), mailer, Duration::from_millis(50), shutdown.clone()));

    let application =
        insert_application(pool, Locale::En, context("John", "Engineer", "Globex"), "john@example.org").await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;
    // Upper bounds only: the point is that the loop picks the email up and then stops.
    tokio::time::timeout(Duration::from_secs(30), async {
        while outbox_row(pool, application.id).await.is_ok_and(|row| row.sent_at.is_none()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), delivery).await??;
    assert_eq!(eml_files(mail_directory.path())?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eml_file_appears_only_once_its_email_is_recorded_sent() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    // Recording an email sent takes 3 s here, as under a loaded or briefly unreachable database.
    sqlx::raw_sql(
        "CREATE FUNCTION slow_sent_mark() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$; \
         CREATE TRIGGER slow_sent_mark BEFORE UPDATE OF sent_at ON email_outbox FOR EACH ROW \
             WHEN (OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL) EXECUTE FUNCTION slow_sent_mark();",
    )
    .execute(pool)
    .await?;
    let application =
        insert_application(pool, Locale::En, context("John", "Engineer", "Globex"), "john@example.org").await?;
    enqueue(pool, &application, EmailKind::Confirmation, Utc::now()).await?;

    let delivery = {
        let (pool, mailer) = (pool.clone(), mailer.clone());
        tokio::spawn(async move { deliver_due(&pool, &mailer, 10).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Written, not yet recorded: a reader of the folder must not see it yet (it would read an email the
    // outbox does not know it sent, or half of one).
    assert!(outbox_row(pool, application.id).await?.sent_at.is_none());
    assert!(eml_files(mail_directory.path())?.is_empty(), "{:?}", eml_files(mail_directory.path()));

    assert_eq!(tokio::time::timeout(Duration::from_secs(30), delivery).await???, 1);
    let row = outbox_row(pool, application.id).await?;
    assert!(row.sent_at.is_some(), "{row:?}");
    let files = eml_files(mail_directory.path())?;
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with(format!("{}.eml", row.id)), "{files:?}");
    let emails = read_emails(mail_directory.path()).await?;
    assert_eq!(emails[0].message_id, format!("<{}@talqo.localhost>", row.id));
    Ok(())
}

#[tokio::test]
async fn an_email_recorded_sent_but_left_staged_by_a_stopped_process_is_published_at_the_next_start() -> TestResult {
    let database = TestDatabase::create().await?;
    let pool = &database.pool;
    let mail_directory = tempfile::tempdir()?;
    let mailer = file_mailer(mail_directory.path())?;
    let sent = insert_application(pool, Locale::En, context("John", "Engineer", "Globex"), "john@example.org").await?;
    let unsent =
        insert_application(pool, Locale::Fr, context("Zoé", "Développeuse", "Acme"), "zoe@example.com").await?;
    enqueue(pool, &sent, EmailKind::Confirmation, Utc::now()).await?;
    // Not due for a day: the loop below must not send it, only leave its stale staged copy alone.
    enqueue(pool, &unsent, EmailKind::Confirmation, Utc::now() + chrono::Duration::hours(24)).await?;
    let sent_row = outbox_row(pool, sent.id).await?;
    let unsent_row = outbox_row(pool, unsent.id).await?;
    // A process wrote both, recorded only the first, and stopped before naming it.
    sqlx::query("UPDATE email_outbox SET sent_at = now() WHERE id = $1").bind(sent_row.id).execute(pool).await?;
    for id in [sent_row.id, unsent_row.id] {
        std::fs::write(mail_directory.path().join(format!(".{id}.eml.part")), b"Subject: staged\r\n\r\nstaged\r\n")?;
    }
    assert!(eml_files(mail_directory.path())?.is_empty());

    let shutdown = tokio_util::sync::CancellationToken::new();
    let delivery = tokio::spawn(run_delivery_loop(pool.clone(), mailer, Duration::from_millis(50), shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(30), async {
        while eml_files(mail_directory.path()).is_ok_and(|files| files.is_empty()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), delivery).await??;
    let files = eml_files(mail_directory.path())?;
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(format!("{}.eml", sent_row.id)), "{files:?}");
    assert!(mail_directory.path().join(format!(".{}.eml.part", unsent_row.id)).exists());
    Ok(())
}
