//! The `storage_deletions` table: CV objects to delete from storage, kept until the deletion succeeded.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub async fn schedule(db: impl PgExecutor<'_>, object_key: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO storage_deletions (object_key) VALUES ($1) ON CONFLICT (object_key) DO NOTHING")
        .bind(object_key)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn done(db: impl PgExecutor<'_>, object_key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM storage_deletions WHERE object_key = $1").bind(object_key).execute(db).await?;
    Ok(())
}

/// Takes up to `limit` due deletions, pushing each one's next attempt ahead while this worker tries it.
pub async fn lease_due(db: impl PgExecutor<'_>, limit: i64, lease_seconds: f64) -> sqlx::Result<Vec<(String, i32)>> {
    sqlx::query_as(
        "WITH due AS (
             SELECT object_key FROM storage_deletions WHERE not_before <= now()
             ORDER BY not_before LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE storage_deletions d SET not_before = now() + make_interval(secs => $2)
         FROM due WHERE d.object_key = due.object_key
         RETURNING d.object_key, d.attempts",
    )
    .bind(limit)
    .bind(lease_seconds)
    .fetch_all(db)
    .await
}

pub async fn failed(
    db: impl PgExecutor<'_>,
    object_key: &str,
    error: &str,
    retry_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE storage_deletions SET attempts = attempts + 1, last_error = $2, not_before = $3 WHERE object_key = $1",
    )
    .bind(object_key)
    .bind(error)
    .bind(retry_at)
    .execute(db)
    .await?;
    Ok(())
}
