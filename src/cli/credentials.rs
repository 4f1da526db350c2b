//! `api-key` and `import-client`: the two kinds of credentials, whose secrets are printed once and never stored.

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::companies::find_company;
use crate::db;
use crate::domain::api_key::NewApiKey;
use crate::domain::import_credentials::{ImportEnvironment, NewImportClient};

#[derive(Subcommand)]
pub(super) enum ApiKeyCommand {
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
pub(super) enum ImportClientCommand {
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

pub(super) async fn api_key(db: &PgPool, command: ApiKeyCommand) -> anyhow::Result<serde_json::Value> {
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

pub(super) async fn import_client(db: &PgPool, command: ImportClientCommand) -> anyhow::Result<serde_json::Value> {
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
