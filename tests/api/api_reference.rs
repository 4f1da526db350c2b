//! The API reference: `/docs` renders every operation in headless Chromium with the network cut off, and
//! schemathesis, with all its checks, finds nothing against the server and its OpenAPI document.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::common::{TestApp, open_offer, test_settings};

/// How long schemathesis fuzzes in the suite; a longer run is a command in docs/api.md.
const SCHEMATHESIS_SECONDS: &str = "45";

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).flat_map(|dir| names.iter().map(move |name| dir.join(name))).find(|p| p.is_file())
}

/// A company with a key and a few offers: the data schemathesis and the docs page meet.
async fn seeded_app() -> (TestApp, String) {
    // Thousands of requests from one address in a minute.
    let app = TestApp::spawn_with(test_settings(&[("CAREER_API_RATE_LIMIT_PER_IP", "1000000")])).await;
    let acme = app.company("acme").await;
    let (_, key) = app.api_key(&acme).await;
    for (title, location, status) in
        [("Rust developer", "Lyon", "open"), ("Designer", "Paris", "open"), ("Old", "Lyon", "closed")]
    {
        let fields = talqo_server::db::job_offers::OfferFields {
            location: Some(location.to_owned()),
            status: Some(status.to_owned()),
            job_type: Some("CDI".to_owned()),
            ..open_offer(title)
        };
        app.offer(&acme, fields).await;
    }
    (app, key)
}

/// An HTTP proxy that answers nothing and remembers the first line of every request sent to it.
async fn recording_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = vec![0u8; 1024];
                if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut head)).await {
                    let line = String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or("").to_owned();
                    record.lock().unwrap().push(line);
                }
            });
        }
    });
    (port, seen)
}

/// The host a proxied request was for (`CONNECT host:443 …` or `GET http://host/… …`).
fn proxied_host(request_line: &str) -> String {
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let authority = target.split("://").nth(1).unwrap_or(target);
    authority.split(['/', ':']).next().unwrap_or("").to_owned()
}

/// Chromium's own services (time, updates, accounts, autofill), which it calls whatever the page: not the
/// page's requests. Fonts and anything else are the page's.
fn is_browser_background(host: &str) -> bool {
    (host.ends_with(".google.com") || host.ends_with(".googleapis.com") || host.ends_with(".gvt1.com"))
        && !host.starts_with("fonts.")
}

#[tokio::test]
async fn the_docs_page_renders_every_operation_in_chromium_with_the_network_cut_off() {
    let chromium = find_program("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"])
        .expect("Chromium is needed (Debian: apt-get install chromium; or set CHROMIUM)");
    let (app, _key) = seeded_app().await;
    let document: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths: Vec<String> = document["paths"].as_object().unwrap().keys().cloned().collect();
    assert!(paths.len() >= 7, "{paths:?}");

    // Every request that does not go to the loopback server goes to this proxy, which answers nothing, and
    // no name resolves: the page can reach nothing but the server.
    let (proxy_port, proxied) = recording_proxy().await;
    let profile = tempfile::tempdir().unwrap();
    let run = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{proxy_port}"))
        .arg("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
        .arg("--virtual-time-budget=30000")
        .arg("--dump-dom")
        .arg(app.url("/docs/"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run).await.expect("Chromium finished").unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "chromium: {}", String::from_utf8_lossy(&output.stderr));

    // Swagger UI rendered one block per operation, from the document the server served.
    for path in &paths {
        assert!(dom.contains(&format!("data-path=\"{path}\"")), "{path} is not on the page");
    }
    assert!(dom.contains("talqo-server career-site API"), "the document's title is not on the page");
    assert!(!dom.contains("Failed to load API definition"), "{dom}");
    let page_requests: Vec<String> =
        proxied.lock().unwrap().iter().filter(|line| !is_browser_background(&proxied_host(line))).cloned().collect();
    assert!(page_requests.is_empty(), "the page asked for something beyond the server: {page_requests:?}");
}

#[tokio::test]
async fn schemathesis_with_all_checks_finds_nothing() {
    let schemathesis = find_program("SCHEMATHESIS", &["schemathesis", "st"])
        .expect("schemathesis is needed: python3 -m pip install -r tests/requirements.txt");
    let (app, key) = seeded_app().await;
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let run = Command::new(schemathesis)
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--checks", "all", "--workers", "2", "--max-time", SCHEMATHESIS_SECONDS, "--request-timeout", "10"])
        // A fixed seed: CI explores the same cases each run; longer runs with other seeds are for people.
        .args(["--seed", "20261202"])
        .arg("--header")
        .arg(format!("X-API-Key: {key}"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run).await.expect("schemathesis finished").unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found something:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It ran and tested operations (an unreachable document exits non-zero before this).
    assert!(report.contains("API Operations:") && report.contains("Tested:"), "{report}");
}
