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
use crate::db::companies::{Company, CompanyChanges, NewCompany, PageSettingsChanges};
use crate::db::job_offers::OfferFields;
use crate::domain::api_key::NewApiKey;
use crate::domain::company_page::{AccentColor, LogoImage, parse_embed_origins};
use crate::http::pages::urls::{jobs_url, offer_url};
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
        #[command(flatten)]
        page: CompanyPageArgs,
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
        Command::Company(command) => company(&db, command, &settings.public_base_url).await?,
        Command::ApiKey(command) => api_key(&db, command).await?,
        Command::Offer(command) => offer(&db, command, &settings.public_base_url).await?,
        Command::Demo => {
            let seeded = demo::seed(&db).await?;
            let sample_cv = std::env::current_dir()?.join("data").join("demo-cv.pdf");
            std::fs::create_dir_all(sample_cv.parent().unwrap_or(std::path::Path::new(".")))?;
            std::fs::write(&sample_cv, demo::sample_cv_pdf())
                .with_context(|| format!("cannot write the sample CV {}", sample_cv.display()))?;
            let output = json!({
                "company": company_json(&seeded.company, &settings.public_base_url),
                "api_key": seeded.api_key,
                "job_offer_id": seeded.offer_id,
                "sample_cv": sample_cv,
            });
            println!("{output}");
            eprintln!("{}", demo::instructions(&seeded.api_key, settings.listen_addr, seeded.offer_id, &sample_cv));
            eprintln!("{}", demo::pages_instructions(&settings.public_base_url, &seeded.company, seeded.offer_id));
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
            db::job_offers::insert(db, company.id, &fields).await?
        }
        OfferCommand::Update { offer_id, fields } => db::job_offers::update(db, offer_id, &fields.into_fields()?)
            .await
            .map_err(|e| match db::violated_constraint(&e) {
                Some("job_offers_title_present") => anyhow!("the title must not be blank"),
                Some("job_offers_status_present") => anyhow!("the status must not be blank"),
                _ => e.into(),
            })?
            .ok_or_else(|| anyhow!("no job offer with id {offer_id}"))?,
        OfferCommand::Import { company, file } => {
            let company = find_company(db, &company).await?;
            let imported = offer_import::import_json_lines(db, company.id, &file).await?;
            return Ok(json!({"imported": imported}));
        }
    };
    // The same shape as the API's JobOffer, plus its page (CONTRACT §13).
    let slug = db::companies::find(db, offer.company_id).await?.map(|c| c.slug).unwrap_or_default();
    let mut output = serde_json::to_value(&offer)?;
    output["url"] = json!(offer_url(public_base_url, &slug, offer.id));
    Ok(output)
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
