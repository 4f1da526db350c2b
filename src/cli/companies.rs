//! `company create` and `company update`, and the company lookup the other commands share.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use serde_json::json;
use sqlx::PgPool;

use crate::db;
use crate::db::companies::{Company, CompanyChanges, NewCompany, PageSettingsChanges};
use crate::domain::company_page::{AccentColor, LogoImage, parse_embed_origins};
use crate::http::pages::urls::jobs_url;

#[derive(Subcommand)]
pub(super) enum CompanyCommand {
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
pub(super) struct CompanyPageArgs {
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

pub(super) fn company_json(company: &Company, public_base_url: &str) -> serde_json::Value {
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

pub(super) async fn find_company(db: &PgPool, reference: &str) -> anyhow::Result<Company> {
    db::companies::find_by_id_or_slug(db, reference)
        .await?
        .ok_or_else(|| anyhow!("no company with id or slug {reference:?}"))
}

pub(super) async fn company(
    db: &PgPool,
    command: CompanyCommand,
    public_base_url: &str,
) -> anyhow::Result<serde_json::Value> {
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
