//! The operator's command line (CONTRACT §10). Each command reads the same environment as the server, prints
//! one JSON value on stdout, and on failure prints the reason on stderr and exits non-zero. Scripts depend on
//! these names and outputs: keep them stable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::{LogFormat, Settings};
use crate::cv::{CvExtractor, extract_file};
use crate::db;
use crate::db::companies::{Company, CompanyChanges, NewCompany};
use crate::db::job_offers::OfferFields;
use crate::domain::api_key::NewApiKey;
use crate::domain::import_credentials::{ImportEnvironment, NewImportClient};
use crate::service::{demo, offer_import};

/// The hidden first argument that turns the binary into a CV extraction child (see [`crate::cv`]).
pub const EXTRACTION_CHILD_ARG: &str = "__extract-cv";

#[derive(Parser)]
#[command(name = "talqo-server", version, about = "A Talqo-compatible career-site API server")]
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
    /// Create, list and revoke API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Create, list and revoke credentials of the Teamio import API.
    #[command(subcommand, name = "import-client")]
    ImportClient(ImportClientCommand),
    /// Create, change and import job offers.
    #[command(subcommand)]
    Offer(OfferCommand),
    /// Print the text the server extracts from a CV file: {"format","chars","text"}.
    CvText { path: PathBuf },
    /// Seed a demo company, key and offers (once), print how to call the API, then serve.
    Demo,
}

#[derive(Subcommand)]
enum CompanyCommand {
    Create {
        #[arg(long)]
        name: String,
        /// Defaults to the name, lowercased, with dashes.
        #[arg(long)]
        slug: Option<String>,
        /// Applications scored below this (0-100) are rejected automatically.
        #[arg(long, value_parser = clap::value_parser!(i16).range(0..=100))]
        auto_reject_threshold: Option<i16>,
        #[arg(long, default_value = "fr", value_parser = ["fr", "en"])]
        locale: String,
    },
    Update {
        /// The company's id or slug.
        company: String,
        #[arg(long, value_parser = clap::value_parser!(i16).range(0..=100), conflicts_with = "no_auto_reject")]
        auto_reject_threshold: Option<i16>,
        #[arg(long)]
        no_auto_reject: bool,
        #[arg(long, value_parser = ["fr", "en"])]
        locale: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Make a key; its secret is printed this once and never stored.
    Create {
        #[arg(long)]
        company: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    List {
        #[arg(long)]
        company: String,
    },
    /// Revoke a key by its id; it stops working at once on every instance.
    Revoke { key_id: Uuid },
}

#[derive(Subcommand)]
enum ImportClientCommand {
    /// Make a client; its secret is printed this once and never stored.
    Create {
        #[arg(long)]
        company: String,
        /// A sandbox client's tokens work only on POST /api/v1/candidate-reactions/test.
        #[arg(long)]
        sandbox: bool,
        #[arg(long, default_value = "")]
        label: String,
    },
    List {
        #[arg(long)]
        company: String,
    },
    /// Revoke a client by its id; its tokens stop working at once on every instance.
    Revoke { id: Uuid },
}

#[derive(Subcommand)]
enum OfferCommand {
    Create {
        #[arg(long)]
        company: String,
        #[command(flatten)]
        fields: OfferArgs,
    },
    Update {
        offer_id: Uuid,
        #[command(flatten)]
        fields: OfferArgs,
    },
    /// Load offers from a JSON Lines file (one JobOffer-shaped object per line, `id` optional), in one transaction.
    Import {
        #[arg(long)]
        company: String,
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Args)]
struct OfferArgs {
    #[arg(long)]
    title: Option<String>,
    #[arg(long, conflicts_with = "description_file")]
    description: Option<String>,
    /// Read the Markdown description from a file.
    #[arg(long)]
    description_file: Option<PathBuf>,
    #[arg(long)]
    location: Option<String>,
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
    if args.get(1).is_some_and(|a| a == EXTRACTION_CHILD_ARG) {
        return crate::cv::run_extraction_child(&args[2..]);
    }
    let cli = Cli::parse();
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
        _ => {}
    }
    let db = db::connect_and_migrate(&settings.database_url, 4).await?;
    let output = match command {
        Command::Serve | Command::CvText { .. } => unreachable!("handled above"),
        Command::Migrate => json!({"migrated": true}),
        Command::Company(command) => company(&db, command).await?,
        Command::ApiKey(command) => api_key(&db, command).await?,
        Command::ImportClient(command) => import_client(&db, command).await?,
        Command::Offer(command) => offer(&db, command).await?,
        Command::Demo => {
            let seeded = demo::seed(&db).await?;
            let sample_cv = std::env::current_dir()?.join("data").join("demo-cv.pdf");
            std::fs::create_dir_all(sample_cv.parent().unwrap_or(std::path::Path::new(".")))?;
            std::fs::write(&sample_cv, demo::sample_cv_pdf())
                .with_context(|| format!("cannot write the sample CV {}", sample_cv.display()))?;
            let import_clients = demo::seed_import_clients(&db, &seeded).await?;
            let output = json!({
                "company": company_json(&seeded.company),
                "api_key": seeded.api_key,
                "job_offer_id": seeded.offer_id,
                "sample_cv": sample_cv,
                "recruitment_id": import_clients.recruitment_id,
                "import_clients": {
                    "production": {"client_id": import_clients.production.client_id, "client_secret": import_clients.production.secret},
                    "sandbox": {"client_id": import_clients.sandbox.client_id, "client_secret": import_clients.sandbox.secret},
                },
            });
            println!("{output}");
            eprintln!("{}", demo::instructions(&seeded.api_key, settings.listen_addr, seeded.offer_id, &sample_cv));
            eprintln!("{}", demo::teamio_instructions(&settings.public_base_url, &import_clients, &sample_cv));
            db.close().await;
            serve(settings).await?;
            return Ok(None);
        }
    };
    db.close().await;
    Ok(Some(output))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let shutdown = crate::server::shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (LISTEN_ADDR)", settings.listen_addr))?;
    crate::server::run(settings, listener, shutdown).await
}

/// The same detection and extraction as the server's, child process and limits included.
async fn cv_text(settings: &Settings, path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let extractor = match &settings.extractor_exe {
        Some(exe) => CvExtractor::new(exe.clone(), settings.extraction.clone()),
        None => CvExtractor::for_current_exe(settings.extraction.clone())?,
    };
    let (format, text) =
        extract_file(&extractor, path, settings.max_cv_bytes).await.with_context(|| format!("{}", path.display()))?;
    Ok(json!({"format": format.as_str(), "chars": text.chars().count(), "text": text}))
}

fn company_json(company: &Company) -> serde_json::Value {
    json!({
        "id": company.id,
        "name": company.name,
        "slug": company.slug,
        "auto_reject_threshold": company.auto_reject_threshold,
        "locale": company.locale,
    })
}

async fn find_company(db: &PgPool, reference: &str) -> anyhow::Result<Company> {
    db::companies::find_by_id_or_slug(db, reference)
        .await?
        .ok_or_else(|| anyhow!("no company with id or slug {reference:?}"))
}

async fn company(db: &PgPool, command: CompanyCommand) -> anyhow::Result<serde_json::Value> {
    let company = match command {
        CompanyCommand::Create { name, slug, auto_reject_threshold, locale } => {
            let slug = slug.unwrap_or_else(|| slugify(&name));
            let new = NewCompany { name: &name, slug: &slug, auto_reject_threshold, locale: &locale };
            db::companies::insert(db, &new).await.map_err(|e| match db::violated_constraint(&e) {
                Some("companies_slug_key") => anyhow!("a company with the slug {slug:?} already exists"),
                Some("companies_slug_format") => {
                    anyhow!("the slug {slug:?} must be lowercase letters, digits and dashes (at most 63)")
                }
                Some("companies_name_present") => anyhow!("the company name must not be blank"),
                _ => e.into(),
            })?
        }
        CompanyCommand::Update { company, auto_reject_threshold, no_auto_reject, locale, name } => {
            let id = find_company(db, &company).await?.id;
            let changes = CompanyChanges {
                name: name.as_deref(),
                auto_reject_threshold: if no_auto_reject { Some(None) } else { auto_reject_threshold.map(Some) },
                locale: locale.as_deref(),
            };
            db::companies::update(db, id, &changes)
                .await?
                .ok_or_else(|| anyhow!("the company {company:?} disappeared"))?
        }
    };
    Ok(company_json(&company))
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

async fn offer(db: &PgPool, command: OfferCommand) -> anyhow::Result<serde_json::Value> {
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
    // The same shape as the API's JobOffer, plus the offer's recruitment_id (CONTRACT §12).
    let mut output = serde_json::to_value(&offer)?;
    if let Some(object) = output.as_object_mut() {
        object.insert("recruitment_id".to_owned(), offer.recruitment_id.into());
    }
    Ok(output)
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
    use super::slugify;

    #[test]
    fn slugs_are_ascii_lowercase_with_dashes() {
        assert_eq!(slugify("Café Crème & Co."), "cafe-creme-co");
        assert_eq!(slugify("  ACME  "), "acme");
    }
}
