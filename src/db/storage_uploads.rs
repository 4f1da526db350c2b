//! The `storage_uploads` table: objects being uploaded for a submission not committed yet, so that an upload
//! whose request died is found and deleted (CONTRACT §11 "Crashes": no stored file without a row).

use std::time::Duration;

use sqlx::{PgConnection, PgExecutor};

/// Records that `object_key` is about to be uploaded. Written (and committed) before the upload starts.
pub async fn begin(db: impl PgExecutor<'_>, object_key: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO storage_uploads (object_key) VALUES ($1)").bind(object_key).execute(db).await?;
    Ok(())
}

/// In the transaction that makes rows point at the uploaded objects: forgets their uploads. False when one
/// of them was already swept as an orphan (its object may be gone), and the transaction must not commit.
pub async fn claim(conn: &mut PgConnection, object_keys: &[String]) -> sqlx::Result<bool> {
    let claimed = sqlx::query("DELETE FROM storage_uploads WHERE object_key = ANY($1)")
        .bind(object_keys)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(claimed == object_keys.len() as u64)
}

/// Hands the uploads older than `older_than` to `storage_deletions` (their requests died) and returns how
/// many there were.
pub async fn sweep_abandoned(conn: &mut PgConnection, older_than: Duration) -> sqlx::Result<u64> {
    let swept = sqlx::query(
        "WITH abandoned AS (
             DELETE FROM storage_uploads WHERE started_at < now() - make_interval(secs => $1)
             RETURNING object_key)
         INSERT INTO storage_deletions (object_key) SELECT object_key FROM abandoned
         ON CONFLICT (object_key) DO NOTHING",
    )
    .bind(older_than.as_secs_f64())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(swept)
}
