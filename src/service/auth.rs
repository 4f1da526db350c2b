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

/// The version of the caller's company's offers when its key was checked: it changes with every write to those
/// offers (migration 6), so a listing cached at this version is still exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OffersVersion(pub i64);

/// Finds the company of an active key. Revocation is seen by the next request: nothing is cached.
pub async fn authenticate(db: &PgPool, raw_key: &str) -> sqlx::Result<Option<Caller>> {
    Ok(authenticate_with_offers_version(db, raw_key).await?.map(|(caller, _)| caller))
}

/// [`authenticate`], with the company's [`OffersVersion`] read in the same statement.
pub async fn authenticate_with_offers_version(
    db: &PgPool,
    raw_key: &str,
) -> sqlx::Result<Option<(Caller, OffersVersion)>> {
    let Some(key) = PresentedApiKey::parse(raw_key) else {
        return Ok(None);
    };
    let candidates = db::api_keys::find_active_by_prefix(db, key.prefix()).await?;
    Ok(candidates
        .into_iter()
        .find(|row| key.matches(&row.key_hash))
        .map(|row| (Caller { company_id: row.company_id, api_key_id: row.id }, OffersVersion(row.offers_version))))
}
