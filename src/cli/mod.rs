//! The operator's command line (CONTRACT §10). Each command reads the same environment as the server, prints
//! one JSON value on stdout, and on failure prints the reason on stderr and exits non-zero. Scripts depend on
//! these names and outputs: keep them stable.
//!
//! This module holds the command tree, serving, `demo`, `healthcheck` and `cv-text`; each family of data
//! commands has a module of its own, and `--help`'s environment table is in [`environment`].

mod applications;
mod companies;
mod credentials;
mod environment;
mod offers;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;

use self::applications::{ApplicationCommand, OutboxCommand, application_json};
use self::companies::{CompanyCommand, company, company_json};
use self::credentials::{ApiKeyCommand, ImportClientCommand, api_key, import_client};
use self::environment::environment_help;
use self::offers::{OfferCommand, offer};
use crate::config::{LogFormat, Settings};
use crate::cv::{CvExtractor, extract_file};
use crate::db;
use crate::service::demo;

#[derive(Parser)]
#[command(
    name = "talqo-server",
    version,
    about = "A Talqo-compatible career-site API server",
    long_about = "A Talqo-compatible career-site API server. With no command it serves. Every command reads the \
                  environment below (and ./.env), prints one JSON value on stdout, and on failure prints the reason \
                  on stderr and exits non-zero."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default): create and migrate the database, then listen on LISTEN_ADDR.
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Create or change companies.
    #[command(subcommand)]
    Company(CompanyCommand),
    /// Read applications, whichever door they came through.
    #[command(subcommand)]
    Application(ApplicationCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Create, list and revoke credentials of the Teamio import API.
    #[command(subcommand, name = "import-client")]
    ImportClient(ImportClientCommand),
    /// Create, change and import job offers.
    #[command(subcommand)]
    Offer(OfferCommand),
    /// Inspect the email outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Print the text the server extracts from a CV file: {"format","chars","text","source"}.
    CvText {
        /// The PDF or DOCX file to read.
        path: PathBuf,
    },
    /// Bind LISTEN_ADDR, seed a demo company, key and offers (once), print how to call the API, then serve.
    Demo,
    /// Ask the server running on LISTEN_ADDR for /healthz; exit 0 when it answers 200 (for container health checks).
    Healthcheck {
        /// Ask /readyz instead: the server is up and its database answers.
        #[arg(long)]
        ready: bool,
        /// The server's base URL (default: http://LISTEN_ADDR, asked on loopback when unspecified).
        #[arg(long)]
        url: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_seconds: u64,
    },
}

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == crate::cv::EXTRACTION_WORKER_ARG) {
        return crate::cv::run_extraction_worker(&args[2..]);
    }
    let help = environment_help();
    let matches = Cli::command().after_help(help.clone()).after_long_help(help).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // A missing .env is normal; a malformed one is worth knowing about.
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("error: cannot read .env: {error}");
        return ExitCode::FAILURE;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    init_tracing(settings.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(Some(output)) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, so stdout carries only the command's JSON.
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs a command; `Some` is the JSON to print.
async fn run(command: Command, settings: Settings) -> anyhow::Result<Option<serde_json::Value>> {
    match command {
        Command::Serve => {
            serve(settings).await?;
            return Ok(None);
        }
        Command::CvText { path } => return cv_text(&settings, &path).await.map(Some),
        Command::Demo => {
            demo(settings).await?;
            return Ok(None);
        }
        Command::Healthcheck { ready, url, timeout_seconds } => {
            return healthcheck(&settings, ready, url, Duration::from_secs(timeout_seconds)).await.map(Some);
        }
        _ => {}
    }
    let db = db::connect_and_migrate(&settings.database_url, 4).await?;
    let output = match command {
        Command::Serve | Command::CvText { .. } | Command::Demo | Command::Healthcheck { .. } => {
            unreachable!("handled above")
        }
        Command::Migrate => json!({"migrated": true}),
        Command::Company(command) => company(&db, command, &settings.public_base_url).await?,
        Command::ApiKey(command) => api_key(&db, command).await?,
        Command::ImportClient(command) => import_client(&db, command).await?,
        Command::Offer(command) => offer(&db, command, &settings.public_base_url).await?,
        Command::Application(ApplicationCommand::Show { id }) => application_json(&db, id).await?,
        Command::Outbox(OutboxCommand::Failed) => serde_json::to_value(db::outbox::list_failed(&db).await?)?,
    };
    db.close().await;
    Ok(Some(output))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let shutdown = crate::server::shutdown_signal()?;
    let listener = listen(&settings).await?;
    crate::server::run(settings, listener, shutdown).await
}

async fn listen(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (LISTEN_ADDR)", settings.listen_addr))
}

/// The port is bound before anything else: when it is busy, the demo fails before it seeds, makes a key or
/// prints instructions that would not work.
async fn demo(settings: Settings) -> anyhow::Result<()> {
    let shutdown = crate::server::shutdown_signal()?;
    let listener = listen(&settings).await?;
    let address = listener.local_addr().context("reading the listening address")?;
    let db = db::connect_and_migrate(&settings.database_url, 4).await?;
    let data_dir = std::env::current_dir()?.join("data");
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let seeded = demo::seed(&db, &data_dir.join(demo::KEY_FILE)).await?;
    let import_clients = demo::seed_import_clients(&db, &seeded).await?;
    db.close().await;
    let sample_cv = data_dir.join("demo-cv.pdf");
    std::fs::write(&sample_cv, demo::sample_cv_pdf())
        .with_context(|| format!("cannot write the sample CV {}", sample_cv.display()))?;
    let output = json!({
        "company": company_json(&seeded.company, &settings.public_base_url),
        "api_key": seeded.api_key,
        "api_key_reused": seeded.key_reused,
        "job_offer_id": seeded.offer_id,
        "sample_cv": sample_cv,
        "listen_addr": address,
        "recruitment_id": import_clients.recruitment_id,
        "import_clients": {
            "production": {"client_id": import_clients.production.client_id, "client_secret": import_clients.production.secret},
            "sandbox": {"client_id": import_clients.sandbox.client_id, "client_secret": import_clients.sandbox.secret},
        },
    });
    println!("{output}");
    eprintln!("{}", demo::instructions(&seeded.api_key, address, seeded.offer_id, &sample_cv));
    eprintln!("{}", demo::teamio_instructions(&settings.public_base_url, &import_clients, &sample_cv));
    // CONTRACT §13: the job pages, at the port actually bound when LISTEN_ADDR asked for any.
    let pages_base =
        if settings.listen_addr.port() == 0 { format!("http://{address}") } else { settings.public_base_url.clone() };
    eprintln!("{}", demo::pages_instructions(&pages_base, &seeded.company, seeded.offer_id));
    crate::server::run(settings, listener, shutdown).await
}

/// For container health checks: the image may have no curl.
async fn healthcheck(
    settings: &Settings,
    ready: bool,
    url: Option<String>,
    timeout: Duration,
) -> anyhow::Result<serde_json::Value> {
    let base = url.unwrap_or_else(|| {
        let mut address = settings.listen_addr;
        if address.ip().is_unspecified() {
            address.set_ip(if address.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{address}")
    });
    let url = format!("{}/{}", base.trim_end_matches('/'), if ready { "readyz" } else { "healthz" });
    let client = reqwest::Client::builder().timeout(timeout).build()?;
    let response = client.get(&url).send().await.with_context(|| format!("{url} did not answer"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        bail!("{url} answered {status}");
    }
    Ok(json!({"healthy": true, "url": url, "status": status.as_u16()}))
}

/// The same detection and extraction as the server's, worker process, limits and OCR included.
/// `source` says whether the text came from the document's text layer or from OCR.
async fn cv_text(settings: &Settings, path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    // One file: one worker, started for it, rather than a pre-started pool.
    let limits = crate::cv::ExtractionLimits { prestarted_workers: 0, ..settings.extraction.clone() };
    let extractor = match &settings.extractor_exe {
        Some(exe) => CvExtractor::new(exe.clone(), limits),
        None => CvExtractor::for_current_exe(limits)?,
    };
    let (format, extracted) =
        extract_file(&extractor, path, settings.max_cv_bytes).await.with_context(|| format!("{}", path.display()))?;
    Ok(json!({
        "format": format.as_str(),
        "chars": extracted.text.chars().count(),
        "text": extracted.text,
        "source": extracted.source.as_str(),
    }))
}
