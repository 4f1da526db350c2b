//! The `import_clients` and `import_tokens` tables (CONTRACT §12): credentials of the Teamio import API. Only
//! hashes of secrets and tokens are stored.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::import_credentials::{ImportEnvironment, NewAccessToken, NewImportClient};
use crate::domain::timestamp;

/// A client as listed to operators: never the secret.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ImportClientRecord {
    pub id: Uuid,
    pub client_id: String,
    pub company_id: Uuid,
    pub environment: String,
    pub label: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, client_id, company_id, environment, label, created_at, revoked_at, last_used_at";

pub async fn insert(
    db: &PgPool,
    company_id: Uuid,
    client: &NewImportClient,
    environment: ImportEnvironment,
    label: &str,
) -> sqlx::Result<ImportClientRecord> {
    sqlx::query_as(&format!(
        "INSERT INTO import_clients (company_id, client_id, secret_hash, environment, label)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(&client.client_id)
    .bind(&client.secret_hash[..])
    .bind(environment.as_str())
    .bind(label)
    .fetch_one(db)
    .await
}

pub async fn list(db: &PgPool, company_id: Uuid) -> sqlx::Result<Vec<ImportClientRecord>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM import_clients WHERE company_id = $1 ORDER BY created_at, id"))
        .bind(company_id)
        .fetch_all(db)
        .await
}

/// Revokes a client; revoking twice keeps the first time. Its tokens stop working with this commit.
pub async fn revoke(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ImportClientRecord>> {
    sqlx::query_as(&format!(
        "UPDATE import_clients SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// An active client, with what the token endpoint needs to check its secret.
#[derive(Debug, sqlx::FromRow)]
pub struct ActiveClient {
    pub id: Uuid,
    pub company_id: Uuid,
    pub environment: String,
    pub secret_hash: Vec<u8>,
}

pub async fn find_active(db: &PgPool, client_id: &str) -> sqlx::Result<Option<ActiveClient>> {
    sqlx::query_as(
        "SELECT id, company_id, environment, secret_hash FROM import_clients
         WHERE client_id = $1 AND revoked_at IS NULL",
    )
    .bind(client_id)
    .fetch_optional(db)
    .await
}

/// Stores a new token of `client` (older ones keep working), drops the client's expired tokens, and records the
/// use, in one transaction. Returns the expiry, read from the database clock that later checks it.
pub async fn issue_token(
    db: &PgPool,
    client: Uuid,
    token: &NewAccessToken,
    ttl: std::time::Duration,
) -> sqlx::Result<DateTime<Utc>> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM import_tokens WHERE client_id = $1 AND expires_at <= now()")
        .bind(client)
        .execute(&mut *tx)
        .await?;
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO import_tokens (token_hash, client_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
    )
    .bind(&token.hash[..])
    .bind(client)
    .bind(ttl.as_secs_f64())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE import_clients SET last_used_at = now() WHERE id = $1").bind(client).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(expires_at)
}

/// Whose a token is, if it is unexpired and its client is not revoked. Looked up on every request, so a revoke
/// or an expiry holds at once on every instance.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct TokenOwner {
    pub client_id: Uuid,
    pub company_id: Uuid,
    #[sqlx(try_from = "String")]
    pub environment: EnvironmentColumn,
}

/// `import_clients.environment` as read from a row.
#[derive(Debug, Clone, Copy)]
pub struct EnvironmentColumn(pub ImportEnvironment);

impl TryFrom<String> for EnvironmentColumn {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        ImportEnvironment::parse(&raw).map(EnvironmentColumn).ok_or(raw)
    }
}

pub async fn find_token_owner(db: &PgPool, token_hash: &[u8; 32]) -> sqlx::Result<Option<TokenOwner>> {
    sqlx::query_as(
        "SELECT c.id AS client_id, c.company_id, c.environment
         FROM import_tokens t JOIN import_clients c ON c.id = t.client_id
         WHERE t.token_hash = $1 AND t.expires_at > now() AND c.revoked_at IS NULL",
    )
    .bind(&token_hash[..])
    .fetch_optional(db)
    .await
}

/// Records that a client's token was used, at most once a minute per client.
pub async fn touch_last_used(db: &PgPool, client: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE import_clients SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(client)
    .execute(db)
    .await?;
    Ok(())
}
