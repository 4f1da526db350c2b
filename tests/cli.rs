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
    // CONTRACT §12 and §13: the CLI's JobOffer also shows the offer's recruitment_id and its page.
    assert_eq!(
        keys,
        [
            "description",
            "id",
            "job_type",
            "location",
            "published_at",
            "recruitment_id",
            "status",
            "title",
            "updated_at",
            "url"
        ]
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

/// The names of the variables an operator may set: every `NAME=` line of `.env.example` (commented or not)
/// and every name the settings read in `src/config.rs`.
fn documented_and_read_variables() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = Vec::new();
    let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
    for line in example.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some((name, _)) = line.split_once('=')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            names.push(name.to_owned());
        }
    }
    let config = std::fs::read_to_string(root.join("src/config.rs")).unwrap();
    let config = config.split("#[cfg(test)]").next().unwrap();
    for piece in config.split("(\"").skip(1) {
        let name = piece.split('"').next().unwrap();
        if name.len() > 2 && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
            names.push(name.to_owned());
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn help_lists_every_environment_variable_with_its_default() {
    let cli = Cli::new();
    let output = cli.run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let environment = help.split("Environment").nth(1).unwrap_or_else(|| panic!("no Environment section: {help}"));
    let variables = documented_and_read_variables();
    assert!(variables.len() >= 25, "{variables:?}");
    for name in &variables {
        let line = environment
            .lines()
            .find(|line| line.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("--help does not list {name}:\n{help}"));
        assert!(line.contains("[default: ") || line.contains('('), "{name} has no default: {line}");
        assert!(line.split_whitespace().count() >= 3, "{name} has no description: {line}");
    }
    for (name, default) in [("API_LOG_RETENTION", "90d"), ("LISTEN_ADDR", "127.0.0.1:8080"), ("AI_SCORER", "builtin")] {
        let line = environment.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap();
        assert!(line.contains(&format!("[default: {default}]")), "{line}");
    }
    let short = String::from_utf8(cli.run(&["-h"]).stdout).unwrap();
    assert!(short.contains("API_LOG_RETENTION"), "-h lists them too");
}

/// The entries of one `-h` page under `Commands:`, `Arguments:` and `Options:`: (section, name, description).
/// Clap writes `  --name <NAME>  What it is`, or, when one line would be too long, the description indented
/// on the next line.
fn help_entries(help: &str) -> Vec<(String, String, String)> {
    let mut section = None;
    let mut entries: Vec<(String, String, String)> = Vec::new();
    let mut entry_indent = 0;
    for line in help.lines() {
        if !line.starts_with(' ') {
            section = ["Commands:", "Arguments:", "Options:"].contains(&line.trim()).then(|| line.trim().to_owned());
            continue;
        }
        let Some(section) = &section else { continue };
        let indent = line.len() - line.trim_start().len();
        match entries.last_mut() {
            Some(last) if indent > entry_indent && last.2.is_empty() => last.2 = line.trim().to_owned(),
            _ => {
                entry_indent = indent;
                let mut parts = line.trim().splitn(2, "  ");
                let name = parts.next().unwrap_or_default().to_owned();
                let description = parts.next().unwrap_or_default().trim().to_owned();
                entries.push((section.clone(), name, description));
            }
        }
    }
    entries
}

#[test]
fn every_command_and_flag_has_a_line_of_help() {
    let cli = Cli::new();
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("-h");
        let output = cli.run(&args);
        assert!(output.status.success(), "{args:?}");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(!help.starts_with("Usage:"), "{path:?} has no description:\n{help}");
        for (section, name, description) in help_entries(&help) {
            assert!(!description.is_empty(), "{path:?}: `{name}` has no description:\n{help}");
            if section == "Commands:" && name != "help" {
                let mut sub = path.clone();
                sub.push(name);
                pending.push(sub);
            }
        }
        seen += 1;
    }
    assert!(seen >= 17, "only {seen} help pages");
}

/// A running `demo`: its JSON line, read as soon as it is printed.
struct Demo {
    child: std::process::Child,
    output: Value,
}

impl Demo {
    fn start(cli: &Cli, dir: &std::path::Path) -> Demo {
        use std::io::BufRead;
        let mut child = cli
            .command(&["demo"])
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("STORAGE_URL", format!("file://{}", dir.join("storage").display()))
            .env("MAIL_URL", format!("file://{}", dir.join("mail").display()))
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let output = serde_json::from_str(&line).unwrap_or_else(|e| panic!("demo printed {line:?}: {e}"));
        Demo { child, output }
    }

    fn stop(mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
    }
}

/// One HTTP/1.1 GET over a plain socket; the status code and the whole answer.
fn http_get(address: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("the server accepts connections");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

#[test]
fn demo_serves_as_soon_as_it_prints_and_keeps_one_active_key() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();

    let first = Demo::start(&cli, dir.path());
    let address = first.output["listen_addr"].as_str().unwrap().to_owned();
    let key = first.output["api_key"].as_str().unwrap().to_owned();
    assert_eq!(first.output["api_key_reused"], false);
    // Printed after binding: the port answers at once, and the printed key works.
    let (status, _) = http_get(&address, "/api/job_offers", &[("X-API-Key", &key)]);
    assert_eq!(status, 200);
    first.stop();

    let second = Demo::start(&cli, dir.path());
    assert_eq!(second.output["api_key"], key.as_str(), "the demo reuses its key");
    assert_eq!(second.output["api_key_reused"], true);
    second.stop();
    let keys = cli.json(&["api-key", "list", "--company", "demo"]);
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");

    // Without the saved secret, a new key replaces the old one.
    std::fs::remove_file(dir.path().join("data/demo-api-key")).unwrap();
    let third = Demo::start(&cli, dir.path());
    assert_ne!(third.output["api_key"], key.as_str());
    third.stop();
    let keys = cli.json(&["api-key", "list", "--company", "demo"]);
    let active: Vec<&Value> = keys.as_array().unwrap().iter().filter(|k| k["revoked_at"].is_null()).collect();
    assert_eq!((keys.as_array().unwrap().len(), active.len()), (2, 1), "{keys}");
}

#[test]
fn demo_on_a_busy_port_fails_before_printing_or_seeding_anything() {
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let output = cli.command(&["demo"]).env("LISTEN_ADDR", &address).current_dir(dir.path()).output().unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing printed: {}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&address) && stderr.contains("LISTEN_ADDR"), "{stderr}");
    assert!(!stderr.contains("curl"), "no instructions: {stderr}");
    assert!(!dir.path().join("data/demo-api-key").exists(), "no key made");
    assert!(cli.failure(&["api-key", "list", "--company", "demo"]).contains("no company"), "nothing seeded");
}

/// Starts `serve` on a free port with the given variables set and unset; stderr is piped.
fn spawn_server(cli: &Cli, vars: &[(&str, &str)], unset: &[&str]) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut command = cli.command(&["serve"]);
    command.env("LISTEN_ADDR", &address).stdout(Stdio::null()).stderr(Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    for name in unset {
        command.env_remove(name);
    }
    let server = command.spawn().unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, address)
}

fn stop_and_read_stderr(mut server: std::process::Child) -> String {
    use std::io::Read;
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    let mut stderr = String::new();
    server.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(server.wait().unwrap().code(), Some(0));
    stderr
}

#[test]
fn each_request_writes_one_access_log_line_without_key_or_query() {
    let cli = Cli::new();
    // RUST_LOG unset, as an operator leaves it: the default level.
    let (server, address) = spawn_server(&cli, &[("LOG_FORMAT", "json")], &["RUST_LOG"]);
    let secret = "tlq_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    let (status, answer) = http_get(&address, "/api/job_offers?location=lyon", &[("X-API-Key", secret)]);
    assert_eq!(status, 401);
    let request_id = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .map(|v| v.trim().to_owned())
        .expect("a request id header");
    assert_eq!(http_get(&address, "/healthz", &[]).0, 200);
    assert_eq!(http_get(&address, "/no/such/path", &[]).0, 404);
    let stderr = stop_and_read_stderr(server);

    let access: Vec<Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "talqo_server::access")
        .collect();
    assert_eq!(access.len(), 3, "one line per request:\n{stderr}");
    let fields = &access[0]["fields"];
    assert_eq!(access[0]["level"], "INFO");
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["route"], "/api/job_offers");
    assert_eq!(fields["path"], "/api/job_offers");
    assert_eq!(fields["status"], 401);
    assert_eq!(fields["request_id"], request_id.as_str());
    assert_eq!(fields["client_ip"], "127.0.0.1");
    assert!(fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{fields}");
    assert_eq!(access[1]["fields"]["route"], "/healthz");
    assert_eq!(
        (access[2]["fields"]["route"].as_str(), access[2]["fields"]["status"].as_u64()),
        (Some("unmatched"), Some(404))
    );
    assert!(!stderr.contains(secret) && !stderr.contains("tlq_0123"), "no key in the logs");
    assert!(!stderr.contains("lyon"), "no query string in the logs");
}

#[test]
fn healthcheck_asks_the_running_server() {
    let cli = Cli::new();
    let (server, address) = spawn_server(&cli, &[], &[]);
    let ok = cli.command(&["healthcheck"]).env("LISTEN_ADDR", &address).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let answer: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(answer["healthy"], true);
    assert_eq!(answer["url"], format!("http://{address}/healthz"));
    let ready = cli.command(&["healthcheck", "--ready"]).env("LISTEN_ADDR", &address).output().unwrap();
    assert!(ready.status.success());
    stop_and_read_stderr(server);

    let down = cli.command(&["healthcheck", "--url", &format!("http://{address}")]).output().unwrap();
    assert!(!down.status.success(), "nothing listens any more");
    assert!(down.stdout.is_empty());
    assert!(String::from_utf8_lossy(&down.stderr).contains("did not answer"));
}
