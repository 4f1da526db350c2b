//! The `storage_deletions` table: CV objects to delete from storage, kept until the deletion succeeded.
//! A queue of the leased-job convention ([`crate::db::job_queue`]); a done deletion removes its row.

use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::db::job_queue::{self, JobQueue, Lease};

/// Every row is to do until it is deleted.
pub const QUEUE: JobQueue = JobQueue::new("storage_deletions", "object_key", "TRUE");

/// A deletion taken by a worker: the object key is the lease's key.
pub type LeasedDeletion = Lease<String>;

pub async fn schedule(db: impl PgExecutor<'_>, object_key: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO storage_deletions (object_key) VALUES ($1) ON CONFLICT (object_key) DO NOTHING")
        .bind(object_key)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets a deletion done right away by whoever scheduled it (not leased).
pub async fn done(db: impl PgExecutor<'_>, object_key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM storage_deletions WHERE object_key = $1").bind(object_key).execute(db).await?;
    Ok(())
}

/// Removes a leased deletion that succeeded, unless its lease was taken over meanwhile (then the new
/// holder records the outcome). True when it was removed.
pub async fn finish_leased(pool: &PgPool, held: &LeasedDeletion) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    if !job_queue::finish(&mut tx, &QUEUE, held).await? {
        return Ok(false);
    }
    delete_held(&mut tx, &held.key).await?;
    tx.commit().await?;
    Ok(true)
}

async fn delete_held(conn: &mut PgConnection, object_key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM storage_deletions WHERE object_key = $1").bind(object_key).execute(conn).await?;
    Ok(())
}
