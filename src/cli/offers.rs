//! `offer create`, `offer update` and `offer import`.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::companies::find_company;
use crate::db;
use crate::db::job_offers::OfferFields;
use crate::http::pages::urls::offer_url;
use crate::service::offer_import;

#[derive(Subcommand)]
pub(super) enum OfferCommand {
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

#[derive(Args)]
pub(super) struct OfferArgs {
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

pub(super) async fn offer(
    db: &PgPool,
    command: OfferCommand,
    public_base_url: &str,
) -> anyhow::Result<serde_json::Value> {
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
