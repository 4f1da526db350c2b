//! The operator's command line (CONTRACT §10). Each command reads the same environment as the server, prints
//! one JSON value on stdout, and on failure prints the reason on stderr and exits non-zero. Scripts depend on
//! these names and outputs: keep them stable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::{LogFormat, Settings};
use crate::cv::{CvExtractor, extract_file};
use crate::db;
use crate::db::companies::{Company, CompanyChanges, NewCompany, PageSettingsChanges};
use crate::db::job_offers::OfferFields;
use crate::domain::api_key::NewApiKey;
use crate::domain::company_page::{AccentColor, LogoImage, parse_embed_origins};
use crate::domain::import_credentials::{ImportEnvironment, NewImportClient};
use crate::http::pages::urls::{jobs_url, offer_url};
use crate::service::{demo, offer_import};

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

#[derive(Subcommand)]
enum CompanyCommand {
    /// Create a company: {"id","name","slug","auto_reject_threshold","locale"}.
    Create {
        /// The company's name, as candidates see it in emails.
        #[arg(long)]
        name: String,
        /// Defaults to the name, lowercased, with dashes.
        #[arg(long)]
        slug: Option<String>,
        /// Applications scored below this (0-100) are rejected automatically.
        #[arg(long, value_parser = clap::value_parser!(i16).range(0..=100))]
        auto_reject_threshold: Option<i16>,
        /// The language of the emails to candidates.
        #[arg(long, default_value = "fr", value_parser = ["fr", "en"])]
        locale: String,
        #[command(flatten)]
        page: CompanyPageArgs,
    },
    /// Change a company's name, locale or auto-reject threshold.
    Update {
        /// The company's id or slug.
        company: String,
        /// Applications scored below this (0-100) are rejected automatically.
        #[arg(long, value_parser = clap::value_parser!(i16).range(0..=100), conflicts_with = "no_auto_reject")]
        auto_reject_threshold: Option<i16>,
        /// Stop rejecting applications automatically.
        #[arg(long)]
        no_auto_reject: bool,
        /// The language of the emails to candidates.
        #[arg(long, value_parser = ["fr", "en"])]
        locale: Option<String>,
        /// The company's new name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        page: CompanyPageArgs,
    },
}

/// What the company's hosted job pages show besides its name (CONTRACT §13).
#[derive(Args)]
struct CompanyPageArgs {
    /// Origins allowed to frame the job pages, comma-separated (`https://careers.acme.com`); replaces the list,
    /// an empty value clears it.
    #[arg(long)]
    embed_origins: Option<String>,
    /// The pages' accent colour, as hex (`#1d4ed8`).
    #[arg(long, conflicts_with = "no_accent_color")]
    accent_color: Option<String>,
    /// Back to the default accent colour.
    #[arg(long)]
    no_accent_color: bool,
    /// A PNG, JPEG or WebP file (at most 24 KiB), stored in the database and served from the pages' origin.
    #[arg(long, conflicts_with = "no_logo")]
    logo: Option<PathBuf>,
    /// Remove the logo.
    #[arg(long)]
    no_logo: bool,
}

impl CompanyPageArgs {
    fn is_empty(&self) -> bool {
        self.embed_origins.is_none()
            && self.accent_color.is_none()
            && !self.no_accent_color
            && self.logo.is_none()
            && !self.no_logo
    }
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Make a key; its secret is printed this once and never stored.
    Create {
        /// The company's id or slug; the key acts for it.
        #[arg(long)]
        company: String,
        /// A note for operators (where the key is used).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a company's keys, without their secrets.
    List {
        /// The company's id or slug.
        #[arg(long)]
        company: String,
    },
    /// Revoke a key by its id; it stops working at once on every instance.
    Revoke {
        /// The key's id, as `api-key create` or `api-key list` printed it.
        key_id: Uuid,
    },
}

#[derive(Subcommand)]
enum ImportClientCommand {
    /// Make a client; its secret is printed this once and never stored.
    Create {
        /// The company's id or slug.
        #[arg(long)]
        company: String,
        /// A sandbox client's tokens work only on POST /api/v1/candidate-reactions/test.
        #[arg(long)]
        sandbox: bool,
        /// A note for operators (who uses this client).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a company's clients, without their secrets.
    List {
        /// The company's id or slug.
        #[arg(long)]
        company: String,
    },
    /// Revoke a client by its id; its tokens stop working at once on every instance.
    Revoke {
        /// The client's id (the `id` printed by `create` or `list`).
        id: Uuid,
    },
}

#[derive(Subcommand)]
enum OfferCommand {
    /// Create a job offer (status open unless --status says otherwise); prints the JobOffer.
    Create {
        /// The company's id or slug.
        #[arg(long)]
        company: String,
        #[command(flatten)]
        fields: OfferArgs,
    },
    /// Change the given fields of a job offer; prints the JobOffer.
    Update {
        /// The offer's id.
        offer_id: Uuid,
        #[command(flatten)]
        fields: OfferArgs,
    },
    /// Load offers from a JSON Lines file (one JobOffer-shaped object per line, `id` optional), in one transaction.
    Import {
        /// The company's id or slug.
        #[arg(long)]
        company: String,
        /// The JSON Lines file.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ApplicationCommand {
    /// Print an application with its candidate, scoring, steps, attachments and consents.
    Show {
        /// The application's id.
        id: Uuid,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List the emails given up on after MAIL_MAX_ATTEMPTS failed tries: a JSON array of
    /// {id, application_id, kind, recipient, attempts, last_error, failed_at}, most recent first.
    Failed,
}

#[derive(Args)]
struct OfferArgs {
    /// The offer's title (required to create).
    #[arg(long)]
    title: Option<String>,
    /// The description, in Markdown.
    #[arg(long, conflicts_with = "description_file")]
    description: Option<String>,
    /// Read the Markdown description from a file.
    #[arg(long)]
    description_file: Option<PathBuf>,
    /// Where the job is, e.g. "Paris, France" or "Remote".
    #[arg(long)]
    location: Option<String>,
    /// CDI, CDD, Freelance, Stage, …
    #[arg(long)]
    job_type: Option<String>,
    /// open, active, closed, draft, … (`offer create` defaults to open).
    #[arg(long)]
    status: Option<String>,
    /// RFC 3339; defaults to now when the offer is open or active.
    #[arg(long)]
    published_at: Option<DateTime<Utc>>,
    /// The offer's numeric id for the Teamio import API (1 to 2^53 - 1, unique); given automatically.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=MAX_RECRUITMENT_ID))]
    recruitment_id: Option<i64>,
}

/// CONTRACT §12: recruitment ids are integers a JSON client holds exactly.
const MAX_RECRUITMENT_ID: i64 = (1 << 53) - 1;
/// One environment variable as `--help` lists it.
struct EnvironmentVariable {
    name: &'static str,
    /// The value used when the variable is unset; in parentheses when it is a description, not a value.
    default: &'static str,
    what: &'static str,
}

/// Every variable the server and the commands read (`.env.example` explains each at length). A test checks
/// that this list covers `.env.example` and that each literal default is the one the settings really use.
const ENVIRONMENT: &[EnvironmentVariable] = &[
    EnvironmentVariable {
        name: "DATABASE_URL",
        default: crate::config::DEFAULT_DATABASE_URL,
        what: "PostgreSQL; the database is created if missing and migrated at start",
    },
    EnvironmentVariable { name: "DATABASE_MAX_CONNECTIONS", default: "20", what: "connection pool size" },
    EnvironmentVariable {
        name: "LISTEN_ADDR",
        default: "127.0.0.1:8080",
        what: "address and port to serve on (0.0.0.0:8080 to accept other machines)",
    },
    EnvironmentVariable {
        name: "PUBLIC_BASE_URL",
        default: "(http://<LISTEN_ADDR>)",
        what: "base of every link printed or served (job pages, sitemap, feed); 0.0.0.0 is written localhost",
    },
    EnvironmentVariable {
        name: "CAREER_API_RATE_LIMIT_PER_IP",
        default: "100",
        what: "requests per client IP per 60-second window on /api",
    },
    EnvironmentVariable {
        name: "TRUSTED_PROXIES",
        default: "(none)",
        what: "comma-separated CIDRs of proxies whose X-Forwarded-For / X-Real-IP are believed",
    },
    EnvironmentVariable {
        name: "REDIS_URL",
        default: "(unset: counters in memory)",
        what: "Redis shared by every instance for the rate-limit counters",
    },
    EnvironmentVariable { name: "REDIS_KEY_PREFIX", default: "talqo", what: "prefix of every Redis key" },
    EnvironmentVariable {
        name: "PUBLIC_BASE_URL",
        default: "(http://<LISTEN_ADDR>)",
        what: "base of every link the server prints or serves",
    },
    EnvironmentVariable { name: "IMPORT_TOKEN_TTL", default: "1h", what: "lifetime of a Teamio import access token" },
    EnvironmentVariable {
        name: "IMPORT_RATE_LIMIT_PER_COMPANY",
        default: "50",
        what: "Teamio imports and /test calls per company per 60-second window",
    },
    EnvironmentVariable {
        name: "MAX_IMPORT_BODY_BYTES",
        default: "104857600",
        what: "largest Teamio import body, in bytes",
    },
    EnvironmentVariable {
        name: "MAX_ATTACHMENT_BYTES",
        default: "10485760",
        what: "largest decoded Teamio attachment, in bytes",
    },
    EnvironmentVariable { name: "MAX_CV_BYTES", default: "10485760", what: "largest CV accepted, in bytes" },
    EnvironmentVariable {
        name: "STORAGE_URL",
        default: "file://./data",
        what: "where CVs are stored: file://DIR or s3://BUCKET[/PREFIX] (with the AWS_* variables)",
    },
    EnvironmentVariable {
        name: "SPOOL_DIR",
        default: "(the system temp dir)",
        what: "where uploads wait while their request is in flight",
    },
    EnvironmentVariable {
        name: "EXTRACT_MEMORY_MB",
        default: "768",
        what: "address-space limit of the CV text extraction process",
    },
    EnvironmentVariable { name: "EXTRACT_CPU_SECONDS", default: "10", what: "CPU limit of one extraction" },
    EnvironmentVariable { name: "EXTRACT_TIMEOUT", default: "15s", what: "wall-clock limit of one extraction" },
    EnvironmentVariable {
        name: "EXTRACT_WORKER_MAX_JOBS",
        default: "200",
        what: "CVs one extraction worker reads before it is replaced",
    },
    EnvironmentVariable {
        name: "OCR",
        default: "auto",
        what: "auto (on when tesseract and pdftoppm are installed), on or off: read pages without text by OCR",
    },
    EnvironmentVariable { name: "OCR_MAX_PAGES", default: "3", what: "pages of one CV read by OCR at most" },
    EnvironmentVariable { name: "OCR_TIMEOUT", default: "30s", what: "wall-clock limit of the OCR of one CV" },
    EnvironmentVariable { name: "OCR_LANGUAGES", default: "fra+eng", what: "Tesseract languages" },
    EnvironmentVariable {
        name: "EXTRACTOR_EXE",
        default: "(this executable)",
        what: "the binary run for CV extraction",
    },
    EnvironmentVariable { name: "AI_SCORER", default: "builtin", what: "builtin (offline) or openai" },
    EnvironmentVariable {
        name: "OPENAI_API_KEY",
        default: "(unset)",
        what: "Bearer token for AI_SCORER=openai (optional for local servers)",
    },
    EnvironmentVariable {
        name: "OPENAI_BASE_URL",
        default: "https://api.openai.com/v1",
        what: "any OpenAI-compatible chat completions API",
    },
    EnvironmentVariable { name: "OPENAI_MODEL", default: "gpt-4o-mini", what: "model asked to score" },
    EnvironmentVariable { name: "OPENAI_TIMEOUT", default: "30s", what: "bound on one scoring request" },
    EnvironmentVariable {
        name: "MAIL_URL",
        default: "file://./data/mail",
        what: "file://DIR (one .eml per email), smtp://user:pass@host:port[?tls=required] or smtps://…",
    },
    EnvironmentVariable {
        name: "MAIL_FROM",
        default: "Talqo <no-reply@localhost>",
        what: "sender of the emails to candidates",
    },
    EnvironmentVariable {
        name: "MAIL_MAX_ATTEMPTS",
        default: "10",
        what: "failed tries after which an email ends failed (listed by `outbox failed`)",
    },
    EnvironmentVariable {
        name: "MAIL_RETRY_DELAY",
        default: "10s",
        what: "wait after an email's first failed try, doubled after each further one",
    },
    EnvironmentVariable {
        name: "MAIL_SMTP_TIMEOUT",
        default: "10m",
        what: "how long the SMTP server may take to answer a command (RFC 5321)",
    },
    EnvironmentVariable {
        name: "MAIL_LEASE",
        default: "35m",
        what: "how long a worker holds an email it is sending before another may take it over",
    },
    EnvironmentVariable {
        name: "REJECTION_EMAIL_DELAY",
        default: "24h",
        what: "how long after an automatic rejection its email is sent",
    },
    EnvironmentVariable {
        name: "WORKER_INTERVAL",
        default: "1s",
        what: "how often the background worker looks for emails, re-scoring and deletions",
    },
    EnvironmentVariable {
        name: "HEADER_READ_TIMEOUT",
        default: "10s",
        what: "request headers not complete in time: the connection is closed",
    },
    EnvironmentVariable {
        name: "BODY_IDLE_TIMEOUT",
        default: "30s",
        what: "a request body silent this long: 408, spooled upload removed",
    },
    EnvironmentVariable {
        name: "KEEP_ALIVE_TIMEOUT",
        default: "60s",
        what: "idle keep-alive connections are closed after this",
    },
    EnvironmentVariable {
        name: "MAX_CONNECTIONS",
        default: "20000",
        what: "connections served at once (fitted to the open-file limit)",
    },
    EnvironmentVariable {
        name: "SHUTDOWN_TIMEOUT",
        default: "25s",
        what: "after SIGTERM, time given to requests in flight before exit 0",
    },
    EnvironmentVariable {
        name: "CLIENT_IP_HEADER",
        default: "x-forwarded-for",
        what: "the one header believed from TRUSTED_PROXIES (x-forwarded-for, x-real-ip or forwarded)",
    },
    EnvironmentVariable {
        name: "RATE_LIMIT_MAX_ADDRESSES",
        default: "100000",
        what: "addresses the in-memory rate limiter tracks per window",
    },
    EnvironmentVariable {
        name: "DATABASE_CONNECT_TIMEOUT",
        default: "30s",
        what: "how long start-up waits for PostgreSQL",
    },
    EnvironmentVariable {
        name: "DATABASE_ACQUIRE_TIMEOUT",
        default: "1500ms",
        what: "how long a request waits for a database connection before 503",
    },
    EnvironmentVariable {
        name: "ORPHAN_SWEEP_INTERVAL",
        default: "10m",
        what: "how often files left by requests that died are swept (uploads never committed, spool files)",
    },
    EnvironmentVariable {
        name: "API_LOG_RETENTION",
        default: "90d",
        what: "how long api_logs rows are kept (0 keeps them forever)",
    },
    EnvironmentVariable { name: "LOG_FORMAT", default: "text", what: "text or json; logs go to stderr" },
    EnvironmentVariable {
        name: "RUST_LOG",
        default: "info,sqlx=warn,tower_http=info",
        what: "log filter (tracing EnvFilter syntax)",
    },
    EnvironmentVariable {
        name: "AWS_ACCESS_KEY_ID",
        default: "(unset)",
        what: "S3 credentials; without them, web-identity, container or instance credentials",
    },
    EnvironmentVariable { name: "AWS_SECRET_ACCESS_KEY", default: "(unset)", what: "S3 secret key" },
    EnvironmentVariable { name: "AWS_SESSION_TOKEN", default: "(unset)", what: "S3 session token" },
    EnvironmentVariable { name: "AWS_REGION", default: "(unset)", what: "the bucket's region" },
    EnvironmentVariable { name: "AWS_DEFAULT_REGION", default: "(unset)", what: "read when AWS_REGION is unset" },
    EnvironmentVariable {
        name: "AWS_ENDPOINT_URL_S3",
        default: "(unset)",
        what: "S3-compatible endpoint (path-style); wins over AWS_ENDPOINT_URL and AWS_ENDPOINT",
    },
    EnvironmentVariable { name: "AWS_ENDPOINT_URL", default: "(unset)", what: "S3-compatible endpoint" },
    EnvironmentVariable { name: "AWS_ENDPOINT", default: "(unset)", what: "S3-compatible endpoint" },
    EnvironmentVariable {
        name: "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
        default: "(unset)",
        what: "any other AWS_* setting object_store reads is passed on too",
    },
];

/// The `Environment:` section at the end of `--help`.
fn environment_help() -> String {
    let width = ENVIRONMENT.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut help = String::from("Environment (also read from ./.env; durations as 30s, 15m, 24h, 2d):\n");
    for variable in ENVIRONMENT {
        let default = if variable.default.starts_with('(') {
            variable.default.to_owned()
        } else {
            format!("[default: {}]", variable.default)
        };
        help.push_str(&format!("  {:width$}  {} {default}\n", variable.name, variable.what));
    }
    help
}

impl OfferArgs {
    fn into_fields(self) -> anyhow::Result<OfferFields> {
        let description = match self.description_file {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the description file {}", path.display()))?,
            ),
            None => self.description,
        };
        Ok(OfferFields {
            title: self.title,
            description,
            location: self.location,
            job_type: self.job_type,
            status: self.status,
            published_at: self.published_at,
            recruitment_id: self.recruitment_id,
            ..OfferFields::default()
        })
    }
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

fn company_json(company: &Company, public_base_url: &str) -> serde_json::Value {
    json!({
        "id": company.id,
        "name": company.name,
        "slug": company.slug,
        "auto_reject_threshold": company.auto_reject_threshold,
        "locale": company.locale,
        // CONTRACT §13.
        "jobs_url": jobs_url(public_base_url, &company.slug),
    })
}

/// The hosted pages' settings, parsed.
struct PageSettings {
    accent: Option<AccentColor>,
    logo: Option<LogoImage>,
    origins: Option<Vec<String>>,
}

/// The hosted pages' settings, checked before anything is written (CONTRACT §13).
fn page_settings(page: &CompanyPageArgs) -> anyhow::Result<PageSettings> {
    let accent = page.accent_color.as_deref().map(AccentColor::parse).transpose().map_err(|e| anyhow!(e))?;
    let logo = match &page.logo {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read the logo file {}", path.display()))?;
            Some(LogoImage::from_bytes(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let origins = page.embed_origins.as_deref().map(parse_embed_origins).transpose().map_err(|e| anyhow!(e))?;
    Ok(PageSettings { accent, logo, origins })
}

async fn apply_page_settings(db: &PgPool, company: Company, page: &CompanyPageArgs) -> anyhow::Result<Company> {
    if page.is_empty() {
        return Ok(company);
    }
    let PageSettings { accent, logo, origins } = page_settings(page)?;
    let changes = PageSettingsChanges {
        accent_color: if page.no_accent_color { Some(None) } else { accent.as_ref().map(|a| Some(a.as_str())) },
        logo: if page.no_logo { Some(None) } else { logo.as_ref().map(|l| Some((l.bytes.as_slice(), l.content_type))) },
        embed_origins: origins.as_deref(),
    };
    db::companies::update_page_settings(db, company.id, &changes)
        .await?
        .ok_or_else(|| anyhow!("the company {:?} disappeared", company.slug))
}

async fn find_company(db: &PgPool, reference: &str) -> anyhow::Result<Company> {
    db::companies::find_by_id_or_slug(db, reference)
        .await?
        .ok_or_else(|| anyhow!("no company with id or slug {reference:?}"))
}

async fn company(db: &PgPool, command: CompanyCommand, public_base_url: &str) -> anyhow::Result<serde_json::Value> {
    let company = match command {
        CompanyCommand::Create { name, slug, auto_reject_threshold, locale, page } => {
            // Bad page settings are refused before the company is created.
            page_settings(&page)?;
            let slug = slug.unwrap_or_else(|| slugify(&name));
            let new = NewCompany { name: &name, slug: &slug, auto_reject_threshold, locale: &locale };
            let created = db::companies::insert(db, &new).await.map_err(|e| match db::violated_constraint(&e) {
                Some("companies_slug_key") => anyhow!("a company with the slug {slug:?} already exists"),
                Some("companies_slug_format") => {
                    anyhow!("the slug {slug:?} must be lowercase letters, digits and dashes (at most 63)")
                }
                Some("companies_name_present") => anyhow!("the company name must not be blank"),
                _ => e.into(),
            })?;
            apply_page_settings(db, created, &page).await?
        }
        CompanyCommand::Update { company, auto_reject_threshold, no_auto_reject, locale, name, page } => {
            page_settings(&page)?;
            let id = find_company(db, &company).await?.id;
            let changes = CompanyChanges {
                name: name.as_deref(),
                auto_reject_threshold: if no_auto_reject { Some(None) } else { auto_reject_threshold.map(Some) },
                locale: locale.as_deref(),
            };
            let updated = db::companies::update(db, id, &changes)
                .await?
                .ok_or_else(|| anyhow!("the company {company:?} disappeared"))?;
            apply_page_settings(db, updated, &page).await?
        }
    };
    Ok(company_json(&company, public_base_url))
}

async fn api_key(db: &PgPool, command: ApiKeyCommand) -> anyhow::Result<serde_json::Value> {
    Ok(match command {
        ApiKeyCommand::Create { company, label } => {
            let company = find_company(db, &company).await?;
            let key = NewApiKey::generate()?;
            let record = db::api_keys::insert(db, company.id, &key, &label).await?;
            json!({
                "id": record.id,
                "key": key.secret,
                "company_id": company.id,
                "label": record.label,
                "created_at": crate::domain::timestamp::format(&record.created_at),
            })
        }
        ApiKeyCommand::List { company } => {
            let company = find_company(db, &company).await?;
            serde_json::to_value(db::api_keys::list(db, company.id).await?)?
        }
        ApiKeyCommand::Revoke { key_id } => {
            let record =
                db::api_keys::revoke(db, key_id).await?.ok_or_else(|| anyhow!("no API key with id {key_id}"))?;
            serde_json::to_value(record)?
        }
    })
}

async fn offer(db: &PgPool, command: OfferCommand, public_base_url: &str) -> anyhow::Result<serde_json::Value> {
    let offer = match command {
        OfferCommand::Create { company, fields } => {
            let company = find_company(db, &company).await?;
            let mut fields = fields.into_fields()?;
            if fields.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
                bail!("--title is required and must not be blank");
            }
            fields.status.get_or_insert_with(|| "open".to_owned());
            db::job_offers::insert(db, company.id, &fields).await.map_err(|e| offer_write_error(e, &fields))?
        }
        OfferCommand::Update { offer_id, fields } => {
            let fields = fields.into_fields()?;
            db::job_offers::update(db, offer_id, &fields)
                .await
                .map_err(|e| match db::violated_constraint(&e) {
                    Some("job_offers_title_present") => anyhow!("the title must not be blank"),
                    Some("job_offers_status_present") => anyhow!("the status must not be blank"),
                    _ => offer_write_error(e, &fields),
                })?
                .ok_or_else(|| anyhow!("no job offer with id {offer_id}"))?
        }
        OfferCommand::Import { company, file } => {
            let company = find_company(db, &company).await?;
            let imported = offer_import::import_json_lines(db, company.id, &file).await?;
            return Ok(json!({"imported": imported}));
        }
    };
    // The same shape as the API's JobOffer, plus the offer's recruitment_id (CONTRACT §12) and its page (§13).
    let slug = db::companies::find(db, offer.company_id).await?.map(|c| c.slug).unwrap_or_default();
    let mut output = serde_json::to_value(&offer)?;
    if let Some(object) = output.as_object_mut() {
        object.insert("recruitment_id".to_owned(), offer.recruitment_id.into());
        object.insert("url".to_owned(), json!(offer_url(public_base_url, &slug, offer.id)));
    }
    Ok(output)
}

/// CONTRACT §10 and §12: the application with its candidate, scoring, steps, attachments and consents.
async fn application_json(db: &PgPool, id: Uuid) -> anyhow::Result<serde_json::Value> {
    use crate::domain::timestamp::format;
    let details = db::job_applications::details(db, id).await?.ok_or_else(|| anyhow!("no application with id {id}"))?;
    let steps = db::job_applications::steps(db, id).await?;
    let attachments = db::application_attachments::for_application(db, id).await?;
    let consents = db::application_consents::for_application(db, id).await?;
    Ok(json!({
        "id": details.id,
        "company_id": details.company_id,
        "job_offer_id": details.job_offer_id,
        "status": details.status,
        "source": details.source,
        "cover_letter": details.cover_letter,
        "created_at": format(&details.created_at),
        "updated_at": format(&details.updated_at),
        "candidate": {
            "id": details.candidate_id,
            "email": details.email,
            "first_name": details.first_name,
            "last_name": details.last_name,
            "phone": details.phone,
            "linkedin_url": details.linkedin_url,
            "cv": details.cv_object_key.as_ref().map(|key| json!({
                "object_key": key,
                "content_type": details.cv_content_type,
                "size_bytes": details.cv_size_bytes,
            })),
        },
        "scoring": {
            "status": details.scoring_status,
            "rating": details.rating,
            "ai_resume_summary": details.ai_resume_summary,
            "first_impression_text": details.first_impression_text,
            "cv_text_source": details.cv_text_source,
        },
        "steps": steps.iter().map(|(status, at)| json!({"status": status, "created_at": format(at)})).collect::<Vec<_>>(),
        "attachments": attachments,
        "consents": consents,
    }))
}

fn offer_write_error(error: sqlx::Error, fields: &OfferFields) -> anyhow::Error {
    match db::violated_constraint(&error) {
        Some("job_offers_recruitment_id_key") => {
            anyhow!(
                "the recruitment_id {} is already taken by another offer",
                fields.recruitment_id.unwrap_or_default()
            )
        }
        _ => error.into(),
    }
}

async fn import_client(db: &PgPool, command: ImportClientCommand) -> anyhow::Result<serde_json::Value> {
    Ok(match command {
        ImportClientCommand::Create { company, sandbox, label } => {
            let company = find_company(db, &company).await?;
            let environment = if sandbox { ImportEnvironment::Sandbox } else { ImportEnvironment::Production };
            let client = NewImportClient::generate()?;
            let record = db::import_clients::insert(db, company.id, &client, environment, &label).await?;
            json!({
                "id": record.id,
                "client_id": record.client_id,
                "client_secret": client.secret,
                "company_id": record.company_id,
                "environment": record.environment,
                "label": record.label,
                "created_at": crate::domain::timestamp::format(&record.created_at),
            })
        }
        ImportClientCommand::List { company } => {
            let company = find_company(db, &company).await?;
            serde_json::to_value(db::import_clients::list(db, company.id).await?)?
        }
        ImportClientCommand::Revoke { id } => {
            let record =
                db::import_clients::revoke(db, id).await?.ok_or_else(|| anyhow!("no import client with id {id}"))?;
            serde_json::to_value(record)?
        }
    })
}

fn slugify(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut slug = String::new();
    for c in name.nfd().filter(char::is_ascii) {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.truncate(63);
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::{ENVIRONMENT, slugify};
    use crate::config::Settings;

    #[test]
    fn the_defaults_help_shows_are_the_ones_the_settings_use() {
        let defaults = format!("{:?}", Settings::from_lookup(|_| None).unwrap());
        for variable in ENVIRONMENT.iter().filter(|v| !v.default.starts_with('(')) {
            let set = Settings::from_lookup(|name| (name == variable.name).then(|| variable.default.to_owned()))
                .unwrap_or_else(|e| panic!("{}: {e:#}", variable.name));
            assert_eq!(format!("{set:?}"), defaults, "{} is not {:?} by default", variable.name, variable.default);
        }
        // The comparison sees a wrong default.
        let other =
            Settings::from_lookup(|name| (name == "DATABASE_MAX_CONNECTIONS").then(|| "21".to_owned())).unwrap();
        assert_ne!(format!("{other:?}"), defaults);
    }

    #[test]
    fn slugs_are_ascii_lowercase_with_dashes() {
        assert_eq!(slugify("Café Crème & Co."), "cafe-creme-co");
        assert_eq!(slugify("  ACME  "), "acme");
    }
}
