//! Leased jobs: the one mechanism every background queue uses to take rows, hold them while working,
//! and record the outcome (STYLE "Background work").
//!
//! A queue is a table whose rows are jobs. Any number of workers, on any number of instances, call
//! [`claim`]: it takes due rows with `FOR UPDATE SKIP LOCKED` and commits a lease on each (`locked_until`)
//! with a fresh fencing token (`lease_token`). Until the lease passes no other worker takes the row; after
//! it passes (its holder died, or lost the database for longer than the lease) the row is taken over with a
//! new token, and every later call by the old holder ([`renew`], [`finish`], [`retry_later`], [`release`])
//! finds the token changed and does nothing. A job longer than its lease calls [`renew`] while it works.
//!
//! # Column convention
//! A queue table has, besides its own columns:
//!
//! | column         | type          | meaning                                                       |
//! |----------------|---------------|---------------------------------------------------------------|
//! | `run_after`    | `timestamptz` | not tried before this instant (`NOT NULL DEFAULT now()`)      |
//! | `locked_until` | `timestamptz` | held by a worker until then; `NULL` when nobody holds it      |
//! | `lease_token`  | `uuid`        | the holder's fencing token; `NULL` when nobody holds it       |
//! | `attempts`     | `integer`     | failed attempts so far (`NOT NULL DEFAULT 0`)                 |
//! | `last_error`   | `text`        | why the last attempt failed                                   |
//! | `failed_at`    | `timestamptz` | set when the queue gave up; such a row is never claimed again |
//!
//! plus a one-column primary key. A queue says which rows are still to do with a condition of its own
//! ([`JobQueue::pending`], e.g. `sent_at IS NULL`); a finished job either leaves that condition or is
//! deleted, in the transaction [`finish`] runs in. Tables older than the convention name some columns
//! differently ([`JobQueue::with_columns`]).

use std::time::Duration;

use sqlx::postgres::PgHasArrayType;
use sqlx::{PgConnection, PgExecutor, Postgres};
use uuid::Uuid;

/// A table used as a queue. Every name is a constant of the program, never input: they are written into
/// the SQL text.
#[derive(Debug, Clone, Copy)]
pub struct JobQueue {
    pub table: &'static str,
    /// The primary key column.
    pub key: &'static str,
    /// SQL condition over the table's own columns that holds while the job is still to do.
    pub pending: &'static str,
    pub columns: QueueColumns,
}

/// The names of the convention's columns in one table.
#[derive(Debug, Clone, Copy)]
pub struct QueueColumns {
    pub run_after: &'static str,
    pub locked_until: &'static str,
    pub lease_token: &'static str,
    pub attempts: &'static str,
    pub last_error: &'static str,
    pub failed_at: &'static str,
}

impl QueueColumns {
    /// The convention's names.
    pub const CONVENTIONAL: QueueColumns = QueueColumns {
        run_after: "run_after",
        locked_until: "locked_until",
        lease_token: "lease_token",
        attempts: "attempts",
        last_error: "last_error",
        failed_at: "failed_at",
    };
}

impl JobQueue {
    /// A queue on `table` with the conventional column names.
    pub const fn new(table: &'static str, key: &'static str, pending: &'static str) -> Self {
        JobQueue { table, key, pending, columns: QueueColumns::CONVENTIONAL }
    }

    /// The same queue on a table that names the convention's columns otherwise.
    pub const fn with_columns(self, columns: QueueColumns) -> Self {
        JobQueue { columns, ..self }
    }

    /// The row whose key is parameter `$key_param` and that still carries the token of the next parameter.
    fn held(&self, key_param: u8) -> String {
        format!("{} = ${key_param} AND {} = ${}", self.key, self.columns.lease_token, key_param + 1)
    }
}

/// What a primary key column can hold (`uuid`, `text`, …).
pub trait JobKey:
    for<'r> sqlx::Decode<'r, Postgres>
    + for<'q> sqlx::Encode<'q, Postgres>
    + sqlx::Type<Postgres>
    + PgHasArrayType
    + Clone
    + Send
    + Sync
    + Unpin
    + 'static
{
}

impl<T> JobKey for T where
    T: for<'r> sqlx::Decode<'r, Postgres>
        + for<'q> sqlx::Encode<'q, Postgres>
        + sqlx::Type<Postgres>
        + PgHasArrayType
        + Clone
        + Send
        + Sync
        + Unpin
        + 'static
{
}

/// A row this worker holds: its key, the fencing token every later call presents, and the attempts that
/// failed before this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease<K> {
    pub key: K,
    pub token: Uuid,
    pub attempts: i32,
}

/// When to try again after a failure, and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; each further failure doubles it.
    pub first_delay: Duration,
    /// The wait never grows past this.
    pub max_delay: Duration,
    /// After this many failed attempts the row ends `failed`; `None` retries for ever.
    pub max_attempts: Option<i32>,
}

impl RetryPolicy {
    /// The wait after the `failed_attempts`-th failure (1 for the first): `first_delay` doubled
    /// `failed_attempts - 1` times, at most `max_delay`.
    pub fn delay(&self, failed_attempts: i32) -> Duration {
        let doublings = u32::try_from(failed_attempts.saturating_sub(1)).unwrap_or(0).min(31);
        self.first_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }

    /// Whether the `failed_attempts`-th failure is the last one allowed.
    pub fn gives_up_after(&self, failed_attempts: i32) -> bool {
        self.max_attempts.is_some_and(|max| failed_attempts >= max)
    }
}

/// What [`retry_later`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The row is due again after this wait; `attempts` failures so far.
    Scheduled { attempts: i32, after: Duration },
    /// That was the last attempt allowed: the row is now `failed` and never claimed again.
    GaveUp { attempts: i32 },
    /// The lease was taken over (or the row finished or removed meanwhile): nothing was recorded.
    LeaseLost,
}

/// Takes up to `limit` due rows nobody holds (oldest `run_after` first) and commits a lease of `lease` on
/// each, with a fresh token. Rows held by a live lease, failed, or no longer pending are skipped; rows locked
/// by a concurrent claim are skipped rather than waited for.
pub async fn claim<K: JobKey>(
    db: impl PgExecutor<'_>,
    queue: &JobQueue,
    limit: i64,
    lease: Duration,
) -> sqlx::Result<Vec<Lease<K>>> {
    let JobQueue { table, key, pending, columns: c } = queue;
    let sql = format!(
        "WITH due AS ( \
             SELECT {key} FROM {table} \
             WHERE ({pending}) AND {failed_at} IS NULL AND {run_after} <= now() \
               AND ({locked_until} IS NULL OR {locked_until} <= now()) \
             ORDER BY {run_after} LIMIT $1 \
             FOR UPDATE SKIP LOCKED) \
         UPDATE {table} AS job \
         SET {locked_until} = now() + make_interval(secs => $2), {lease_token} = gen_random_uuid() \
         FROM due WHERE job.{key} = due.{key} \
         RETURNING job.{key}, job.{lease_token}, job.{attempts}",
        failed_at = c.failed_at,
        run_after = c.run_after,
        locked_until = c.locked_until,
        lease_token = c.lease_token,
        attempts = c.attempts,
    );
    let rows: Vec<(K, Uuid, i32)> = sqlx::query_as(&sql).bind(limit).bind(lease.as_secs_f64()).fetch_all(db).await?;
    Ok(rows.into_iter().map(|(key, token, attempts)| Lease { key, token, attempts }).collect())
}

/// Extends the lease to `lease` from now. False when it was taken over: the holder must stop and record
/// nothing.
pub async fn renew<K: JobKey>(
    db: impl PgExecutor<'_>,
    queue: &JobQueue,
    held: &Lease<K>,
    lease: Duration,
) -> sqlx::Result<bool> {
    let sql = format!(
        "UPDATE {} SET {} = now() + make_interval(secs => $3) WHERE {}",
        queue.table,
        queue.columns.locked_until,
        queue.held(1)
    );
    let result =
        sqlx::query(&sql).bind(held.key.clone()).bind(held.token).bind(lease.as_secs_f64()).execute(db).await?;
    Ok(result.rows_affected() == 1)
}

/// Ends the lease of a job that succeeded, locking the row. Run it in the transaction that records the job's
/// result (the update that leaves [`JobQueue::pending`], or the delete), and commit only when it returns
/// true: false means the lease was taken over and the result must not be recorded.
pub async fn finish<K: JobKey>(conn: &mut PgConnection, queue: &JobQueue, held: &Lease<K>) -> sqlx::Result<bool> {
    let c = &queue.columns;
    let sql = format!(
        "UPDATE {} SET {} = NULL, {} = NULL, {} = NULL WHERE {}",
        queue.table,
        c.locked_until,
        c.lease_token,
        c.last_error,
        queue.held(1)
    );
    let result = sqlx::query(&sql).bind(held.key.clone()).bind(held.token).execute(&mut *conn).await?;
    Ok(result.rows_affected() == 1)
}

/// Records a failed attempt with its `error` and ends the lease: the row is due again after the policy's
/// backoff, or, when that was its last allowed attempt, ends `failed` (`failed_at` set).
pub async fn retry_later<K: JobKey>(
    db: impl PgExecutor<'_>,
    queue: &JobQueue,
    held: &Lease<K>,
    error: &str,
    policy: &RetryPolicy,
) -> sqlx::Result<Retry> {
    let attempts = held.attempts.saturating_add(1);
    let gave_up = policy.gives_up_after(attempts);
    let after = policy.delay(attempts);
    let c = &queue.columns;
    let sql = format!(
        "UPDATE {table} SET {attempts_col} = $3, {last_error} = $4, \
             {run_after} = now() + make_interval(secs => $5), \
             {failed_at} = CASE WHEN $6 THEN now() END, \
             {locked_until} = NULL, {lease_token} = NULL \
         WHERE {held}",
        table = queue.table,
        attempts_col = c.attempts,
        last_error = c.last_error,
        run_after = c.run_after,
        failed_at = c.failed_at,
        locked_until = c.locked_until,
        lease_token = c.lease_token,
        held = queue.held(1),
    );
    let result = sqlx::query(&sql)
        .bind(held.key.clone())
        .bind(held.token)
        .bind(attempts)
        .bind(error)
        .bind(after.as_secs_f64())
        .bind(gave_up)
        .execute(db)
        .await?;
    Ok(match (result.rows_affected(), gave_up) {
        (0, _) => Retry::LeaseLost,
        (_, true) => Retry::GaveUp { attempts },
        (_, false) => Retry::Scheduled { attempts, after },
    })
}

/// Gives back rows taken but not tried, so the next claim takes them without waiting for their lease.
/// Their attempts are unchanged.
pub async fn release<K: JobKey>(db: impl PgExecutor<'_>, queue: &JobQueue, held: &[Lease<K>]) -> sqlx::Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    let c = &queue.columns;
    let sql = format!(
        "UPDATE {table} AS job SET {locked_until} = NULL, {lease_token} = NULL \
         FROM unnest($1, $2) AS held(key, token) \
         WHERE job.{key} = held.key AND job.{lease_token} = held.token",
        table = queue.table,
        locked_until = c.locked_until,
        lease_token = c.lease_token,
        key = queue.key,
    );
    let keys: Vec<K> = held.iter().map(|lease| lease.key.clone()).collect();
    let tokens: Vec<Uuid> = held.iter().map(|lease| lease.token).collect();
    sqlx::query(&sql).bind(keys).bind(tokens).execute(db).await?;
    Ok(())
}

/// Renews a lease in the background while a long job runs: every quarter of `lease`, for as long as the
/// keeper lives (dropping it stops the renewals). A renewal that fails because the database is unreachable
/// is tried again at the next tick, so a short outage costs the holder nothing; one that finds the lease
/// taken over stops, and [`LeaseKeeper::lost`] then says so.
pub struct LeaseKeeper {
    task: tokio::task::JoinHandle<()>,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LeaseKeeper {
    pub fn start<K: JobKey>(pool: sqlx::PgPool, queue: JobQueue, held: Lease<K>, lease: Duration) -> Self {
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lost.clone();
        let every = (lease / 4).max(Duration::from_millis(50));
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match renew(&pool, &queue, &held, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(queue = queue.table, %error, "could not renew a lease; trying again");
                    }
                }
            }
        });
        LeaseKeeper { task, lost }
    }

    /// Whether a renewal found the lease taken over (or the job finished, which clears the token).
    pub fn lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        first_delay: Duration::from_secs(10),
        max_delay: Duration::from_secs(3600),
        max_attempts: Some(10),
    };

    #[test]
    fn the_delay_doubles_from_the_first_and_stops_at_the_cap() {
        assert_eq!(POLICY.delay(0), Duration::from_secs(10));
        assert_eq!(POLICY.delay(1), Duration::from_secs(10));
        assert_eq!(POLICY.delay(2), Duration::from_secs(20));
        assert_eq!(POLICY.delay(9), Duration::from_secs(2560));
        assert_eq!(POLICY.delay(10), Duration::from_secs(3600));
        assert_eq!(POLICY.delay(i32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn the_policy_gives_up_at_its_maximum_or_never_without_one() {
        assert!(!POLICY.gives_up_after(9));
        assert!(POLICY.gives_up_after(10));
        assert!(POLICY.gives_up_after(11));
        let forever = RetryPolicy { max_attempts: None, ..POLICY };
        assert!(!forever.gives_up_after(i32::MAX));
    }
}
