//! API key authentication (CONTRACT §2): the key implies the company.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::domain::api_key::PresentedApiKey;

/// Who a valid key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub company_id: Uuid,
    pub api_key_id: Uuid,
}

/// Finds the company of an active key. Revocation is seen by the next request: nothing is cached.
pub async fn authenticate(db: &PgPool, raw_key: &str) -> sqlx::Result<Option<Caller>> {
    let Some(key) = PresentedApiKey::parse(raw_key) else {
        return Ok(None);
    };
    let candidates = db::api_keys::find_active_by_prefix(db, key.prefix()).await?;
    Ok(candidates
        .into_iter()
        .find(|row| key.matches(&row.key_hash))
        .map(|row| Caller { company_id: row.company_id, api_key_id: row.id }))
}
