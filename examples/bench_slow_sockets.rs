//! Benchmark of the server under a slowloris (CONTRACT §11): holds N slow sockets open against the real
//! server binary (each sends a header line every few seconds and never ends its headers; when the server
//! cuts one after HEADER_READ_TIMEOUT, it reconnects at once, as an attacker would), and meanwhile times
//! `GET /healthz` and a listing request, each on a new connection. Prints the latencies and the server's
//! RSS before, during and after. Loopback only, bounded in time; asserts nothing.
//!
//! ```text
//! cargo build --release --bin talqo-server --example bench_slow_sockets
//! target/release/examples/bench_slow_sockets [--sockets 10000] [--hold 30]
//! ```
//!
//! The server is `target/release/talqo-server` (or `--server PATH`), on a fresh database `talqo_bench_slow`
//! on the PostgreSQL at `TALQO_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`), dropped
//! at the end.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "Holds N slow sockets against the server and times /healthz and a listing meanwhile")]
struct Args {
    /// Slow sockets to hold at once.
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Seconds to hold them (the whole run takes about this plus 20 s).
    #[arg(long, default_value_t = 30)]
    hold: u64,
    /// The server binary (default: talqo-server beside this example's folder).
    #[arg(long)]
    server: Option<PathBuf>,
}

const DATABASE: &str = "talqo_bench_slow";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.hold > 600 || args.sockets > 50_000 {
        bail!("--hold is at most 600 s and --sockets at most 50000: this is a benchmark, not a load generator");
    }
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")?;
    if limit < args.sockets as u64 + 256 {
        bail!("the open-file limit is {limit}: not enough for {} sockets", args.sockets);
    }
    let server_bin = match args.server {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .context("locating the server binary")?
            .join("talqo-server"),
    };
    let base_url =
        std::env::var("TALQO_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let database_url = format!("{base_url}/{DATABASE}");
    drop_database(&base_url).await?;

    // A company, a key and a few offers, made with the operator's commands.
    let cli = |args: &[&str]| -> anyhow::Result<serde_json::Value> {
        let output = Command::new(&server_bin).args(args).env("DATABASE_URL", &database_url).output()?;
        if !output.status.success() {
            bail!("{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    };
    cli(&["company", "create", "--name", "Bench"])?;
    let key = cli(&["api-key", "create", "--company", "bench"])?["key"].as_str().context("a key")?.to_owned();
    for i in 0..30 {
        cli(&["offer", "create", "--company", "bench", "--title", &format!("Offer {i}"), "--location", "Lyon"])?;
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let address = format!("127.0.0.1:{port}");
    let data = tempfile::tempdir()?;
    let mut server = Command::new(&server_bin)
        .arg("serve")
        .env("DATABASE_URL", &database_url)
        .env("LISTEN_ADDR", &address)
        .env("STORAGE_URL", format!("file://{}", data.path().join("storage").display()))
        .env("MAIL_URL", format!("file://{}", data.path().join("mail").display()))
        .env("CAREER_API_RATE_LIMIT_PER_IP", "1000000")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .context("starting the server")?;
    println!("load average at the start: {}", load_average());
    let result = run(&args.sockets, args.hold, &address, &key, &server).await;
    println!("load average at the end: {}", load_average());
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().ok();
    let status = server.wait()?;
    println!("server exit after SIGTERM: {status}");
    drop_database(&base_url).await?;
    result
}

async fn run(sockets: &usize, hold: u64, address: &str, key: &str, server: &Child) -> anyhow::Result<()> {
    let sockets = *sockets;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(10)).build()?;
    let healthz = format!("http://{address}/healthz");
    let listing = format!("http://{address}/api/job_offers?location=lyon&per_page=20");
    let started = Instant::now();
    while client.get(&healthz).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server did not start");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Warm up, then the figures before.
    for _ in 0..20 {
        client.get(&listing).header("X-API-Key", key).send().await?;
    }
    let pid = server.id();
    let (rss_before, _) = rss_kib(pid);
    let quiet_healthz = sample(&client, &healthz, None, 20).await;
    let quiet_listing = sample(&client, &listing, Some(key), 20).await;
    println!("server RSS before: {} MiB", rss_before / 1024);
    println!("without slow sockets: /healthz {}; listing {}", summary(&quiet_healthz), summary(&quiet_listing));

    let stop = CancellationToken::new();
    let open = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(sockets);
    for i in 0..sockets {
        tasks.push(tokio::spawn(slow_socket(i as u64, address.to_owned(), stop.clone(), open.clone(), cut.clone())));
        // Ramp up: the listen backlog holds 1024 connections.
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let ramp_until = Instant::now() + Duration::from_secs(20);
    while open.load(Ordering::Relaxed) < sockets && Instant::now() < ramp_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("slow sockets open: {} of {sockets}", open.load(Ordering::Relaxed));

    let hold_until = Instant::now() + Duration::from_secs(hold);
    let (mut healthz_times, mut listing_times) = (Vec::new(), Vec::new());
    let (mut rss_peak, mut open_min) = (0, usize::MAX);
    while Instant::now() < hold_until {
        healthz_times.extend(sample(&client, &healthz, None, 1).await);
        listing_times.extend(sample(&client, &listing, Some(key), 1).await);
        rss_peak = rss_peak.max(rss_kib(pid).0);
        open_min = open_min.min(open.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, hwm) = rss_kib(pid);
    println!(
        "during {hold} s with {sockets} slow sockets (at least {open_min} open at each sample; {} cut by the server and reopened):",
        cut.load(Ordering::Relaxed)
    );
    println!("  /healthz {}", summary(&healthz_times));
    println!("  listing  {}", summary(&listing_times));
    println!("  server RSS during: {} MiB (peak sampled), high-water mark {} MiB", rss_peak / 1024, hwm / 1024);

    stop.cancel();
    for task in tasks {
        task.await.ok();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_after, _) = rss_kib(pid);
    let after_healthz = sample(&client, &healthz, None, 20).await;
    println!(
        "5 s after the slow sockets closed: server RSS {} MiB; /healthz {}",
        rss_after / 1024,
        summary(&after_healthz)
    );
    Ok(())
}

/// One attacker's socket: a request line and then a header line every 2-5 s, never the blank line that ends
/// the headers. Reconnects when the server cuts it, until `stop`.
async fn slow_socket(
    seed: u64,
    address: String,
    stop: CancellationToken,
    open: Arc<AtomicUsize>,
    cut: Arc<AtomicUsize>,
) {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while !stop.is_cancelled() {
        let Ok(mut stream) = TcpStream::connect(&address).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        let mut buffer = [0u8; 256];
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n").await;
        loop {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let pause = Duration::from_millis(2_000 + (rng >> 33) % 3_000);
            tokio::select! {
                () = stop.cancelled() => break,
                read = stream.read(&mut buffer) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        cut.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                () = tokio::time::sleep(pause) => {
                    if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        cut.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `count` requests, each on a new connection; their latencies (a failed request counts as 10 s).
async fn sample(client: &reqwest::Client, url: &str, key: Option<&str>, count: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        let started = Instant::now();
        let ok = match request.send().await {
            Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
            Err(_) => false,
        };
        times.push(if ok { started.elapsed() } else { Duration::from_secs(10) });
    }
    times
}

fn summary(times: &[Duration]) -> String {
    if times.is_empty() {
        return "no samples".to_owned();
    }
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    format!("n={} p50 {} p99 {} max {}", sorted.len(), ms(at(0.5)), ms(at(0.99)), ms(at(1.0)))
}

/// The machine's load (1, 5, 15 min): the figures mean little on a busy machine.
fn load_average() -> String {
    let raw = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = raw.split_whitespace().take(3).collect();
    format!("{} (1, 5, 15 min)", fields.join(" "))
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn drop_database(base_url: &str) -> anyhow::Result<()> {
    let admin = sqlx::PgPool::connect(&format!("{base_url}/postgres"))
        .await
        .context("cannot connect to PostgreSQL (TALQO_BENCH_POSTGRES_URL)")?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{DATABASE}\" WITH (FORCE)")).execute(&admin).await?;
    admin.close().await;
    Ok(())
}
