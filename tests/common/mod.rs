//! The integration-test harness: each test gets its own freshly created PostgreSQL database and the real
//! server listening on a loopback port, and talks to it over real HTTP.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::Value;
use sqlx::PgPool;
use talqo_server::config::Settings;
use talqo_server::db;
use talqo_server::db::companies::{Company, NewCompany};
use talqo_server::db::job_offers::{JobOffer, OfferFields};
use talqo_server::domain::api_key::NewApiKey;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The server under test; the database is dropped with it.
pub struct TestApp {
    pub address: SocketAddr,
    pub db: PgPool,
    pub db_name: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn postgres_base_url() -> String {
    std::env::var("TALQO_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub fn corpus_dir() -> PathBuf {
    std::env::var_os("TALQO_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// Settings for a test: a fresh database name, storage, mail and spool folders of its own under
/// [`TestApp::files`], and the given variables over the defaults.
pub fn test_settings(overrides: &[(&str, &str)]) -> Settings {
    let db_name = format!("talqo_test_{}", Uuid::new_v4().simple());
    let files = std::env::temp_dir().join(&db_name);
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_owned(), format!("{}/{db_name}", postgres_base_url())),
        ("DATABASE_MAX_CONNECTIONS".to_owned(), "8".to_owned()),
        ("LISTEN_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("STORAGE_URL".to_owned(), format!("file://{}", files.join("storage").display())),
        ("MAIL_URL".to_owned(), format!("file://{}", files.join("mail").display())),
        ("SPOOL_DIR".to_owned(), files.join("spool").display().to_string()),
        ("WORKER_INTERVAL".to_owned(), "100ms".to_owned()),
    ]);
    for (name, value) in overrides {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    let mut settings = Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid");
    settings.extractor_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_talqo-server")));
    settings
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(test_settings(&[])).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(talqo_server::server::run(settings.clone(), listener, async {
            stop.await.ok();
        }));
        let client = reqwest::Client::new();
        let ready = format!("http://{address}/readyz");
        for _ in 0..200 {
            if client.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(!server.is_finished(), "the server stopped while starting");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let db = sqlx::PgPool::connect(&settings.database_url).await.expect("connect to the test database");
        let db_name = settings.database_url.rsplit('/').next().unwrap_or_default().to_owned();
        TestApp { address, db, db_name, client, settings, shutdown: Some(shutdown), server: Some(server) }
    }

    /// This test's own folder: `storage/` (CV objects with STORAGE_URL's default here), `mail/` (.eml files),
    /// `spool/` (uploads in flight).
    pub fn files(&self) -> PathBuf {
        std::env::temp_dir().join(&self.db_name)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// GET with an API key.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client.get(self.url(path)).header("X-API-Key", key).send().await.expect("request")
    }

    /// Stops the server as SIGTERM would and waits for it to finish.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).ok();
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }

    pub async fn company(&self, slug: &str) -> Company {
        db::companies::insert(
            &self.db,
            &NewCompany { name: &format!("Company {slug}"), slug, auto_reject_threshold: None, locale: "fr" },
        )
        .await
        .expect("insert company")
    }

    /// A new key for the company: (key id, secret).
    pub async fn api_key(&self, company: &Company) -> (Uuid, String) {
        let key = NewApiKey::generate().expect("key");
        let record = db::api_keys::insert(&self.db, company.id, &key, "test").await.expect("insert key");
        (record.id, key.secret)
    }

    pub async fn offer(&self, company: &Company, fields: OfferFields) -> JobOffer {
        db::job_offers::insert(&self.db, company.id, &fields).await.expect("insert offer")
    }

    /// The number of API log rows, once the background writer has caught up with `at_least`.
    pub async fn api_logs_eventually(&self, at_least: i64) -> i64 {
        let mut count = 0;
        for _ in 0..200 {
            count = sqlx::query_scalar("SELECT count(*) FROM api_logs").fetch_one(&self.db).await.unwrap_or(0);
            if count >= at_least {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        count
    }
}

pub fn open_offer(title: &str) -> OfferFields {
    OfferFields { title: Some(title.to_owned()), status: Some("open".to_owned()), ..OfferFields::default() }
}

/// Reads an error envelope and returns its message, checking the envelope's shape on the way.
pub async fn error_message(response: reqwest::Response) -> String {
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "content-type {content_type}");
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], "error", "{body}");
    assert!(body["data"].is_null(), "{body}");
    body["message"].as_str().expect("a message").to_owned()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).ok();
        }
        let db_name = self.db_name.clone();
        std::fs::remove_dir_all(self.files()).ok();
        // The test's runtime may be gone or busy: drop the database from a thread of its own.
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", postgres_base_url())).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)");
                    sqlx::raw_sql(&sql).execute(&admin).await.ok();
                }
            });
        })
        .join()
        .ok();
    }
}
