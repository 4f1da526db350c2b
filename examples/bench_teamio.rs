//! Measures the Teamio import API (CONTRACT §12) on this machine and prints the figures (no assertions):
//! 1. imports per second, each with a ~200 KB PDF CV and a text motivation letter, every request a new candidate:
//!    how fast requests are accepted (200 `{requestUuid}`, durable) and how fast they are completed by the
//!    background processing (extraction, scoring, the transaction, the email);
//! 2. the server process's peak memory while 16 clients each send 5 attachments of 10 MiB (a 67 MiB JSON body of
//!    base64) at once, through streaming, accepting and processing.
//!
//! The server runs as a separate process (the release `talqo-server` binary), set up with its own CLI:
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_teamio -- --clients 16 --requests 200
//! ```
//!
//! Options: `--clients N`, `--requests N`, `--big-clients N`, `--binary PATH`. PostgreSQL:
//! `TALQO_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`).

#[path = "support/padded_pdf.rs"]
mod padded_pdf;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

const DATABASE_NAME: &str = "talqo_bench_teamio";
const CV_BYTES: usize = 200_000;
const BIG_FILE_BYTES: usize = 10 * 1024 * 1024;
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Parser)]
#[command(about = "Benchmark of POST /api/v1/candidate-reactions on this machine")]
struct Options {
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Clients sending 5 × 10 MiB attachments at once in the memory measurement.
    #[arg(long, default_value_t = 16)]
    big_clients: usize,
    /// The server binary (default: the release `talqo-server` beside this example).
    #[arg(long)]
    binary: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let binary = match options.binary {
        Some(binary) => binary,
        None => {
            std::env::current_exe()?.parent().and_then(Path::parent).context("no target folder")?.join("talqo-server")
        }
    };
    drop_database().await?;
    let files = std::env::temp_dir().join(DATABASE_NAME);
    std::fs::remove_dir_all(&files).ok();
    std::fs::create_dir_all(files.join("spool"))?;
    let mut server = Server::start(&binary, &files).await?;
    println!("talqo-server {} — Teamio import benchmark", binary.display());

    let cv = b64(&padded_pdf::padded_pdf(CV_BYTES)?);
    let letter = b64("I would love to join your team: Rust, PostgreSQL and Kubernetes are my daily tools.".as_bytes());
    let started = Instant::now();
    let mut clients = JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..options.clients {
        let (server, next, cv, letter) = (server.endpoint.clone(), next.clone(), cv.clone(), letter.clone());
        let requests = options.requests;
        clients.spawn(async move {
            let mut accepted = 0usize;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    return accepted;
                }
                let body = json!({
                    "firstName": "Bench", "surname": format!("Candidate {n}"), "email": format!("bench{n}@example.com"),
                    "recruitmentId": server.recruitment_id,
                    "attachments": [
                        {"filename": "cv.pdf", "contentType": "application/pdf", "type": "CV", "content": cv},
                        {"filename": "letter.txt", "contentType": "text/plain", "type": "MOTIVATION_LETTER", "content": letter}
                    ],
                    "gdprNotice": {}
                });
                let response = server.client.post(format!("{}/api/v1/candidate-reactions", server.url))
                    .bearer_auth(&server.token).json(&body).send().await;
                if response.is_ok_and(|r| r.status() == 200) {
                    accepted += 1;
                }
            }
        });
    }
    let accepted: usize = clients.join_all().await.into_iter().sum();
    let accept_time = started.elapsed();
    let db = sqlx::PgPool::connect(&server.database_url).await?;
    let completed_time = loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM submissions WHERE status <> 'processing'").fetch_one(&db).await?;
        if done as usize >= accepted {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(900) {
            bail!("only {done} of {accepted} imports completed in 15 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM submissions WHERE status = 'completed'").fetch_one(&db).await?;
    println!(
        "1. throughput: {} imports (1 CV of {} KB + 1 letter), {} clients",
        options.requests,
        CV_BYTES / 1000,
        options.clients
    );
    println!(
        "   accepted (200)      {accepted} in {:.2} s = {:.1} imports/s",
        accept_time.as_secs_f64(),
        accepted as f64 / accept_time.as_secs_f64()
    );
    println!(
        "   completed           {completed} in {:.2} s = {:.1} imports/s",
        completed_time.as_secs_f64(),
        completed as f64 / completed_time.as_secs_f64()
    );

    // 2. Memory: the peak of this phase only (writing 5 to clear_refs resets VmHWM).
    std::fs::write(format!("/proc/{}/clear_refs", server.pid), "5").ok();
    let baseline = proc_status_kib(server.pid, "VmRSS")?;
    let big_pdf = padded_pdf::padded_pdf(BIG_FILE_BYTES)?;
    let big_other: Vec<u8> = (0..BIG_FILE_BYTES).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (big_pdf, big_other) = (Bytes::from(b64(&big_pdf)), Bytes::from(b64(&big_other)));
    let before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM submissions WHERE status <> 'processing'").fetch_one(&db).await?;
    let started = Instant::now();
    let mut uploads = JoinSet::new();
    for n in 0..options.big_clients {
        let (server, big_pdf, big_other) = (server.endpoint.clone(), big_pdf.clone(), big_other.clone());
        uploads.spawn(async move {
            let head = format!(
                "{{\"firstName\":\"Big\",\"surname\":\"Upload {n}\",\"email\":\"big{n}@example.com\",\"recruitmentId\":{},\"gdprNotice\":{{}},\"attachments\":[",
                server.recruitment_id
            );
            let mut parts: Vec<Bytes> = vec![Bytes::from(head)];
            for i in 0..5 {
                let (kind, name, content) = if i == 0 { ("CV", "cv.pdf", &big_pdf) } else { ("OTHER", "other.bin", &big_other) };
                let separator = if i == 0 { "" } else { "," };
                parts.push(Bytes::from(format!("{separator}{{\"filename\":\"{name}\",\"contentType\":\"application/octet-stream\",\"type\":\"{kind}\",\"content\":\"")));
                // The client sends the base64 in 64 KiB pieces, sharing one copy between all clients.
                let mut offset = 0;
                while offset < content.len() {
                    let end = (offset + 64 * 1024).min(content.len());
                    parts.push(content.slice(offset..end));
                    offset = end;
                }
                parts.push(Bytes::from_static(b"\"}"));
            }
            parts.push(Bytes::from_static(b"]}"));
            let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>));
            let response = server.client.post(format!("{}/api/v1/candidate-reactions", server.url))
                .bearer_auth(&server.token).header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(stream)).send().await;
            response.map(|r| r.status().as_u16()).unwrap_or(0)
        });
    }
    let mut peak_sampled = baseline;
    let mut statuses = Vec::new();
    while !uploads.is_empty() {
        peak_sampled = peak_sampled.max(proc_status_kib(server.pid, "VmRSS").unwrap_or(0));
        tokio::select! {
            Some(status) = uploads.join_next() => statuses.push(status.unwrap_or(0)),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    let accepted_in = started.elapsed();
    let hwm_streaming = proc_status_kib(server.pid, "VmHWM")?;
    loop {
        peak_sampled = peak_sampled.max(proc_status_kib(server.pid, "VmRSS").unwrap_or(0));
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM submissions WHERE status <> 'processing'").fetch_one(&db).await?;
        if done >= before + options.big_clients as i64 || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let processed_in = started.elapsed();
    let hwm = proc_status_kib(server.pid, "VmHWM")?;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    println!(
        "2. memory: {} clients × 5 attachments of 10 MiB ({:.0} MiB of JSON each)",
        options.big_clients,
        (5 * big_pdf.len()) as f64 / MIB
    );
    println!(
        "   accepted            {ok} of {} in {:.1} s; processed in {:.1} s",
        options.big_clients,
        accepted_in.as_secs_f64(),
        processed_in.as_secs_f64()
    );
    let mut counts = std::collections::BTreeMap::new();
    for status in &statuses {
        *counts.entry(*status).or_insert(0) += 1;
    }
    println!("   status codes        {counts:?} (0 = no answer)");
    println!("   RSS baseline        {:>7.1} MiB", baseline as f64 / 1024.0);
    println!("   VmHWM streaming     {:>7.1} MiB (until every request was answered)", hwm_streaming as f64 / 1024.0);
    println!(
        "   VmHWM overall       {:>7.1} MiB (streaming and processing; extraction children not counted)",
        hwm as f64 / 1024.0
    );
    println!("   sampled peak RSS    {:>7.1} MiB", peak_sampled as f64 / 1024.0);
    db.close().await;
    server.stop().await;
    if ok < options.big_clients {
        let log = std::fs::read_to_string(files.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        println!("   server log (last lines):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    drop_database().await?;
    std::fs::remove_dir_all(&files).ok();
    Ok(())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Clone)]
struct Endpoint {
    client: reqwest::Client,
    url: Arc<str>,
    token: Arc<str>,
    recruitment_id: i64,
}

struct Server {
    child: Child,
    pid: u32,
    database_url: String,
    endpoint: Endpoint,
}

impl Server {
    async fn start(binary: &Path, files: &Path) -> anyhow::Result<Server> {
        let database_url = format!("{}/{DATABASE_NAME}", postgres_base_url());
        let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string();
        let env: Vec<(&str, String)> = vec![
            ("DATABASE_URL", database_url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "32".to_owned()),
            ("LISTEN_ADDR", address.clone()),
            ("CAREER_API_RATE_LIMIT_PER_IP", "1000000".to_owned()),
            ("IMPORT_RATE_LIMIT_PER_COMPANY", "1000000".to_owned()),
            ("STORAGE_URL", format!("file://{}", files.join("storage").display())),
            ("MAIL_URL", format!("file://{}", files.join("mail").display())),
            ("SPOOL_DIR", files.join("spool").display().to_string()),
        ];
        let cli = |args: &'static [&'static str]| run_cli(binary, files, &env, args);
        cli(&["company", "create", "--name", "Bench Company", "--slug", "bench", "--locale", "en"]).await?;
        let client = cli(&["import-client", "create", "--company", "bench"]).await?;
        let offer = cli(&[
            "offer",
            "create",
            "--company",
            "bench",
            "--title",
            "Senior Rust engineer",
            "--description",
            "We build APIs in Rust with axum, PostgreSQL and Kubernetes.",
        ])
        .await?;
        let log = std::fs::File::create(files.join("server.log"))?;
        let child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .current_dir(files)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("the server exited at once")?;
        let http = reqwest::Client::new();
        let url = format!("http://{address}");
        for _ in 0..600 {
            if http.get(format!("{url}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let token: Value = http
            .post(format!("{url}/api/v1/auth/token"))
            .json(&json!({"username": client["client_id"], "password": client["client_secret"]}))
            .send()
            .await?
            .json()
            .await?;
        let endpoint = Endpoint {
            client: http,
            url: url.into(),
            token: token["accessToken"].as_str().context("no token")?.into(),
            recruitment_id: offer["recruitment_id"].as_i64().context("no recruitment_id")?,
        };
        Ok(Server { child, pid, database_url, endpoint })
    }

    async fn stop(&mut self) {
        Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await.ok();
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            self.child.kill().await.ok();
        }
    }
}

async fn run_cli(binary: &Path, files: &Path, env: &[(&str, String)], args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new(binary)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .current_dir(files)
        .stdin(Stdio::null())
        .output()
        .await?;
    if !output.status.success() {
        bail!("talqo-server {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn postgres_base_url() -> String {
    std::env::var("TALQO_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

async fn drop_database() -> anyhow::Result<()> {
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", postgres_base_url())).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{DATABASE_NAME}\" WITH (FORCE)")).execute(&admin).await?;
    admin.close().await;
    Ok(())
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
