//! `API_LOG_RETENTION` (CONTRACT §8 keeps a row per request; this keeps the table from growing without
//! limit): a background loop deletes rows older than the retention, in batches small enough that no
//! delete holds locks or bloats a transaction for long, until none is left, then waits for the next pass.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::observability;

/// Rows per delete: a few milliseconds of work each, so the loop never competes with requests for long.
pub const DELETE_BATCH: i64 = 5_000;
/// Between passes. A pass also runs at start-up.
pub const PASS_INTERVAL: Duration = Duration::from_secs(300);

/// Runs until `shutdown`. A `retention` of zero keeps every row.
pub async fn run(db: PgPool, retention: Duration, shutdown: CancellationToken) {
    if retention.is_zero() {
        return;
    }
    loop {
        match delete_expired(&db, retention, &shutdown).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, retention_s = retention.as_secs(), "old API log rows deleted"),
            Err(error) => tracing::warn!(%error, "deleting old API log rows failed; trying again later"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(PASS_INTERVAL) => {}
        }
    }
}

/// One pass: batch after batch until a batch comes back short.
pub async fn delete_expired(db: &PgPool, retention: Duration, shutdown: &CancellationToken) -> sqlx::Result<u64> {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return Ok(0);
    };
    let Some(before) = Utc::now().checked_sub_signed(retention) else {
        return Ok(0);
    };
    let mut total = 0;
    loop {
        let deleted = db::api_logs::delete_older_than(db, before, DELETE_BATCH).await?;
        observability::api_log_rows_deleted(deleted);
        total += deleted;
        if deleted < DELETE_BATCH as u64 || shutdown.is_cancelled() {
            return Ok(total);
        }
        // Let requests' own log inserts and queries through between batches.
        tokio::task::yield_now().await;
    }
}
