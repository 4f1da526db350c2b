//! Serialises the submissions of one candidate identity to one offer (CONTRACT §6 "Dedup before cost") with a
//! PostgreSQL advisory lock held by the processing transaction. The lock dies with the transaction or its
//! connection, so a request that crashed never leaves a lock behind for the client's retry to wait on
//! (CONTRACT §11 "Crashes").

use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::candidate::CandidateIdentity;

/// How long a duplicate waits for the submission in progress before its request gives up (SQLSTATE 55P03).
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Takes the (company, identity, offer) lock for the rest of the transaction, waiting at most [`LOCK_WAIT`].
pub async fn lock(
    conn: &mut PgConnection,
    company_id: Uuid,
    identity: &CandidateIdentity,
    job_offer_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(&format!("SET LOCAL lock_timeout = '{}s'", LOCK_WAIT.as_secs())).execute(&mut *conn).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(company_id, identity, job_offer_id))
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL lock_timeout = 0").execute(&mut *conn).await?;
    Ok(())
}

/// Whether `error` is a lock wait that ran out.
pub fn is_lock_timeout(error: &sqlx::Error) -> bool {
    super::sql_state(error).as_deref() == Some("55P03")
}

/// 64 bits of a hash of the tuple: two tuples sharing a key only wait for each other, which is harmless.
fn lock_key(company_id: Uuid, identity: &CandidateIdentity, job_offer_id: Uuid) -> i64 {
    let mut hasher = Sha256::new();
    for part in [
        company_id.as_bytes().as_slice(),
        identity.email.as_bytes(),
        identity.first_name.as_bytes(),
        identity.last_name.as_bytes(),
        job_offer_id.as_bytes().as_slice(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}
