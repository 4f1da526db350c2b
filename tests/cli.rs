//! The operator's command line (CONTRACT §10), run as the real binary against a fresh database:
//! one JSON value on stdout, errors on stderr with a non-zero exit.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

struct Cli {
    database_url: String,
    db_name: String,
}

impl Cli {
    fn new() -> Cli {
        let db_name = format!("talqo_test_{}", Uuid::new_v4().simple());
        Cli { database_url: format!("{}/{db_name}", common::postgres_base_url()), db_name }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_talqo-server"));
        command
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .current_dir(std::env::temp_dir());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run talqo-server")
    }

    /// Runs a command that must succeed and returns its JSON.
    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?} failed: {stderr}");
        let stdout = String::from_utf8(output.stdout).expect("UTF-8 stdout");
        assert_eq!(stdout.lines().count(), 1, "one JSON value on one line: {stdout}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"))
    }

    /// Runs a command that must fail and returns its stderr.
    fn failure(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "{args:?} should have failed");
        assert!(output.stdout.is_empty(), "nothing on stdout on failure");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let db_name = self.db_name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", common::postgres_base_url())).await {
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"))
                        .execute(&admin)
                        .await
                        .ok();
                }
            });
        })
        .join()
        .ok();
    }
}

#[test]
fn migrate_creates_the_database_and_says_so() {
    let cli = Cli::new();
    assert_eq!(cli.json(&["migrate"]), serde_json::json!({"migrated": true}));
    assert_eq!(cli.json(&["migrate"]), serde_json::json!({"migrated": true}), "migrating twice is harmless");
}

#[test]
fn companies_are_created_and_updated() {
    let cli = Cli::new();
    let company =
        cli.json(&["company", "create", "--name", "Café Crème", "--auto-reject-threshold", "40", "--locale", "en"]);
    assert_eq!(company["name"], "Café Crème");
    assert_eq!(company["slug"], "cafe-creme");
    assert_eq!(company["auto_reject_threshold"], 40);
    assert_eq!(company["locale"], "en");
    let mut keys: Vec<&str> = company.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["auto_reject_threshold", "id", "jobs_url", "locale", "name", "slug"]);

    let updated =
        cli.json(&["company", "update", "cafe-creme", "--no-auto-reject", "--locale", "fr", "--name", "Crème"]);
    assert_eq!(updated["auto_reject_threshold"], Value::Null);
    assert_eq!((updated["locale"].as_str(), updated["name"].as_str()), (Some("fr"), Some("Crème")));
    let by_id = cli.json(&["company", "update", company["id"].as_str().unwrap(), "--auto-reject-threshold", "55"]);
    assert_eq!(by_id["auto_reject_threshold"], 55);

    assert!(cli.failure(&["company", "create", "--name", "Other", "--slug", "cafe-creme"]).contains("already exists"));
    assert!(cli.failure(&["company", "create", "--name", "X", "--auto-reject-threshold", "101"]).contains("101"));
    assert!(cli.failure(&["company", "update", "nobody", "--locale", "en"]).contains("no company"));
}

#[test]
fn api_keys_are_shown_once_listed_without_secret_and_revoked() {
    let cli = Cli::new();
    cli.json(&["company", "create", "--name", "Acme"]);
    let created = cli.json(&["api-key", "create", "--company", "acme", "--label", "careers site"]);
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("tlq_") && key.len() == 44, "{key}");
    assert_eq!(created["label"], "careers site");
    for field in ["id", "company_id", "created_at"] {
        assert!(created[field].is_string(), "{field}");
    }

    let listed = cli.json(&["api-key", "list", "--company", "acme"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    let mut keys: Vec<&str> = listed[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "label", "last_used_at", "prefix", "revoked_at"]);
    assert_eq!(listed[0]["prefix"], &key[..12]);
    assert!(!listed[0].to_string().contains(key), "the secret is never listed");

    let revoked = cli.json(&["api-key", "revoke", created["id"].as_str().unwrap()]);
    assert!(revoked["revoked_at"].is_string());
    assert!(cli.failure(&["api-key", "revoke", &Uuid::new_v4().to_string()]).contains("no API key"));
}

#[test]
fn offers_are_created_updated_and_imported() {
    let cli = Cli::new();
    cli.json(&["company", "create", "--name", "Acme"]);
    let dir = tempfile::tempdir().unwrap();
    let description = dir.path().join("description.md");
    std::fs::write(&description, "# Role\n\n- Rust\n").unwrap();
    let offer = cli.json(&[
        "offer",
        "create",
        "--company",
        "acme",
        "--title",
        "Rust dev",
        "--description-file",
        description.to_str().unwrap(),
        "--location",
        "Paris",
        "--job-type",
        "CDI",
    ]);
    assert_eq!(offer["description"], "# Role\n\n- Rust\n");
    assert_eq!(offer["status"], "open");
    assert!(offer["published_at"].as_str().unwrap().ends_with('Z'), "open offers are published now");
    let mut keys: Vec<&str> = offer.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["description", "id", "job_type", "location", "published_at", "status", "title", "updated_at", "url"]
    );

    let closed = cli.json(&[
        "offer",
        "update",
        offer["id"].as_str().unwrap(),
        "--status",
        "closed",
        "--published-at",
        "2024-01-15T10:00:00Z",
    ]);
    assert_eq!(
        (closed["status"].as_str(), closed["published_at"].as_str()),
        (Some("closed"), Some("2024-01-15T10:00:00Z"))
    );
    assert_eq!(closed["title"], "Rust dev");

    let draft = cli.json(&["offer", "create", "--company", "acme", "--title", "Later", "--status", "draft"]);
    assert_eq!(draft["published_at"], Value::Null);

    let lines = dir.path().join("offers.jsonl");
    let known = Uuid::new_v4();
    let mut body = String::new();
    for i in 0..12_345 {
        body.push_str(
            &serde_json::json!({"title": format!("Imported {i}"), "location": "Lyon", "status": "open"}).to_string(),
        );
        body.push('\n');
    }
    body.push_str(&serde_json::json!({"id": known, "title": "With id", "description": "x", "job_type": "CDD", "published_at": "2024-02-01T00:00:00Z", "status": "closed"}).to_string());
    body.push('\n');
    std::fs::write(&lines, body).unwrap();
    assert_eq!(
        cli.json(&["offer", "import", "--company", "acme", "--file", lines.to_str().unwrap()]),
        serde_json::json!({"imported": 12_346})
    );

    // A bad line names itself and imports nothing.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"title\":\"ok\"}\n{\"title\":\"\"}\n").unwrap();
    let error = cli.failure(&["offer", "import", "--company", "acme", "--file", bad.to_str().unwrap()]);
    assert!(error.contains("line 2"), "{error}");
    let unknown_field = dir.path().join("unknown.jsonl");
    std::fs::write(&unknown_field, "{\"title\":\"ok\",\"salary\":3}\n").unwrap();
    assert!(
        cli.failure(&["offer", "import", "--company", "acme", "--file", unknown_field.to_str().unwrap()])
            .contains("line 1")
    );

    assert!(cli.failure(&["offer", "create", "--company", "acme", "--title", "  "]).contains("title"));
    assert!(cli.failure(&["offer", "update", &Uuid::new_v4().to_string(), "--title", "x"]).contains("no job offer"));
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let cli = Cli::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = cli
        .command(&["serve"])
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
}

#[test]
fn errors_go_to_stderr_with_a_non_zero_exit() {
    let cli = Cli { database_url: "postgres://postgres@127.0.0.1:1/nowhere".to_owned(), db_name: "nowhere".to_owned() };
    let error = cli.failure(&["migrate"]);
    assert!(error.contains("PostgreSQL"), "{error}");
}

#[test]
fn cv_text_prints_what_the_server_extracts() {
    let cli = Cli::new();
    let docx = common::corpus_dir().join("cv/hrhelper_sample_resume.docx");
    let output = cli.json(&["cv-text", docx.to_str().unwrap()]);
    assert_eq!(output["format"], "docx");
    let text = output["text"].as_str().unwrap();
    assert!(text.contains("Data Scientist"), "{text}");
    assert_eq!(output["chars"], text.chars().count());

    let pdf = common::corpus_dir().join("pdf/pdfjs_french_diacritics.pdf");
    let output = cli.json(&["cv-text", pdf.to_str().unwrap()]);
    assert_eq!(output["format"], "pdf");
    assert!(output["text"].as_str().unwrap().contains('é'), "{output}");

    let doc = common::corpus_dir().join("bad/doc_legacy-word97.doc");
    assert!(cli.failure(&["cv-text", doc.to_str().unwrap()]).contains("unsupported file format"));
    let empty = common::corpus_dir().join("pdf/pdfjs_empty.pdf");
    assert!(cli.failure(&["cv-text", empty.to_str().unwrap()]).contains("no text"));
}

#[test]
fn company_page_settings_are_checked_and_links_use_public_base_url() {
    let cli = Cli::new();
    let company = cli.json(&["company", "create", "--name", "Acme", "--embed-origins", "https://careers.acme.test"]);
    assert_eq!(company["jobs_url"], "http://127.0.0.1:8080/jobs/acme");
    let logo = std::env::temp_dir().join(format!("talqo-logo-{}.svg", Uuid::new_v4().simple()));
    std::fs::write(&logo, "<svg onload=\"alert(1)\"/>").unwrap();
    let logo = logo.to_str().unwrap();
    assert!(cli.failure(&["company", "update", "acme", "--logo", logo]).contains("PNG, JPEG or WebP"));
    assert!(cli.failure(&["company", "update", "acme", "--accent-color", "red"]).contains("hex colour"));
    assert!(
        cli.failure(&["company", "update", "acme", "--embed-origins", "https://a.test; script-src *"])
            .contains("origin")
    );
    assert!(
        cli.failure(&["company", "create", "--name", "Bad", "--embed-origins", "not an origin"]).contains("origin"),
        "refused before the company is created"
    );
    assert!(cli.failure(&["company", "update", "bad"]).contains("no company"));
    cli.json(&["company", "update", "acme", "--accent-color", "#0F766E", "--embed-origins", ""]);
    let offer = cli.json(&["offer", "create", "--company", "acme", "--title", "Designer"]);
    assert_eq!(offer["url"], format!("http://127.0.0.1:8080/jobs/acme/{}", offer["id"].as_str().unwrap()));
    let output =
        cli.command(&["company", "update", "acme"]).env("PUBLIC_BASE_URL", "https://jobs.acme.test/").output().unwrap();
    let company: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(company["jobs_url"], "https://jobs.acme.test/jobs/acme");
}
