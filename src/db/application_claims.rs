//! The `application_claims` table: which request is turning an (identity, offer) into an application, so
//! concurrent duplicates wait for it instead of paying for extraction and scoring again (CONTRACT §6).

use std::time::Duration;

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::candidate::CandidateIdentity;

/// Claims the (company, identity, offer) for `ttl`; true when this caller holds the claim. An expired claim
/// (its holder died) is taken over.
pub async fn try_claim(
    db: impl PgExecutor<'_>,
    company_id: Uuid,
    identity: &CandidateIdentity,
    job_offer_id: Uuid,
    token: Uuid,
    ttl: Duration,
) -> sqlx::Result<bool> {
    let claimed: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO application_claims
             (company_id, identity_email, identity_first_name, identity_last_name, job_offer_id, token, claimed_until)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         ON CONFLICT ON CONSTRAINT application_claims_pkey DO UPDATE
             SET token = EXCLUDED.token, claimed_until = EXCLUDED.claimed_until
             WHERE application_claims.claimed_until < now()
         RETURNING token",
    )
    .bind(company_id)
    .bind(&identity.email)
    .bind(&identity.first_name)
    .bind(&identity.last_name)
    .bind(job_offer_id)
    .bind(token)
    .bind(ttl.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(claimed == Some(token))
}

/// Gives a claim back; only its holder (same token) can.
pub async fn release(
    db: impl PgExecutor<'_>,
    company_id: Uuid,
    identity: &CandidateIdentity,
    job_offer_id: Uuid,
    token: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM application_claims
         WHERE company_id = $1 AND identity_email = $2 AND identity_first_name = $3 AND identity_last_name = $4
           AND job_offer_id = $5 AND token = $6",
    )
    .bind(company_id)
    .bind(&identity.email)
    .bind(&identity.first_name)
    .bind(&identity.last_name)
    .bind(job_offer_id)
    .bind(token)
    .execute(db)
    .await?;
    Ok(())
}

/// Drops claims that expired long ago (their holders died); called by the worker.
pub async fn purge_expired(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let result = sqlx::query("DELETE FROM application_claims WHERE claimed_until < now() - interval '1 hour'")
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}
