//! Measures the application intake on this machine and prints the figures (no assertions):
//! 1. applications per second with a ~200 KB PDF CV and concurrent clients, every request a new candidate, so
//!    each one runs the whole CONTRACT §6 pipeline (extraction child, builtin scoring, storage, transaction, outbox);
//! 2. the server process's peak memory while many clients upload a 10 MiB CV at once (uploads are streamed to
//!    disk, so the peak should stay far below the sum of the bodies);
//! 3. CV text extraction time per file of the corpus's `cv/` folder, beside `pdftotext`.
//!
//! The server runs as a separate process (the release `talqo-server` binary), set up with its own CLI:
//!
//! ```text
//! cargo build --release && cargo run --release --example bench_applications -- --clients 16 --requests 400
//! ```
//!
//! Options: `--clients N`, `--requests N`, `--big-clients N`, `--keep` (keep the database `talqo_bench_apps`
//! and the server's files). PostgreSQL: `TALQO_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`).
//! Corpus: `TALQO_CORPUS_DIR` (default `<crate>/../shared/corpus`).

#[path = "support/padded_pdf.rs"]
mod padded_pdf;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use talqo_server::cv::{CvExtractor, ExtractionLimits, extract_file};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

const DATABASE_NAME: &str = "talqo_bench_apps";
/// The throughput CV is the corpus PDF closest to this size.
const TARGET_CV_BYTES: u64 = 200_000;
/// CONTRACT §6 item 7: the default MAX_CV_BYTES is 10 MiB; the big CV is one byte under it, so it is accepted.
const MAX_CV_BYTES: u64 = 10 * 1024 * 1024;
const BIG_CV_BYTES: u64 = MAX_CV_BYTES - 1;
/// How the big CV leaves the client: in chunks of this size, read from disk as they are sent.
const UPLOAD_CHUNK_BYTES: usize = 64 * 1024;
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(50);
const EXTRACTION_RUNS: usize = 5;
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Parser)]
#[command(about = "Benchmark of POST /api/job_applications on this machine")]
struct Options {
    /// Concurrent clients for the throughput measurement.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Applications sent in the throughput measurement.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// Clients uploading a 10 MiB CV at once in the memory measurement.
    #[arg(long, default_value_t = 32)]
    big_clients: usize,
    /// Keep the database and the server's files (storage, mail, spool, log) afterwards.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let binary = server_binary()?;
    let corpus = corpus_dir();
    print_machine(&binary);

    let files = tempfile::Builder::new().prefix("talqo-bench-").tempdir().context("creating a temporary folder")?;
    drop_database().await?;
    let mut server = BenchServer::start(&binary, files.path()).await?;
    let measured = async {
        measure_throughput(&server, &corpus, options.clients.max(1), options.requests).await?;
        measure_upload_memory(&server, files.path(), options.big_clients.max(1)).await
    }
    .await;
    server.stop().await;
    measured?;

    measure_extraction(&binary, &corpus.join("cv")).await?;

    println!();
    print_load("at the end");
    if options.keep {
        println!("\nKept: database {DATABASE_NAME}, files in {}", files.keep().display());
    } else {
        drop_database().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Throughput
// ---------------------------------------------------------------------------------------------------------------

/// Sends `requests` applications, `clients` at a time, each from a new candidate.
async fn measure_throughput(
    server: &BenchServer,
    corpus: &Path,
    clients: usize,
    requests: usize,
) -> anyhow::Result<()> {
    let (cv_path, cv_size) = closest_pdf(&[corpus.join("cv"), corpus.join("pdf")], TARGET_CV_BYTES)?;
    let cv = Bytes::from(std::fs::read(&cv_path).with_context(|| format!("reading {}", cv_path.display()))?);
    println!(
        "\n1. Throughput: {requests} applications, {clients} concurrent clients, CV {} ({} bytes)",
        file_name(&cv_path),
        thousands(cv_size)
    );

    // Opens the clients' connections and wakes the server's pools; not counted.
    send_applications(server, &cv, "warmup", clients, clients).await;
    let started = Instant::now();
    let results = send_applications(server, &cv, "bench", clients, requests).await;
    let total = started.elapsed();

    let mut latencies: Vec<Duration> = results.iter().map(|r| r.latency).collect();
    latencies.sort();
    println!("   warm-up             {clients} requests before the clock starts (not counted)");
    println!("   total time          {:.2} s", total.as_secs_f64());
    println!("   applications/s      {:.1}", results.len() as f64 / total.as_secs_f64());
    println!(
        "   latency             median {}   p95 {}   max {}",
        millis(percentile(&latencies, 0.50)),
        millis(percentile(&latencies, 0.95)),
        millis(latencies.last().copied().unwrap_or_default())
    );
    println!("   status codes        {}", status_counts(&results));

    let db = sqlx::PgPool::connect(&server.database_url).await.context("connecting to the bench database")?;
    let (applications, scored): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(rating) FROM job_applications").fetch_one(&db).await?;
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox").fetch_one(&db).await?;
    db.close().await;
    println!(
        "   in the database     {applications} applications ({scored} scored), {emails} emails in the outbox \
         (warm-up included)"
    );
    Ok(())
}

struct RequestResult {
    /// `None` when the request failed before an answer (connection error).
    status: Option<u16>,
    latency: Duration,
}

/// `count` applications with the CV in memory, `clients` in flight at a time; emails are `<label>-<n>@…`.
async fn send_applications(
    server: &BenchServer,
    cv: &Bytes,
    label: &'static str,
    clients: usize,
    count: usize,
) -> Vec<RequestResult> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (server, cv, next) = (server.endpoint(), cv.clone(), next.clone());
        tasks.spawn(async move {
            let mut results = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return results;
                }
                let part = Part::stream_with_length(cv.clone(), cv.len() as u64);
                results.push(server.post_application(&format!("{label}-{n}@bench.example"), part).await);
            }
        });
    }
    let mut results = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(batch) => results.extend(batch),
            Err(error) => eprintln!("a client task failed: {error}"),
        }
    }
    results
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Peak memory under large uploads
// ---------------------------------------------------------------------------------------------------------------

/// `clients` uploads of a 10 MiB − 1 byte PDF at once, each streamed from disk by the client, while the server's
/// RSS is sampled.
async fn measure_upload_memory(server: &BenchServer, files: &Path, clients: usize) -> anyhow::Result<()> {
    let big_cv = files.join("big-cv.pdf");
    std::fs::write(&big_cv, padded_pdf::padded_pdf(usize::try_from(BIG_CV_BYTES)?)?)
        .context("writing the 10 MiB CV")?;
    let pid = server.pid;
    println!(
        "\n2. Server memory (pid {pid}): {clients} clients each upload a {}-byte PDF at once",
        thousands(BIG_CV_BYTES)
    );

    // Writing 5 to clear_refs resets VmHWM (Linux ≥ 4.0), so the peak is this phase's, not the throughput phase's.
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let baseline = proc_status_kib(pid, "VmRSS")?;
    let (stop_sampling, stop) = oneshot::channel();
    let sampler = tokio::spawn(sample_rss(pid, stop));

    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0..clients {
        let (server, path) = (server.endpoint(), big_cv.clone());
        tasks.spawn(async move {
            let file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(_) => return RequestResult { status: None, latency: Duration::ZERO },
            };
            let chunks = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK_BYTES);
            let part = Part::stream_with_length(reqwest::Body::wrap_stream(chunks), BIG_CV_BYTES);
            server.post_application(&format!("big-{n}@bench.example"), part).await
        });
    }
    let mut results = Vec::with_capacity(clients);
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.context("an upload task failed")?);
    }
    let elapsed = started.elapsed();
    stop_sampling.send(()).ok();
    let samples = sampler.await.context("the RSS sampler failed")?;
    let hwm = proc_status_kib(pid, "VmHWM")?;
    let after = proc_status_kib(pid, "VmRSS")?;

    let mib = |kib: u64| kib as f64 / 1024.0;
    let sum_of_bodies = clients as f64 * MAX_CV_BYTES as f64 / MIB;
    println!("   all answered in     {:.2} s; status codes {}", elapsed.as_secs_f64(), status_counts(&results));
    println!("   baseline RSS        {:>7.1} MiB (before the uploads)", mib(baseline));
    println!(
        "   peak RSS, sampled   {:>7.1} MiB   peak − baseline {:>6.1} MiB   ({} samples, every {} ms)",
        mib(samples.peak_kib),
        mib(samples.peak_kib.saturating_sub(baseline)),
        samples.count,
        RSS_SAMPLE_EVERY.as_millis()
    );
    println!(
        "   VmHWM               {:>7.1} MiB   peak − baseline {:>6.1} MiB   ({})",
        mib(hwm),
        mib(hwm.saturating_sub(baseline)),
        if hwm_reset { "reset just before the uploads" } else { "NOT reset: peak over the server's whole life" }
    );
    println!("   RSS after           {:>7.1} MiB", mib(after));
    println!("   for comparison      {clients} × 10 MiB = {sum_of_bodies:.0} MiB of request bodies");
    println!(
        "   extraction children {:>7.1} MiB   (largest sum of their RSS at a sample; separate processes, not in the \
         server's figures)",
        mib(samples.children_peak_kib)
    );
    Ok(())
}

#[derive(Default)]
struct RssSamples {
    count: usize,
    peak_kib: u64,
    children_peak_kib: u64,
}

/// Samples the server's RSS (and its extraction children's) until `stop` fires.
async fn sample_rss(pid: u32, mut stop: oneshot::Receiver<()>) -> RssSamples {
    let mut samples = RssSamples::default();
    let mut ticks = tokio::time::interval(RSS_SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return samples,
            _ = ticks.tick() => {}
        }
        if let Ok(rss) = proc_status_kib(pid, "VmRSS") {
            samples.count += 1;
            samples.peak_kib = samples.peak_kib.max(rss);
            samples.children_peak_kib = samples.children_peak_kib.max(children_rss_kib(pid));
        }
    }
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// The summed RSS of the process's direct children (the extraction children), 0 when none or unreadable.
fn children_rss_kib(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|children| children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()).collect::<Vec<_>>())
        .filter_map(|child| proc_status_kib(child, "VmRSS").ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Extraction time
// ---------------------------------------------------------------------------------------------------------------

/// Extracts every file of `folder` [`EXTRACTION_RUNS`] times through the server's own path (a child process per
/// CV, as the intake does) and, for the PDFs, with `pdftotext FILE -`; prints each file's median and the medians
/// over files.
async fn measure_extraction(binary: &Path, folder: &Path) -> anyhow::Result<()> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("listing {}", folder.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    let extractor = CvExtractor::new(binary.to_path_buf(), ExtractionLimits::default());
    let pdftotext = Command::new("pdftotext").arg("-v").output().await.is_ok();
    println!(
        "\n3. CV text extraction: median of {EXTRACTION_RUNS} runs per file, {} files of {}",
        paths.len(),
        folder.display()
    );
    println!(
        "   ours: talqo_server::cv::extract_file (detection, then the `__extract-cv` child of {})",
        file_name(binary)
    );
    if !pdftotext {
        println!("   pdftotext not installed: its columns are left empty");
    }
    let name_width = paths.iter().map(|p| file_name(p).len()).max().unwrap_or(4).max(4);
    println!(
        "\n   {:<name_width$}  {:>8}  {:>9}  {:>12}  {:>11}  {:>16}",
        "file", "KiB", "ours ms", "pdftotext ms", "ours chars", "pdftotext chars"
    );

    let (mut ours_all, mut ours_pdf, mut theirs_pdf) = (Vec::new(), Vec::new(), Vec::new());
    for path in &paths {
        let size = std::fs::metadata(path)?.len();
        let (ours, ours_chars) = time_ours(&extractor, path).await;
        ours_all.push(ours);
        let is_pdf = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
        let theirs = if pdftotext && is_pdf {
            ours_pdf.push(ours);
            let (time, chars) = time_pdftotext(path).await;
            theirs_pdf.push(time);
            Some((time, chars))
        } else {
            None
        };
        println!(
            "   {:<name_width$}  {:>8.1}  {:>9.1}  {:>12}  {:>11}  {:>16}",
            file_name(path),
            size as f64 / 1024.0,
            ms(ours),
            theirs.as_ref().map_or("-".to_owned(), |(time, _)| format!("{:.1}", ms(*time))),
            ours_chars,
            theirs.map_or("-".to_owned(), |(_, chars)| chars),
        );
    }
    println!("   (chars: characters other than whitespace in the text)");
    for list in [&mut ours_all, &mut ours_pdf, &mut theirs_pdf] {
        list.sort();
    }
    println!("\n   median over files   ours {:.1} ms ({} files)", ms(percentile(&ours_all, 0.5)), ours_all.len());
    if pdftotext {
        println!(
            "   PDFs only           ours {:.1} ms   pdftotext {:.1} ms ({} files)",
            ms(percentile(&ours_pdf, 0.5)),
            ms(percentile(&theirs_pdf, 0.5)),
            theirs_pdf.len()
        );
    }
    Ok(())
}

/// The median time of our extraction of `path`, and what came out (characters, or the error).
async fn time_ours(extractor: &CvExtractor, path: &Path) -> (Duration, String) {
    let mut times = Vec::with_capacity(EXTRACTION_RUNS);
    let mut outcome = String::new();
    for _ in 0..EXTRACTION_RUNS {
        let started = Instant::now();
        let result = extract_file(extractor, path, MAX_CV_BYTES).await;
        times.push(started.elapsed());
        outcome = match result {
            Ok((_, text)) => thousands(non_space_chars(&text)),
            Err(error) => format!("error: {error}"),
        };
    }
    times.sort();
    (percentile(&times, 0.5), outcome)
}

/// The median time of `pdftotext FILE -` (spawned, output read to the end), and what came out.
async fn time_pdftotext(path: &Path) -> (Duration, String) {
    let mut times = Vec::with_capacity(EXTRACTION_RUNS);
    let mut outcome = String::new();
    for _ in 0..EXTRACTION_RUNS {
        let started = Instant::now();
        let output = Command::new("pdftotext").arg(path).arg("-").stdin(Stdio::null()).output().await;
        times.push(started.elapsed());
        outcome = match output {
            Ok(output) if output.status.success() => {
                thousands(non_space_chars(&String::from_utf8_lossy(&output.stdout)))
            }
            Ok(output) => format!("exit {}", output.status.code().unwrap_or(-1)),
            Err(error) => format!("error: {error}"),
        };
    }
    times.sort();
    (percentile(&times, 0.5), outcome)
}

fn non_space_chars(text: &str) -> u64 {
    text.chars().filter(|c| !c.is_whitespace()).count() as u64
}

// ---------------------------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------------------------

/// The release binary running `serve` in its own process, with a company, an API key and an open offer.
struct BenchServer {
    child: Child,
    pid: u32,
    database_url: String,
    endpoint: Endpoint,
}

/// What a client needs to post applications; cheap to clone into tasks.
#[derive(Clone)]
struct Endpoint {
    client: reqwest::Client,
    url: Arc<str>,
    api_key: Arc<str>,
    offer_id: Arc<str>,
}

impl BenchServer {
    /// Creates the company, key and offer with the CLI, then starts `serve` and waits until it is ready.
    async fn start(binary: &Path, files: &Path) -> anyhow::Result<BenchServer> {
        let database_url = format!("{}/{DATABASE_NAME}", postgres_base_url());
        let address = free_loopback_address()?;
        let env: Vec<(&str, String)> = vec![
            ("DATABASE_URL", database_url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "32".to_owned()),
            ("LISTEN_ADDR", address.clone()),
            ("CAREER_API_RATE_LIMIT_PER_IP", "1000000".to_owned()),
            ("STORAGE_URL", format!("file://{}", files.join("storage").display())),
            ("MAIL_URL", format!("file://{}", files.join("mail").display())),
            ("SPOOL_DIR", files.join("spool").display().to_string()),
        ];
        std::fs::create_dir_all(files.join("spool")).context("creating the spool folder")?;
        let cli = |args: &'static [&'static str]| run_cli(binary, files, &env, args);
        cli(&["company", "create", "--name", "Bench Company", "--slug", "bench", "--locale", "en"]).await?;
        let key = cli(&["api-key", "create", "--company", "bench", "--label", "bench"]).await?;
        let offer = cli(&[
            "offer",
            "create",
            "--company",
            "bench",
            "--title",
            "Senior Rust engineer",
            "--description",
            "We build APIs in Rust with axum, PostgreSQL and Kubernetes. You write tests, review code and \
             mentor; experience with LaTeX, Python or data pipelines is a plus.",
            "--location",
            "Paris",
        ])
        .await?;
        let api_key = key["key"].as_str().context("`api-key create` printed no key")?;
        let offer_id = offer["id"].as_str().context("`offer create` printed no id")?;

        // Logs go to a file: the console is for the figures.
        let log = std::fs::File::create(files.join("server.log")).context("creating server.log")?;
        let child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .current_dir(files)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let endpoint = Endpoint {
            client: reqwest::Client::new(),
            url: format!("http://{address}").into(),
            api_key: api_key.into(),
            offer_id: offer_id.into(),
        };
        let mut server = BenchServer { child, pid, database_url, endpoint };
        server.wait_until_ready(files).await?;
        Ok(server)
    }

    async fn wait_until_ready(&mut self, files: &Path) -> anyhow::Result<()> {
        let ready = format!("{}/readyz", self.endpoint.url);
        for _ in 0..600 {
            if let Ok(response) = self.endpoint.client.get(&ready).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(files.join("server.log")).unwrap_or_default();
                bail!("the server exited ({status}) while starting:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server was not ready after 30 s (see {})", files.join("server.log").display())
    }

    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// SIGTERM (a graceful shutdown), then SIGKILL if it has not exited after 10 s.
    async fn stop(&mut self) {
        let terminated = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status().await;
        if terminated.is_ok_and(|status| status.success())
            && tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_ok()
        {
            return;
        }
        if let Err(error) = self.child.kill().await {
            eprintln!("could not kill the server (pid {}): {error}", self.pid);
        }
    }
}

impl Endpoint {
    /// One application from a new candidate; the answer is read to its end before the clock stops.
    async fn post_application(&self, email: &str, cv: Part) -> RequestResult {
        let started = Instant::now();
        let cv = match cv.file_name("cv.pdf").mime_str("application/pdf") {
            Ok(cv) => cv,
            Err(_) => return RequestResult { status: None, latency: Duration::ZERO },
        };
        let form = Form::new()
            .text("job_offer_id", self.offer_id.to_string())
            .text("first_name", "Bench")
            .text("last_name", email.split('@').next().unwrap_or("Candidate").to_owned())
            .text("email", email.to_owned())
            .part("cv", cv);
        let sent = self
            .client
            .post(format!("{}/api/job_applications", self.url))
            .header("X-API-Key", &*self.api_key)
            .multipart(form)
            .send()
            .await;
        let status = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                response.bytes().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        RequestResult { status, latency: started.elapsed() }
    }
}

/// Runs a CLI command of the server binary with the server's environment and returns its JSON output.
async fn run_cli(binary: &Path, files: &Path, env: &[(&str, String)], args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new(binary)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        // No stray `.env` of the caller's folder.
        .current_dir(files)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running talqo-server {}", args.join(" ")))?;
    if !output.status.success() {
        bail!("talqo-server {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    serde_json::from_slice(&output.stdout).with_context(|| format!("talqo-server {} printed no JSON", args.join(" ")))
}

/// The release `talqo-server` beside this example (`<target>/release/examples/` → `<target>/release/`).
fn server_binary() -> anyhow::Result<PathBuf> {
    let example = std::env::current_exe().context("locating this example")?;
    let release = example.parent().and_then(Path::parent).context("this example is not in <target>/<profile>/")?;
    let binary = release.join("talqo-server");
    if !binary.is_file() {
        bail!("{} does not exist: run `cargo build --release` first", binary.display());
    }
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if let (Some(library), Some(server)) = (modified(&release.join("libtalqo_server.rlib")), modified(&binary))
        && library > server
    {
        eprintln!("warning: {} is older than the library: run `cargo build --release` first", binary.display());
    }
    Ok(binary)
}

fn postgres_base_url() -> String {
    std::env::var("TALQO_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn corpus_dir() -> PathBuf {
    let corpus = std::env::var_os("TALQO_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    // Without the `..`, for the printed paths.
    std::fs::canonicalize(&corpus).unwrap_or(corpus)
}

async fn drop_database() -> anyhow::Result<()> {
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", postgres_base_url()))
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{DATABASE_NAME}\" WITH (FORCE)")).execute(&admin).await?;
    admin.close().await;
    Ok(())
}

/// A loopback address with a port free right now (the server binds it a moment later).
fn free_loopback_address() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------------------------

/// The PDF of `folders` whose size is closest to `target` bytes, and its size.
fn closest_pdf(folders: &[PathBuf], target: u64) -> anyhow::Result<(PathBuf, u64)> {
    let mut best: Option<(PathBuf, u64)> = None;
    for folder in folders {
        let entries = std::fs::read_dir(folder).with_context(|| format!("listing {}", folder.display()))?;
        for path in entries.flatten().map(|entry| entry.path()) {
            if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")) {
                continue;
            }
            let size = std::fs::metadata(&path)?.len();
            if best.as_ref().is_none_or(|(_, best)| size.abs_diff(target) < best.abs_diff(target)) {
                best = Some((path, size));
            }
        }
    }
    best.context("no PDF in the corpus")
}

/// Nearest-rank percentile of sorted durations (`p` in 0..=1).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn status_counts(results: &[RequestResult]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for result in results {
        let key = result.status.map_or("no answer".to_owned(), |s| s.to_string());
        *counts.entry(key).or_default() += 1;
    }
    counts.iter().map(|(status, count)| format!("{status} × {count}")).collect::<Vec<_>>().join(", ")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn millis(duration: Duration) -> String {
    format!("{:.0} ms", ms(duration))
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

fn print_machine(binary: &Path) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = proc_meminfo_kib("MemTotal").map_or("?".to_owned(), |kib| format!("{:.1} GiB", kib as f64 / MIB));
    println!("talqo-server application benchmark");
    println!("machine: {cores} cores ({cpu}), {memory} RAM; server binary {}", binary.display());
    println!("the clients run on the same machine as the server and compete with it for the cores");
    print_load("at the start");
}

/// Other work on the machine skews every figure: the load average says how much there was.
fn print_load(when: &str) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let averages: Vec<&str> = load.split_whitespace().take(3).collect();
    println!("load average {when}: {} (1, 5, 15 min)", averages.join(" "));
}

fn proc_meminfo_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}
