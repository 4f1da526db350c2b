//! Who calls the Teamio import API (CONTRACT §12): import clients exchange their credentials for access tokens;
//! a token (or a company's API key, §2, which counts as a production token) names the company and the
//! environment. Tokens are checked against the database on every request, joined to their client's revocation,
//! so a revoke or an expiry holds at once on every instance.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::domain::api_key::PresentedApiKey;
use crate::domain::import_credentials::{
    ImportEnvironment, NewAccessToken, is_well_formed_client_id, presented_token_hash, secret_matches,
};
use crate::service::auth;

/// The credential behind an import request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportCredential {
    ApiKey(Uuid),
    Client(Uuid),
}

/// An authenticated caller of the import API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportCaller {
    pub company_id: Uuid,
    pub environment: ImportEnvironment,
    pub credential: ImportCredential,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A token for `username`/`password` if they name an active client; `None` for wrong credentials, whichever part
/// is wrong (the answer does not tell which).
pub async fn issue_token(
    db: &PgPool,
    username: &str,
    password: &str,
    ttl: Duration,
) -> anyhow::Result<Option<IssuedToken>> {
    if !is_well_formed_client_id(username) {
        return Ok(None);
    }
    let Some(client) = db::import_clients::find_active(db, username).await? else {
        return Ok(None);
    };
    if !secret_matches(password, &client.secret_hash) {
        return Ok(None);
    }
    let token = NewAccessToken::generate()?;
    let expires_at = db::import_clients::issue_token(db, client.id, &token, ttl).await?;
    tracing::info!(import_client = %client.id, company_id = %client.company_id, "import access token issued");
    Ok(Some(IssuedToken { access_token: token.token, expires_at }))
}

/// The caller behind a bearer value: an access token of an active client, or an API key. `None` when it is
/// neither (unknown, expired or revoked).
pub async fn authenticate(db: &PgPool, bearer: &str) -> sqlx::Result<Option<ImportCaller>> {
    if PresentedApiKey::parse(bearer).is_some() {
        return Ok(auth::authenticate(db, bearer).await?.map(|caller| ImportCaller {
            company_id: caller.company_id,
            environment: ImportEnvironment::Production,
            credential: ImportCredential::ApiKey(caller.api_key_id),
        }));
    }
    let Some(hash) = presented_token_hash(bearer) else {
        return Ok(None);
    };
    let Some(owner) = db::import_clients::find_token_owner(db, &hash).await? else {
        return Ok(None);
    };
    // `last_used_at` is bookkeeping: written off the request's path, at most once a minute per client.
    let pool = db.clone();
    tokio::spawn(async move {
        if let Err(error) = db::import_clients::touch_last_used(&pool, owner.client_id).await {
            tracing::warn!(%error, "updating import_clients.last_used_at failed");
        }
    });
    Ok(Some(ImportCaller {
        company_id: owner.company_id,
        environment: owner.environment.0,
        credential: ImportCredential::Client(owner.client_id),
    }))
}
