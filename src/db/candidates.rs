//! The `candidates` table: one row per identity and company (constraint `candidates_identity_key`).

use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use crate::domain::candidate::CandidateIdentity;

/// What an application writes about its candidate.
pub struct CandidateWrite<'a> {
    pub company_id: Uuid,
    pub identity: &'a CandidateIdentity,
    pub email: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub phone: Option<&'a str>,
    pub linkedin_url: Option<&'a str>,
    /// The CV sent now, if any (an import may bring none): it replaces the stored one.
    pub cv: Option<CandidateCv<'a>>,
}

/// A CV in object storage.
#[derive(Clone, Copy)]
pub struct CandidateCv<'a> {
    pub object_key: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
}

/// Both statements of [`save`] answer (id, CV object key before the change).
type SaveQuery<'q> = QueryAs<'q, Postgres, (Uuid, Option<String>), PgArguments>;

/// Binds $1..$12 of both statements of [`save`], in the column order they share.
fn bind_columns<'q>(query: SaveQuery<'q>, candidate: &'q CandidateWrite<'q>) -> SaveQuery<'q> {
    query
        .bind(candidate.company_id)
        .bind(&candidate.identity.email)
        .bind(&candidate.identity.first_name)
        .bind(&candidate.identity.last_name)
        .bind(candidate.email)
        .bind(candidate.first_name)
        .bind(candidate.last_name)
        .bind(candidate.phone)
        .bind(candidate.linkedin_url)
        .bind(candidate.cv.map(|cv| cv.object_key))
        .bind(candidate.cv.map(|cv| cv.content_type))
        .bind(candidate.cv.map(|cv| cv.size_bytes))
}

/// The candidate's id and, when the candidate was already known and sent a new CV, the CV object it replaced.
pub struct SavedCandidate {
    pub id: Uuid,
    pub replaced_cv_object_key: Option<String>,
}

/// Inserts the candidate, or updates the known one: contact details given now and the CV (CONTRACT §6
/// "Creation"); names and email stay as first written. Race-free: the
/// update locks the existing row; an insert that loses to a concurrent one retries as an update.
pub async fn save(conn: &mut PgConnection, candidate: &CandidateWrite<'_>) -> sqlx::Result<SavedCandidate> {
    loop {
        let updated = bind_columns(
            sqlx::query_as(
                "UPDATE candidates AS c SET
                 phone = COALESCE($8, c.phone), linkedin_url = COALESCE($9, c.linkedin_url),
                 cv_object_key = COALESCE($10, c.cv_object_key),
                 cv_content_type = CASE WHEN $10 IS NULL THEN c.cv_content_type ELSE $11 END,
                 cv_size_bytes = CASE WHEN $10 IS NULL THEN c.cv_size_bytes ELSE $12 END
             FROM (SELECT id, cv_object_key FROM candidates
                   WHERE company_id = $1 AND identity_email = $2 AND identity_first_name = $3
                     AND identity_last_name = $4
                   FOR UPDATE) AS previous
             WHERE c.id = previous.id
             RETURNING c.id, previous.cv_object_key",
            ),
            candidate,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((id, previous_key)) = updated {
            let new_key = candidate.cv.map(|cv| cv.object_key);
            let replaced = previous_key.filter(|key| new_key.is_some_and(|new_key| new_key != key));
            return Ok(SavedCandidate { id, replaced_cv_object_key: replaced });
        }
        let inserted = bind_columns(
            sqlx::query_as(
                "INSERT INTO candidates (company_id, identity_email, identity_first_name, identity_last_name,
                 email, first_name, last_name, phone, linkedin_url, cv_object_key, cv_content_type, cv_size_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT ON CONSTRAINT candidates_identity_key DO NOTHING
             RETURNING id, NULL::text",
            ),
            candidate,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((id, _)) = inserted {
            return Ok(SavedCandidate { id, replaced_cv_object_key: None });
        }
        // Another request inserted this candidate between our update and insert: update it now.
    }
}
