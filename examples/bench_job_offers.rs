//! Benchmark of the job offers listing (CONTRACT §4) on a database of N generated offers: load time,
//! per-query latency over real HTTP against the real server, the PostgreSQL plans of the location-filtered
//! queries, then throughput: the server against `pgbench` running the listing's statements (key lookup,
//! total, page) at the same concurrency, in turns, and their ratio. Prints figures; asserts nothing.
//!
//! ```text
//! cargo run --release --example bench_job_offers -- --offers 10000
//! cargo run --release --example bench_job_offers -- --offers 1000000 [--requests 200] [--keep]
//!     [--clients 16] [--seconds 10] [--rounds 2]
//! ```
//!
//! The HTTP load comes from a small keep-alive HTTP/1.1 client on one thread of its own (as lean as `pgbench`
//! is for SQL); `pgbench` (`PGBENCH`, else on `PATH`, else PostgreSQL 15's) runs with `-M prepared` on one
//! thread too. Both compete with the server and PostgreSQL for the same cores.
//!
//! The database `talqo_bench_<N>` is created on the PostgreSQL at `TALQO_BENCH_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432`), dropped first if it exists, and dropped at the end
//! unless `--keep`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use sqlx::{PgPool, Postgres, QueryBuilder};
use talqo_server::config::Settings;
use talqo_server::db::companies::NewCompany;
use talqo_server::db::job_offers::{OfferFields, listing_sql, page_sql, total_sql};
use talqo_server::domain::api_key::NewApiKey;
use talqo_server::domain::job_offer_query::JobOfferQuery;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use uuid::Uuid;

/// The same batch size as `offer import`, so the load time says what an operator's import costs.
const BATCH_SIZE: usize = 5_000;
const WARM_UP_REQUESTS: usize = 10;

/// The listings timed, as a career site would ask for them.
const QUERIES: &[&str] = &[
    "",
    "location=lyon",
    "location=saint",
    "location=lyon&page=5",
    "job_type=CDI&per_page=50",
    "published_after=2025-01-01&location=paris",
    "location=brest",
    "page=500",
];

/// Date-bounded listings timed on the first request after a write, when the listing cache has nothing to
/// serve and the server runs its statement: a year, with and without filters, and bounds inside a day.
const AFTER_A_WRITE: &[&str] = &[
    "published_after=2025-01-01",
    "published_after=2025-01-01&location=paris",
    "published_after=2025-01-01&job_type=CDI",
    "published_after=2025-03-01T12:00:00Z&published_before=2025-09-30T08:00:00Z&location=lyon",
    "published_after=2025-01-01&location=saint&job_type=CDI",
    "published_after=2024-01-01&location=e",
];

/// The queries whose SQL plans are printed.
const EXPLAINED: &[&str] =
    &["location=lyon", "location=saint", "published_after=2025-01-01", "published_after=2025-01-01&location=paris"];

#[derive(Parser)]
#[command(about = "Times GET /api/job_offers on a database of generated offers")]
struct Args {
    /// How many offers to generate.
    #[arg(long, default_value_t = 10_000)]
    offers: usize,
    /// Timed requests per query (after a warm-up of 10).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Keep the database afterwards (to look at it with psql).
    #[arg(long)]
    keep: bool,
    /// Concurrent clients of the throughput comparison (HTTP connections, and pgbench clients).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of each timed turn of the throughput comparison.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Turns of (server, pgbench) per listing.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

/// The listings whose throughput is compared with pgbench's.
const THROUGHPUT_QUERIES: &[&str] = &["", "location=lyon"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let base_url =
        std::env::var("TALQO_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let db_name = format!("talqo_bench_{}", args.offers);
    let database_url = format!("{base_url}/{db_name}");

    let admin = PgPool::connect(&format!("{base_url}/postgres"))
        .await
        .context("cannot connect to PostgreSQL (TALQO_BENCH_POSTGRES_URL)")?;
    drop_database(&admin, &db_name).await?;
    let server_version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&admin).await?;
    println!("# GET /api/job_offers with {} offers", args.offers);
    println!(
        "PostgreSQL {server_version}, {} CPU cores, database {db_name}",
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let db = talqo_server::db::connect_and_migrate(&database_url, 4).await?;
    let pgbench = find_pgbench()?;
    let api_key = create_company_and_key(&db).await?;
    load_offers(&db, api_key.company_id, args.offers).await?;

    let scratch = tempfile::tempdir().context("creating a scratch directory")?;
    let settings = bench_settings(&database_url, scratch.path(), args.clients)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(talqo_server::server::run(settings, listener, async {
        stopped.await.ok();
    }));
    let client = reqwest::Client::new();
    wait_until_ready(&client, &format!("http://{address}/readyz")).await?;

    println!(
        "\n## Latency over HTTP ({} sequential requests per query, after {WARM_UP_REQUESTS} warm-up)",
        args.requests
    );
    println!("{:<48} {:>9} {:>9} {:>9} {:>9}", "query", "median", "p95", "max", "total");
    for query in QUERIES {
        let url = format!("http://{address}/api/job_offers?{query}");
        let timing = time_query(&client, &url, &api_key.secret, args.requests).await?;
        println!(
            "{:<48} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>9}",
            format!("/api/job_offers?{query}"),
            timing.median_ms,
            timing.p95_ms,
            timing.max_ms,
            timing.total
        );
    }

    println!(
        "\n## Latency of the first request after a write ({} times per query: an offer's title is rewritten, \
         which changes the company's listing version, then one request)",
        args.requests
    );
    println!("{:<48} {:>9} {:>9} {:>9} {:>9}", "query", "median", "p95", "max", "total");
    for query in AFTER_A_WRITE {
        let url = format!("http://{address}/api/job_offers?{query}");
        let timing = time_after_write(&db, &client, &url, &api_key, args.requests).await?;
        println!(
            "{:<48} {:>6.2} ms {:>6.2} ms {:>6.2} ms {:>9}",
            format!("?{query}"),
            timing.median_ms,
            timing.p95_ms,
            timing.max_ms,
            timing.total
        );
    }

    println!("\n## Plans (EXPLAIN (ANALYZE, BUFFERS), built as src/db/job_offers.rs builds them)");
    for query in EXPLAINED {
        print_plans(&db, api_key.company_id, query).await?;
    }

    println!(
        "\n## Throughput: the server against pgbench on the listing's statements, {} clients each, {} s turns",
        args.clients, args.seconds
    );
    println!("pgbench: {}", pgbench.display());
    for query in THROUGHPUT_QUERIES {
        let path = format!("/api/job_offers{}{query}", if query.is_empty() { "" } else { "?" });
        let script = pgbench_script(scratch.path(), &api_key, query)?;
        let mut server_rates = Vec::new();
        let mut pgbench_rates = Vec::new();
        for round in 1..=args.rounds {
            let server_rate = http_throughput(address, &path, &api_key.secret, args.clients, args.seconds)?;
            let pgbench_rate = pgbench_throughput(&pgbench, &database_url, &script, args.clients, args.seconds)?;
            println!(
                "{path:<34} turn {round}: server {server_rate:>8.0} requests/s   pgbench {pgbench_rate:>8.0} transactions/s"
            );
            server_rates.push(server_rate);
            pgbench_rates.push(pgbench_rate);
        }
        let server_rate = server_rates.iter().sum::<f64>() / server_rates.len() as f64;
        let pgbench_rate = pgbench_rates.iter().sum::<f64>() / pgbench_rates.len() as f64;
        println!(
            "{path:<34} mean:   server {server_rate:>8.0} requests/s   pgbench {pgbench_rate:>8.0} transactions/s   ratio {:.2}",
            server_rate / pgbench_rate
        );
    }

    stop.send(()).ok();
    server.await.context("the server task panicked")??;
    db.close().await;
    if args.keep {
        println!("\nkept the database: {database_url}");
    } else {
        drop_database(&admin, &db_name).await?;
    }
    Ok(())
}

async fn drop_database(admin: &PgPool, name: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(admin)
        .await
        .with_context(|| format!("dropping {name}"))?;
    Ok(())
}

struct BenchKey {
    company_id: Uuid,
    secret: String,
    prefix: String,
}

async fn create_company_and_key(db: &PgPool) -> anyhow::Result<BenchKey> {
    let company = talqo_server::db::companies::insert(
        db,
        &NewCompany { name: "Bench Recrutement", slug: "bench", auto_reject_threshold: None, locale: "fr" },
    )
    .await?;
    let key = NewApiKey::generate()?;
    talqo_server::db::api_keys::insert(db, company.id, &key, "bench").await?;
    Ok(BenchKey { company_id: company.id, secret: key.secret, prefix: key.prefix })
}

/// Inserts the offers in one transaction, in batches, then vacuums and analyzes, the way `offer import` does.
async fn load_offers(db: &PgPool, company_id: Uuid, count: usize) -> anyhow::Result<()> {
    let mut generator = OfferGenerator::new(0x7a1c_0b3e_5eed, Utc::now());
    let started = Instant::now();
    let mut tx = db.begin().await?;
    let mut loaded = 0;
    while loaded < count {
        let batch: Vec<OfferFields> = (0..BATCH_SIZE.min(count - loaded)).map(|_| generator.offer()).collect();
        let written = talqo_server::db::job_offers::import_batch(&mut tx, company_id, &batch).await?;
        if written != batch.len() as u64 {
            bail!("a batch of {} offers wrote {written} rows", batch.len());
        }
        loaded += batch.len();
        if loaded % 100_000 == 0 {
            eprintln!("  {loaded} offers, {:.1}s", started.elapsed().as_secs_f64());
        }
    }
    tx.commit().await?;
    let inserted = started.elapsed();
    talqo_server::db::job_offers::tidy_after_bulk_write(db).await?;
    let analyzed = started.elapsed() - inserted;
    let size: String = sqlx::query_scalar(
        "SELECT pg_size_pretty(pg_total_relation_size('job_offers'))
             || ' (table ' || pg_size_pretty(pg_relation_size('job_offers'))
             || ', indexes ' || pg_size_pretty(pg_indexes_size('job_offers')) || ')'",
    )
    .fetch_one(db)
    .await?;
    println!(
        "\n## Load\n{count} offers inserted in {:.1}s ({:.0} offers/s) in batches of {BATCH_SIZE}, \
         then VACUUM (ANALYZE) of the counters and ANALYZE as `offer import` does, {:.1}s; job_offers is {size}",
        inserted.as_secs_f64(),
        count as f64 / inserted.as_secs_f64(),
        analyzed.as_secs_f64()
    );
    Ok(())
}

fn bench_settings(database_url: &str, scratch: &std::path::Path, clients: usize) -> anyhow::Result<Settings> {
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        // As many connections as pgbench gets.
        ("DATABASE_MAX_CONNECTIONS", clients.to_string()),
        ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        // Every request comes from 127.0.0.1: the limiter must never be what is measured.
        ("CAREER_API_RATE_LIMIT_PER_IP", "1000000000".to_owned()),
        ("STORAGE_URL", format!("file://{}", scratch.join("cvs").display())),
        ("MAIL_URL", format!("file://{}", scratch.join("mail").display())),
    ]);
    Settings::from_lookup(|name| vars.get(name).cloned())
}

async fn wait_until_ready(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    for _ in 0..400 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the server did not become ready at {url}")
}

struct Timing {
    median_ms: f64,
    p95_ms: f64,
    max_ms: f64,
    total: i64,
}

async fn time_query(client: &reqwest::Client, url: &str, key: &str, requests: usize) -> anyhow::Result<Timing> {
    let mut total = 0;
    for _ in 0..WARM_UP_REQUESTS {
        total = fetch_total(client, url, key).await?;
    }
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        fetch_total(client, url, key).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(timing_of(samples, total))
}

fn timing_of(mut samples: Vec<f64>, total: i64) -> Timing {
    samples.sort_by(f64::total_cmp);
    let at = |fraction: f64| {
        let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
        samples.get(index).copied().unwrap_or(f64::NAN)
    };
    Timing { median_ms: at(0.5), p95_ms: at(0.95), max_ms: samples.last().copied().unwrap_or(f64::NAN), total }
}

/// Times the request made right after each of `requests` writes to the company's offers (the write itself is
/// not timed), so that every timed request misses the listing cache.
async fn time_after_write(
    db: &PgPool,
    client: &reqwest::Client,
    url: &str,
    key: &BenchKey,
    requests: usize,
) -> anyhow::Result<Timing> {
    let mut total = 0;
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        sqlx::query(
            "UPDATE job_offers SET title = title
             WHERE id = (SELECT id FROM job_offers WHERE company_id = $1 ORDER BY id LIMIT 1)",
        )
        .bind(key.company_id)
        .execute(db)
        .await?;
        let started = Instant::now();
        total = fetch_total(client, url, &key.secret).await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(timing_of(samples, total))
}

/// One request, body read and parsed as a client would; returns `pagination.total`.
async fn fetch_total(client: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<i64> {
    let response = client.get(url).header("X-API-Key", key).send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    body["pagination"]["total"].as_i64().with_context(|| format!("{url}: no pagination.total in {body}"))
}

/// The total and page queries of `db::job_offers::list` for `raw_query`, under `EXPLAIN (ANALYZE, BUFFERS)`.
async fn print_plans(db: &PgPool, company_id: Uuid, raw_query: &str) -> anyhow::Result<()> {
    let query = JobOfferQuery::parse(Some(raw_query)).map_err(anyhow::Error::msg)?;
    let explain = "EXPLAIN (ANALYZE, BUFFERS) ";
    print_plan(db, &format!("total for ?{raw_query}"), total_sql(explain, company_id, &query)).await?;
    print_plan(db, &format!("page for ?{raw_query}"), page_sql(explain, company_id, &query)).await?;
    print_plan(db, &format!("the server's one statement for ?{raw_query}"), listing_sql(explain, company_id, &query))
        .await
}

async fn print_plan(db: &PgPool, label: &str, mut sql: QueryBuilder<'_, Postgres>) -> anyhow::Result<()> {
    let lines: Vec<String> = sql.build_query_scalar().fetch_all(db).await?;
    println!("\n### {label}");
    for line in lines {
        println!("    {line}");
    }
    Ok(())
}

fn find_pgbench() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PGBENCH") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("pgbench"))
        .find(|candidate| candidate.is_file());
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin/pgbench");
    on_path
        .or_else(|| debian.is_file().then_some(debian))
        .context("pgbench not found: install postgresql-contrib (Debian: postgresql-15) or set PGBENCH")
}

/// The statements a listing needs, as the server ran them before its cache (and still runs them, in one
/// statement, when the company's offers have changed): the key lookup, the total, the page.
fn pgbench_script(dir: &Path, key: &BenchKey, raw_query: &str) -> anyhow::Result<PathBuf> {
    let query = JobOfferQuery::parse(Some(raw_query)).map_err(anyhow::Error::msg)?;
    let company = key.company_id;
    let location = match query.location_pattern() {
        Some(pattern) => format!(" AND location ILIKE '{}'", pattern.replace('\'', "''")),
        None => String::new(),
    };
    let script = format!(
        "SELECT id, company_id, key_hash FROM api_keys WHERE prefix = '{prefix}' AND revoked_at IS NULL;\n\
         SELECT COALESCE(sum(offers), 0)::bigint FROM job_offer_counts \
         WHERE company_id = '{company}' AND status = 'open'{location};\n\
         SELECT id, company_id, title, description, location, job_type, published_at, status, updated_at \
         FROM job_offers WHERE company_id = '{company}' AND status = 'open'{location} \
         ORDER BY published_at DESC NULLS LAST, id LIMIT {limit} OFFSET {offset};\n",
        prefix = key.prefix,
        limit = query.per_page,
        offset = query.offset(),
    );
    let path = dir.join(format!(
        "listing{}.sql",
        if raw_query.is_empty() { String::new() } else { format!("-{}", raw_query.replace(['=', '&'], "-")) }
    ));
    std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Transactions per second of `pgbench` running `script`, excluding connection time.
fn pgbench_throughput(
    pgbench: &Path,
    database_url: &str,
    script: &Path,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let output = std::process::Command::new(pgbench)
        .args(["-n", "-M", "prepared", "-j", "1", "-c", &clients.to_string(), "-T", &seconds.to_string(), "-f"])
        .arg(script)
        .arg(database_url)
        .output()
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    }
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))
}

/// Requests per second over `clients` keep-alive connections for `seconds`, after a one-second warm-up, from
/// a thread and runtime of their own. Every answer must be a 200.
fn http_throughput(address: SocketAddr, path: &str, key: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let request: Arc<[u8]> =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nX-API-Key: {key}\r\nUser-Agent: bench\r\n\r\n")
            .into_bytes()
            .into();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(async {
                    let warm_up = Instant::now() + Duration::from_secs(1);
                    let connections: Vec<_> = (0..clients)
                        .map(|_| {
                            tokio::spawn(keep_asking(address, request.clone(), warm_up, Duration::from_secs(seconds)))
                        })
                        .collect();
                    let mut answered = 0u64;
                    for connection in connections {
                        answered += connection.await??;
                    }
                    Ok(answered as f64 / seconds as f64)
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the load thread panicked"))?
    })
}

/// One connection: requests until the measured period ends; returns how many were answered in it.
async fn keep_asking(address: SocketAddr, request: Arc<[u8]>, start: Instant, period: Duration) -> anyhow::Result<u64> {
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let mut buffer = Vec::with_capacity(64 << 10);
    let mut answered = 0;
    let end = start + period;
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(answered);
        }
        stream.write_all(&request).await?;
        let status = read_response(&mut stream, &mut buffer).await?;
        if status != 200 {
            bail!("the listing answered {status}");
        }
        if now >= start {
            answered += 1;
        }
    }
}

/// Reads one response with a `Content-Length` body; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    loop {
        if let Some(header_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..header_end]).context("response head")?;
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).context("status line")?;
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            let total = header_end + 4 + length;
            while buffer.len() < total {
                if stream.read_buf(buffer).await? == 0 {
                    bail!("connection closed mid-response");
                }
            }
            buffer.drain(..total);
            return Ok(status);
        }
        if stream.read_buf(buffer).await? == 0 {
            bail!("connection closed");
        }
    }
}

/// Realistic, varied offers from a fixed seed, so two runs of the same size hold the same data.
struct OfferGenerator {
    state: u64,
    now: DateTime<Utc>,
}

/// Weighted as a French job board is: Paris and Lyon dominate, a long tail of other cities, a few
/// European ones, and forms with districts, department numbers and remote work.
const LOCATIONS: &[(&str, u32)] = &[
    ("Paris", 160),
    ("Paris 8e", 25),
    ("Paris (75)", 20),
    ("La Défense", 15),
    ("Lyon", 90),
    ("Lyon 3e", 15),
    ("Villeurbanne (près de Lyon)", 8),
    ("Marseille", 45),
    ("Toulouse", 45),
    ("Nantes", 40),
    ("Bordeaux", 40),
    ("Lille", 40),
    ("Rennes", 30),
    ("Strasbourg", 25),
    ("Montpellier", 25),
    ("Nice", 20),
    ("Grenoble", 20),
    ("Aix-en-Provence", 15),
    ("Saint-Étienne", 12),
    ("Saint-Denis", 10),
    ("Saint-Malo", 5),
    ("Saint-Nazaire", 6),
    ("Clermont-Ferrand", 10),
    ("Tours", 10),
    ("Dijon", 9),
    ("Angers", 9),
    ("Reims", 8),
    ("Le Havre", 7),
    ("Rouen", 10),
    ("Brest", 6),
    ("Limoges", 5),
    ("Metz", 6),
    ("Nancy", 7),
    ("Caen", 7),
    ("Orléans", 7),
    ("Annecy", 6),
    ("Sophia Antipolis", 8),
    ("Bruxelles, Belgique", 12),
    ("Genève, Suisse", 10),
    ("Lausanne, Suisse", 6),
    ("Luxembourg", 10),
    ("Barcelone, Espagne", 5),
    ("Berlin, Allemagne", 5),
    ("Londres, Royaume-Uni", 4),
    ("Télétravail (France)", 30),
    ("Hybride - Paris / Télétravail", 20),
];

const JOB_TYPES: &[(&str, u32)] = &[("CDI", 55), ("CDD", 20), ("Freelance", 15), ("Stage", 10)];

const STATUSES: &[(&str, u32)] = &[("open", 85), ("closed", 10), ("draft", 5)];

const ROLES: &[&str] = &[
    "Développeur Backend Rust",
    "Développeur Full Stack",
    "Ingénieur DevOps",
    "Data Engineer",
    "Data Scientist",
    "Product Manager",
    "Product Owner",
    "UX/UI Designer",
    "Chef de projet digital",
    "Comptable",
    "Contrôleur de gestion",
    "Juriste droit social",
    "Chargé de recrutement",
    "Responsable RH",
    "Commercial B2B",
    "Business Developer",
    "Account Manager",
    "Technicien de maintenance",
    "Ingénieur mécanique",
    "Responsable logistique",
    "Infirmier",
    "Pharmacien",
    "Assistant de direction",
    "Community Manager",
    "Chargé de communication",
    "Analyste financier",
    "Architecte cloud",
    "Ingénieur QA",
    "Responsable service client",
    "Acheteur",
];

const SENIORITIES: &[&str] = &["", "", "Junior ", "Senior ", "Lead ", "Stagiaire "];

const SECTORS: &[&str] = &[
    "une scale-up de la fintech",
    "un groupe industriel centenaire",
    "une ESN à taille humaine",
    "un éditeur de logiciels SaaS",
    "un réseau de cliniques",
    "une start-up de la mobilité",
    "un cabinet de conseil",
    "une enseigne de la grande distribution",
];

const MISSIONS: &[&str] = &[
    "- Concevoir et faire évoluer nos services en production\n",
    "- Travailler avec les équipes produit, design et support\n",
    "- Participer aux revues et au partage de connaissances\n",
    "- Suivre les indicateurs et proposer des améliorations\n",
    "- Accompagner nos clients dans la durée\n",
    "- Contribuer au recrutement et à l'intégration des nouveaux arrivants\n",
    "- Garantir la qualité et la conformité des livrables\n",
];

impl OfferGenerator {
    fn new(seed: u64, now: DateTime<Utc>) -> Self {
        Self { state: seed, now }
    }

    /// splitmix64: fast, well spread, and no dependency for a benchmark's fake data.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn weighted<'a>(&mut self, items: &[(&'a str, u32)]) -> &'a str {
        let sum: u32 = items.iter().map(|(_, weight)| weight).sum();
        let mut roll = (self.next() % u64::from(sum)) as u32;
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    fn offer(&mut self) -> OfferFields {
        let job_type = self.weighted(JOB_TYPES);
        let role = self.pick(ROLES);
        let seniority = self.pick(SENIORITIES);
        let title = format!("{seniority}{role} (H/F)");
        // About 2% of offers name no location.
        let location = (self.below(50) != 0).then(|| self.weighted(LOCATIONS).to_owned());
        let status = self.weighted(STATUSES);
        // Spread over the last three years; drafts were never published.
        let published_at = (status != "draft").then(|| {
            let seconds = self.below(3 * 365 * 86_400) as i64;
            self.now - TimeDelta::seconds(seconds)
        });
        let sector = self.pick(SECTORS);
        let mut description = format!(
            "## {title}\n\nRejoignez {sector} en {job_type}{}.\n\n### Vos missions\n",
            location.as_deref().map(|l| format!(", basé à {l}")).unwrap_or_default()
        );
        for _ in 0..2 + self.below(4) {
            description.push_str(self.pick(MISSIONS));
        }
        description.push_str(
            "\n### Profil\nVous aimez le travail bien fait et apprendre des autres. \
             Salaire selon profil, tickets restaurant, mutuelle prise en charge à 60 %.\n",
        );
        OfferFields {
            id: Some(self.uuid()),
            title: Some(title),
            description: Some(description),
            location,
            job_type: Some(job_type.to_owned()),
            status: Some(status.to_owned()),
            published_at,
            ..OfferFields::default()
        }
    }
}
