//! CONTRACT §11, shutdown: SIGTERM stops accepting at once, a request in flight gets SHUTDOWN_TIMEOUT, then
//! the process exits 0 — even when that request is an upload that would take minutes.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::common::postgres_base_url;

struct Database {
    url: String,
    name: String,
}

impl Database {
    fn new() -> Database {
        let name = format!("talqo_test_{}", Uuid::new_v4().simple());
        Database { url: format!("{}/{name}", postgres_base_url()), name }
    }

    fn cli(&self, args: &[&str]) -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_talqo-server"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &self.url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&format!("{}/postgres", postgres_base_url())).await {
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
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
fn sigterm_with_a_slow_upload_in_flight_exits_0_within_shutdown_timeout() {
    let database = Database::new();
    database.cli(&["company", "create", "--name", "Acme"]);
    let key = database.cli(&["api-key", "create", "--company", "acme"])["key"].as_str().unwrap().to_owned();
    let spool = tempfile::tempdir().unwrap();
    let port = crate::pg_cluster::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_talqo-server"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &database.url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("SHUTDOWN_TIMEOUT", "3s")
        .env("SPOOL_DIR", spool.path())
        .env("STORAGE_URL", format!("file://{}", spool.path().join("storage").display()))
        .env("MAIL_URL", format!("file://{}", spool.path().join("mail").display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut upload = loop {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break stream;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    // An upload at 5 bytes a second: it would take days to finish.
    let boundary = "talqo-slow-upload";
    let head = format!(
        "POST /api/job_applications HTTP/1.1\r\nHost: t\r\nX-API-Key: {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    );
    upload.write_all(head.as_bytes()).unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..200 {
            if upload.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // Let the upload reach the handler (the server answers /healthz, so it is serving).
    std::thread::sleep(Duration::from_millis(1_000));
    assert!(spool_files(spool.path()) > 0, "the upload is being spooled");

    let signalled = Instant::now();
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    // Stops accepting at once.
    std::thread::sleep(Duration::from_millis(300));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "still accepting after SIGTERM");
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "the server did not exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
    // The upload got its SHUTDOWN_TIMEOUT (3 s), and the exit came soon after it.
    assert!(
        took >= Duration::from_millis(2_900) && took < Duration::from_millis(5_500),
        "exited {took:?} after SIGTERM"
    );
    trickle.join().unwrap();
    assert_eq!(spool_files(spool.path()), 0, "the cut upload's spool file is removed");
}

fn spool_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("talqo-spool-")).count()
        })
        .unwrap_or(0)
}
