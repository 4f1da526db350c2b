//! The `api_keys` table. Only hashes are stored (CONTRACT §2).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::api_key::NewApiKey;
use crate::domain::timestamp;

/// A key as listed to operators: never the secret.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    #[serde(skip)]
    pub company_id: Uuid,
    pub prefix: String,
    pub label: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamp::serialize_option")]
    pub last_used_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, company_id, prefix, label, created_at, revoked_at, last_used_at";

pub async fn insert(db: &PgPool, company_id: Uuid, key: &NewApiKey, label: &str) -> sqlx::Result<ApiKeyRecord> {
    sqlx::query_as(&format!(
        "INSERT INTO api_keys (company_id, prefix, key_hash, label) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(company_id)
    .bind(&key.prefix)
    .bind(&key.hash[..])
    .bind(label)
    .fetch_one(db)
    .await
}

pub async fn list(db: &PgPool, company_id: Uuid) -> sqlx::Result<Vec<ApiKeyRecord>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE company_id = $1 ORDER BY created_at, id"))
        .bind(company_id)
        .fetch_all(db)
        .await
}

/// Revokes a key; revoking twice keeps the first revocation time.
pub async fn revoke(db: &PgPool, id: Uuid) -> sqlx::Result<Option<ApiKeyRecord>> {
    sqlx::query_as(&format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct ActiveKey {
    pub id: Uuid,
    pub company_id: Uuid,
    pub key_hash: Vec<u8>,
}

/// The active keys sharing a prefix (almost always one); the caller compares hashes in constant time.
pub async fn find_active_by_prefix(db: &PgPool, prefix: &str) -> sqlx::Result<Vec<ActiveKey>> {
    sqlx::query_as("SELECT id, company_id, key_hash FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL")
        .bind(prefix)
        .fetch_all(db)
        .await
}

/// Records when keys were last used; called by the API log writer with a batch's latest use per key.
pub async fn touch_last_used(db: &PgPool, ids: &[Uuid], used_at: &[DateTime<Utc>]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys AS k SET last_used_at = u.used_at
         FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, used_at)
         WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.used_at)",
    )
    .bind(ids)
    .bind(used_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes a company's active keys with this label, but `keep`: how `demo` replaces its own key instead of
/// leaving one more active key per run.
pub async fn revoke_labelled(db: &PgPool, company_id: Uuid, label: &str, keep: Uuid) -> sqlx::Result<u64> {
    let revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = now()
         WHERE company_id = $1 AND label = $2 AND id <> $3 AND revoked_at IS NULL",
    )
    .bind(company_id)
    .bind(label)
    .bind(keep)
    .execute(db)
    .await?;
    Ok(revoked.rows_affected())
}
