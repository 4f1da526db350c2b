//! What the application tests share: a company with a key and an open offer, multipart forms, the checks
//! of an answer's envelope, readings of the database, of the storage and mail folders, a generated PDF of
//! any size, and a fake OpenAI-compatible server that counts its calls.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use talqo_server::db;
use talqo_server::db::companies::{Company, NewCompany};
use talqo_server::db::job_offers::{JobOffer, OfferFields};
use uuid::Uuid;

use crate::common::{TestApp, corpus_dir, test_settings};

/// A real CV (pdfTeX) that the builtin scorer rates against [`OFFER_DESCRIPTION`].
pub const CV_PDF: &str = "cv/rendercv_classic_John_Doe.pdf";
/// A real CV as DOCX.
pub const CV_DOCX: &str = "cv/hrhelper_sample_resume.docx";
pub const PDF_TYPE: &str = "application/pdf";
pub const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

pub const COMPANY_NAME: &str = "Acme Robotics";
pub const OFFER_TITLE: &str = "Software Engineer";
pub const OFFER_DESCRIPTION: &str = "We are looking for a software engineer to build web applications and APIs. \
    You know Python, JavaScript, SQL and Git, have worked with cloud platforms, Linux and Docker, and enjoy \
    machine learning, data pipelines, testing and mentoring.";

/// Every answer of a career-site route is at most this slow in these tests, unless a test says otherwise.
pub const ANSWER_BOUND: Duration = Duration::from_secs(60);
/// How long the background worker (every 100 ms in tests) may take to deliver an email or rescore.
pub const WORKER_BOUND: Duration = Duration::from_secs(20);

pub fn corpus_file(relative: &str) -> PathBuf {
    corpus_dir().join(relative)
}

pub fn corpus_bytes(relative: &str) -> Vec<u8> {
    let path = corpus_file(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// A server with one company (`Acme Robotics`, slug `acme`), its API key and one open offer.
pub struct Tenant {
    pub app: TestApp,
    pub company: Company,
    pub key_id: Uuid,
    pub key: String,
    pub offer: JobOffer,
}

impl Tenant {
    pub async fn start() -> Tenant {
        Self::start_with(&[]).await
    }

    pub async fn start_with(overrides: &[(&str, &str)]) -> Tenant {
        let app = TestApp::spawn_with(test_settings(overrides)).await;
        let company = db::companies::insert(
            &app.db,
            &NewCompany { name: COMPANY_NAME, slug: "acme", auto_reject_threshold: None, locale: "fr" },
        )
        .await
        .expect("insert company");
        let (key_id, key) = app.api_key(&company).await;
        let offer = app.offer(&company, offer_fields(OFFER_TITLE, "open")).await;
        Tenant { app, company, key_id, key, offer }
    }

    /// Another offer of this company.
    pub async fn offer(&self, title: &str, status: &str) -> JobOffer {
        self.app.offer(&self.company, offer_fields(title, status)).await
    }

    /// `POST /api/job_applications` with this company's key, to be completed with a body.
    pub fn post(&self) -> reqwest::RequestBuilder {
        self.app.client.post(self.app.url("/api/job_applications")).header("X-API-Key", &self.key)
    }

    /// Sends `form` as a real multipart body.
    pub async fn apply(&self, form: &Form) -> reqwest::Response {
        self.apply_with(form, |request| request).await
    }

    /// Sends `form` after `adjust` (headers such as Origin) has shaped the request.
    pub async fn apply_with(
        &self,
        form: &Form,
        adjust: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        let request = adjust(self.post()).multipart(form.build());
        within(ANSWER_BOUND, "an answer to POST /api/job_applications", request.send()).await.expect("POST answered")
    }

    /// The standard application of Jean Dupont to the tenant's offer with the corpus CV `cv`.
    pub fn form(&self, cv: &str) -> Form {
        Form::application(self.offer.id, cv)
    }

    pub async fn set_auto_reject_threshold(&self, threshold: Option<i16>) {
        sqlx::query("UPDATE companies SET auto_reject_threshold = $2 WHERE id = $1")
            .bind(self.company.id)
            .bind(threshold)
            .execute(&self.app.db)
            .await
            .expect("set the threshold");
    }

    pub fn db(&self) -> &PgPool {
        &self.app.db
    }
}

pub fn offer_fields(title: &str, status: &str) -> OfferFields {
    OfferFields {
        title: Some(title.to_owned()),
        description: Some(OFFER_DESCRIPTION.to_owned()),
        location: Some("Paris".to_owned()),
        status: Some(status.to_owned()),
        ..OfferFields::default()
    }
}

/// A multipart form described as data, so the same form can be sent several times (reqwest's own form is
/// consumed by sending).
#[derive(Clone, Debug, Default)]
pub struct Form {
    parts: Vec<FormPart>,
}

#[derive(Clone, Debug)]
enum FormPart {
    Text { name: String, value: String },
    File { name: String, file_name: String, content_type: Option<String>, bytes: Vec<u8> },
}

impl FormPart {
    fn name(&self) -> &str {
        match self {
            FormPart::Text { name, .. } | FormPart::File { name, .. } => name,
        }
    }
}

impl Form {
    /// Jean Dupont's application to `offer_id`, with the corpus file `cv` as the CV (file name `resume.pdf` or
    /// `resume.docx`, the part typed as the file's real type).
    pub fn application(offer_id: Uuid, cv: &str) -> Form {
        let (file_name, content_type) =
            if cv.ends_with(".docx") { ("resume.docx", DOCX_TYPE) } else { ("resume.pdf", PDF_TYPE) };
        Form::default()
            .text("job_offer_id", &offer_id.to_string())
            .text("first_name", "Jean")
            .text("last_name", "Dupont")
            .text("email", "jean.dupont@example.com")
            .file("cv", file_name, Some(content_type), corpus_bytes(cv))
    }

    /// Sets a text field, replacing any part of that name.
    pub fn text(self, name: &str, value: &str) -> Form {
        let mut form = self.without(name);
        form.parts.push(FormPart::Text { name: name.to_owned(), value: value.to_owned() });
        form
    }

    /// Another person: names and email.
    pub fn person(self, first_name: &str, last_name: &str, email: &str) -> Form {
        self.text("first_name", first_name).text("last_name", last_name).text("email", email)
    }

    /// Removes every part called `name`.
    pub fn without(mut self, name: &str) -> Form {
        self.parts.retain(|part| part.name() != name);
        self
    }

    /// Adds a file part (other parts of that name stay).
    pub fn file(mut self, name: &str, file_name: &str, content_type: Option<&str>, bytes: Vec<u8>) -> Form {
        self.parts.push(FormPart::File {
            name: name.to_owned(),
            file_name: file_name.to_owned(),
            content_type: content_type.map(str::to_owned),
            bytes,
        });
        self
    }

    /// Replaces the CV with `bytes`, sent as `file_name` with a PDF part type.
    pub fn cv(self, file_name: &str, bytes: Vec<u8>) -> Form {
        self.without("cv").file("cv", file_name, Some(PDF_TYPE), bytes)
    }

    /// Puts the CV part first, before the text fields.
    pub fn cv_first(mut self) -> Form {
        self.parts.sort_by_key(|part| !matches!(part, FormPart::File { .. }));
        self
    }

    pub fn build(&self) -> reqwest::multipart::Form {
        self.parts.iter().fold(reqwest::multipart::Form::new(), |form, part| match part {
            FormPart::Text { name, value } => form.text(name.clone(), value.clone()),
            FormPart::File { name, file_name, content_type, bytes } => {
                let mut file = reqwest::multipart::Part::bytes(bytes.clone()).file_name(file_name.clone());
                if let Some(content_type) = content_type {
                    file = file.mime_str(content_type).expect("a valid part content type");
                }
                form.part(name.clone(), file)
            }
        })
    }
}

/// The `data` of a 201 or 200 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub application_id: Uuid,
    pub candidate_id: Uuid,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Checks a 201 `{"status":"success","data":{application_id,candidate_id,status,created_at}}`.
pub async fn expect_created(response: reqwest::Response) -> Receipt {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, 201, "{body}");
    assert_eq!(keys_of(&body), ["data", "status"], "{body}");
    assert_eq!(body["status"], "success");
    receipt_of(&body)
}

/// Checks a 200 answer for an application that already existed.
pub async fn expect_existing(response: reqwest::Response) -> Receipt {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys_of(&body), ["data", "message", "status"], "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "Application already exists");
    receipt_of(&body)
}

fn receipt_of(body: &Value) -> Receipt {
    let data = &body["data"];
    assert_eq!(keys_of(data), ["application_id", "candidate_id", "created_at", "status"], "{body}");
    Receipt {
        application_id: lowercase_uuid(&data["application_id"]),
        candidate_id: lowercase_uuid(&data["candidate_id"]),
        status: data["status"].as_str().expect("a status").to_owned(),
        created_at: utc_seconds(&data["created_at"]),
    }
}

pub fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().expect("an object").keys().cloned().collect();
    keys.sort();
    keys
}

pub fn lowercase_uuid(value: &Value) -> Uuid {
    let raw = value.as_str().expect("a UUID string");
    assert_eq!(raw, raw.to_lowercase(), "UUIDs are lowercase");
    raw.parse().expect("a UUID")
}

/// CONTRACT §1: RFC 3339 in UTC with `Z`, second precision.
pub fn utc_seconds(value: &Value) -> DateTime<Utc> {
    let raw = value.as_str().expect("a timestamp string");
    assert!(raw.len() == 20 && raw.ends_with('Z'), "not YYYY-MM-DDTHH:MM:SSZ: {raw}");
    DateTime::parse_from_rfc3339(raw).expect("RFC 3339").with_timezone(&Utc)
}

/// Checks an error answer: its status, the envelope, the rate-limit headers and the exact message.
pub async fn expect_error(response: reqwest::Response, status: u16, message: &str) {
    let actual = error_of(response, status).await;
    assert_eq!(actual, message);
}

/// Like [`expect_error`] for a message known by its start; returns the whole message.
pub async fn expect_error_starting(response: reqwest::Response, status: u16, prefix: &str) -> String {
    let actual = error_of(response, status).await;
    assert!(actual.starts_with(prefix), "{actual:?} does not start with {prefix:?}");
    actual
}

async fn error_of(response: reqwest::Response, status: u16) -> String {
    let actual_status = response.status().as_u16();
    for name in ["x-ratelimit-limit", "x-ratelimit-remaining"] {
        assert!(response.headers().contains_key(name), "{name} missing on a {actual_status} answer");
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(actual_status, status, "{body}");
    assert_eq!(content_type.as_ref().and_then(|v| v.to_str().ok()), Some("application/json"));
    assert_eq!(keys_of(&body), ["data", "message", "status"], "{body}");
    assert_eq!(body["status"], "error");
    assert!(body["data"].is_null(), "{body}");
    body["message"].as_str().expect("a message").to_owned()
}

/// The application's row, as the pipeline wrote it.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredApplication {
    pub company_id: Uuid,
    pub candidate_id: Uuid,
    pub job_offer_id: Uuid,
    pub status: String,
    pub source: String,
    pub cover_letter: String,
    pub cv_text: Option<String>,
    pub scoring_status: String,
    pub rating: Option<i16>,
    pub ai_resume_summary: Option<String>,
    pub first_impression_text: Option<String>,
    pub next_scoring_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn stored_application(db: &PgPool, id: Uuid) -> StoredApplication {
    sqlx::query_as(
        "SELECT company_id, candidate_id, job_offer_id, status, source, cover_letter, cv_text, scoring_status,
                rating, ai_resume_summary, first_impression_text, next_scoring_at, created_at
         FROM job_applications WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
    .expect("the application row")
}

#[derive(Debug, sqlx::FromRow)]
pub struct StoredCandidate {
    pub company_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    pub cv_object_key: String,
    pub cv_content_type: String,
    pub cv_size_bytes: i64,
}

pub async fn stored_candidate(db: &PgPool, id: Uuid) -> StoredCandidate {
    sqlx::query_as(
        "SELECT company_id, email, first_name, last_name, phone, linkedin_url, cv_object_key, cv_content_type,
                cv_size_bytes
         FROM candidates WHERE id = $1",
    )
    .bind(id)
    .fetch_one(db)
    .await
    .expect("the candidate row")
}

/// The statuses of the application's pipeline steps, oldest first.
pub async fn steps(db: &PgPool, application_id: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM candidate_steps WHERE application_id = $1 ORDER BY created_at, id")
        .bind(application_id)
        .fetch_all(db)
        .await
        .expect("steps")
}

#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub send_after: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The application's emails, by kind.
pub async fn outbox(db: &PgPool, application_id: Uuid) -> Vec<OutboxRow> {
    sqlx::query_as(
        "SELECT kind, recipient, subject, send_after, sent_at FROM email_outbox WHERE application_id = $1 ORDER BY kind",
    )
    .bind(application_id)
    .fetch_all(db)
    .await
    .expect("outbox rows")
}

/// Rows in the tables an application writes.
#[derive(Debug, PartialEq, Eq)]
pub struct Counts {
    pub candidates: i64,
    pub applications: i64,
    pub steps: i64,
    pub emails: i64,
}

pub async fn counts(db: &PgPool) -> Counts {
    let (candidates, applications, steps, emails) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM candidates), (SELECT count(*) FROM job_applications),
                (SELECT count(*) FROM candidate_steps), (SELECT count(*) FROM email_outbox)",
    )
    .fetch_one(db)
    .await
    .expect("counts");
    Counts { candidates, applications, steps, emails }
}

pub async fn assert_nothing_written(db: &PgPool) {
    assert_eq!(counts(db).await, Counts { candidates: 0, applications: 0, steps: 0, emails: 0 });
}

/// The bytes of a CV object in the tenant's `file://` storage, if it exists.
pub fn stored_object(app: &TestApp, key: &str) -> Option<Vec<u8>> {
    std::fs::read(app.files().join("storage").join(key)).ok()
}

/// An email as an independent MIME parser (Python's `email` package) reads it from its `.eml` file.
#[derive(Debug, Deserialize)]
pub struct DeliveredEmail {
    pub to: String,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Waits until the mail folder holds at least `count` `.eml` files, and reads them all.
pub async fn delivered_emails(app: &TestApp, count: usize) -> Vec<DeliveredEmail> {
    let folder = app.files().join("mail");
    let files = eventually(WORKER_BOUND, &format!("{count} .eml file(s) in {}", folder.display()), || {
        let folder = folder.clone();
        async move {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
                .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.retain(|path| path.extension().is_some_and(|ext| ext == "eml"));
            files.sort();
            (files.len() >= count).then_some(files)
        }
    })
    .await;
    let python = std::env::var("TALQO_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/eml_to_json.py");
    let output = Command::new(&python).arg(&script).args(&files).output().expect("run eml_to_json.py");
    assert!(output.status.success(), "eml_to_json.py: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("eml_to_json.py prints JSON")
}

/// Polls `probe` every 50 ms until it gives a value; panics naming `what` after `bound`.
pub async fn eventually<T, F, Fut>(bound: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "not within {bound:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `future`'s output, or a panic naming `what` when it takes longer than `bound` (a "does not hang" check).
pub async fn within<T>(bound: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, future).await.unwrap_or_else(|_| panic!("no {what} within {bound:?}"))
}

/// A valid one-page PDF (a classic xref table, Helvetica) that says who Jean Dupont is, padded with an
/// unreferenced stream of spaces so that the file is exactly `len` bytes.
pub fn padded_pdf(len: usize) -> Vec<u8> {
    let mut padding = len.saturating_sub(1024);
    for _ in 0..8 {
        let pdf = pdf_with_padding(padding);
        if pdf.len() == len {
            return pdf;
        }
        padding = (padding + len).checked_sub(pdf.len()).expect("len leaves room for the PDF itself");
    }
    panic!("no padding makes a PDF of exactly {len} bytes");
}

fn pdf_with_padding(padding: usize) -> Vec<u8> {
    let text = "BT /F1 12 Tf 72 720 Td (Jean Dupont, software engineer: Python, SQL, Git, Linux, Docker, cloud APIs) \
                Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> \
         /Contents 4 0 R >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
        format!("<< /Length {padding} >>\nstream\n{}\nendstream", " ".repeat(padding)),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", index + 1).as_bytes());
    }
    let xref_at = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    pdf
}

/// What the fake OpenAI-compatible server answers.
#[derive(Debug, Clone, Copy)]
pub enum FakeAnswer {
    /// A chat completion whose content is a valid score with this rating.
    Rating(u8),
    /// HTTP 500, as during an outage.
    ServerError,
}

/// An OpenAI-compatible `POST /v1/chat/completions` on 127.0.0.1 that counts its calls; its answer can be
/// switched while it runs.
pub struct FakeOpenAi {
    pub base_url: String,
    state: Arc<FakeState>,
}

struct FakeState {
    calls: AtomicU32,
    answer: Mutex<FakeAnswer>,
    delay: Duration,
}

impl FakeOpenAi {
    pub async fn start(answer: FakeAnswer) -> FakeOpenAi {
        Self::start_slow(answer, Duration::ZERO).await
    }

    /// Answers after `delay`, so that concurrent requests overlap while they are being scored.
    pub async fn start_slow(answer: FakeAnswer, delay: Duration) -> FakeOpenAi {
        let state = Arc::new(FakeState { calls: AtomicU32::new(0), answer: Mutex::new(answer), delay });
        let router = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(chat_completions))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake's port");
        let address = listener.local_addr().expect("the fake's address");
        tokio::spawn(async move { axum::serve(listener, router).await.expect("the fake serves") });
        FakeOpenAi { base_url: format!("http://{address}/v1"), state }
    }

    pub fn calls(&self) -> u32 {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub fn answer(&self, answer: FakeAnswer) {
        *self.state.answer.lock().expect("the fake's answer") = answer;
    }

    /// The settings that point the server's scorer at this fake.
    pub fn settings(&self) -> [(&str, &str); 3] {
        [("AI_SCORER", "openai"), ("OPENAI_BASE_URL", &self.base_url), ("OPENAI_API_KEY", "x")]
    }
}

async fn chat_completions(State(state): State<Arc<FakeState>>) -> Response {
    state.calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(state.delay).await;
    let answer = *state.answer.lock().expect("the fake's answer");
    match answer {
        FakeAnswer::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "application/json")], r#"{"error":{}}"#)
                .into_response()
        }
        FakeAnswer::Rating(rating) => {
            let content = json!({
                "rating": rating,
                "ai_resume_summary": "Software engineer with Python and SQL.",
                "first_impression_text": "A plausible fit.",
            })
            .to_string();
            axum::Json(json!({
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            }))
            .into_response()
        }
    }
}
