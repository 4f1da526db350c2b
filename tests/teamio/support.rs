//! Import clients, tokens and request bodies for the tests.

use base64::Engine as _;
use serde_json::{Value, json};
use talqo_server::db;
use talqo_server::db::companies::Company;
use talqo_server::db::job_offers::JobOffer;
use talqo_server::domain::import_credentials::{ImportEnvironment, NewImportClient};

use crate::common::{TestApp, open_offer};

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A company with an open offer, a production and a sandbox client, and a token of each.
pub struct Door {
    pub app: TestApp,
    pub company: Company,
    pub offer: JobOffer,
    pub production: String,
    pub sandbox: String,
}

impl Door {
    pub async fn open(app: TestApp) -> Door {
        let company = app.company("acme").await;
        let offer = app.offer(&company, open_offer("Backend Developer")).await;
        let (id, secret) = client(&app, &company, ImportEnvironment::Production).await;
        let production = token(&app, &id, &secret).await;
        let (id, secret) = client(&app, &company, ImportEnvironment::Sandbox).await;
        let sandbox = token(&app, &id, &secret).await;
        Door { app, company, offer, production, sandbox }
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.app.client.post(self.app.url(path)).bearer_auth(token).json(body).send().await.expect("request")
    }

    /// `/test` with the sandbox token: the checks without storing anything.
    pub async fn check(&self, body: &Value) -> reqwest::Response {
        self.post("/api/v1/candidate-reactions/test", &self.sandbox, body).await
    }
}

/// A new client of `company`: (client_id, client_secret).
pub async fn client(app: &TestApp, company: &Company, environment: ImportEnvironment) -> (String, String) {
    let client = NewImportClient::generate().expect("client");
    db::import_clients::insert(&app.db, company.id, &client, environment, "test").await.expect("insert client");
    (client.client_id, client.secret)
}

pub async fn token(app: &TestApp, username: &str, password: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    body["accessToken"].as_str().expect("accessToken").to_owned()
}

/// A valid request: a PDF CV, a text letter, explicit consent with its document.
pub fn reaction(recruitment_id: i64) -> Value {
    json!({
        "firstName": "Jane",
        "surname": "Smith",
        "email": "Jane.Smith@Example.com",
        "phone": "+420 987 654 321",
        "recruitmentId": recruitment_id,
        "attachments": [
            {"filename": "cv.pdf", "content": b64(&talqo_server::service::demo::sample_cv_pdf()),
             "contentType": "application/pdf", "type": "CV"},
            {"filename": "letter.txt", "content": b64("I would love to join.".as_bytes()),
             "contentType": "text/plain", "type": "MOTIVATION_LETTER"}
        ],
        "gdprNotice": {
            "consentText": {"filename": "gdpr.txt", "content": b64(b"I hereby consent."), "contentType": "text/plain",
                            "type": "OTHER"},
            "validTo": "2099-12-31T23:59:59Z"
        }
    })
}

/// Reads a Teamio error and checks its shape: (code, message, fieldErrors as (field, reason)).
pub async fn teamio_error(response: reqwest::Response) -> (u16, String, String, Vec<(String, String)>) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "content-type {content_type}");
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body.get("status").is_none() && body.get("data").is_none(), "not the §1 envelope: {body}");
    let fields = body["fieldErrors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["message"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    (
        status,
        body["error"].as_str().expect("an error code").to_owned(),
        body["message"].as_str().expect("a message").to_owned(),
        fields,
    )
}

/// Files under a folder, recursively.
pub fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(Result::ok).map(|e| if e.path().is_dir() { files_under(&e.path()) } else { 1 }).sum()
}

/// The real binary as a child process, for tests that kill it (`kill -9`).
pub struct ServerProcess {
    child: std::process::Child,
    pub base_url: String,
}

impl ServerProcess {
    pub async fn start(env: &[(&str, String)]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_talqo-server"));
        command
            .arg("serve")
            .env_clear()
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env("WORKER_INTERVAL", "200ms")
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start talqo-server");
        let server = ServerProcess { child, base_url: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client.get(format!("{}/readyz", server.base_url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("talqo-server did not become ready");
    }

    /// SIGKILL: nothing is flushed, nothing is finished.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
