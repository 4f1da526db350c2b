//! The leasing mechanism of every background queue (`talqo_server::db::job_queue`) on a real PostgreSQL
//! database: a queue table of the column convention made by the test, workers claiming from it concurrently,
//! leases taken over, fencing, backoff and giving up.
//!
//! Needs PostgreSQL (`TALQO_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432`).

use std::collections::HashSet;
use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};
use talqo_server::db::job_queue::{self, JobQueue, Lease, LeaseKeeper, Retry, RetryPolicy};
use uuid::Uuid;

/// A queue exactly as a new table adopts the convention; `done_at` is its own column.
const QUEUE: JobQueue = JobQueue::new("test_jobs", "id", "done_at IS NULL");

const POLICY: RetryPolicy =
    RetryPolicy { first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(60), max_attempts: Some(3) };

fn postgres_server_url() -> String {
    std::env::var("TALQO_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database of its own with one queue table, dropped at the end (even by a panic).
struct TestDatabase {
    name: String,
    pool: PgPool,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        let name = format!("talqo_jobqueue_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server_url())).await.expect("connect");
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("create database");
        admin.close().await.ok();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&format!("{}/{name}", postgres_server_url()))
            .await
            .expect("connect to the test database");
        sqlx::raw_sql(
            "CREATE TABLE test_jobs (
                 id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
                 done_at      timestamptz,
                 run_after    timestamptz NOT NULL DEFAULT now(),
                 locked_until timestamptz,
                 lease_token  uuid,
                 attempts     integer     NOT NULL DEFAULT 0,
                 last_error   text,
                 failed_at    timestamptz,
                 CONSTRAINT test_jobs_token_needs_lock CHECK (lease_token IS NULL OR locked_until IS NOT NULL)
             )",
        )
        .execute(&pool)
        .await
        .expect("create the queue table");
        TestDatabase { name, pool }
    }

    async fn add_jobs(&self, count: usize) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for _ in 0..count {
            ids.push(
                sqlx::query_scalar("INSERT INTO test_jobs DEFAULT VALUES RETURNING id")
                    .fetch_one(&self.pool)
                    .await
                    .expect("insert a job"),
            );
        }
        ids
    }

    async fn job(&self, id: Uuid) -> Job {
        sqlx::query_as(
            "SELECT done_at IS NOT NULL AS done, attempts, last_error, failed_at IS NOT NULL AS failed,
                    locked_until IS NOT NULL AS locked, lease_token, run_after > now() AS waiting
             FROM test_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .expect("the job")
    }

    /// Marks the leased job done the way a queue does: `finish` and its own update in one transaction.
    async fn complete(&self, held: &Lease<Uuid>) -> bool {
        let mut tx = self.pool.begin().await.expect("begin");
        if !job_queue::finish(&mut tx, &QUEUE, held).await.expect("finish") {
            return false;
        }
        sqlx::query("UPDATE test_jobs SET done_at = now() WHERE id = $1")
            .bind(held.key)
            .execute(&mut *tx)
            .await
            .expect("mark done");
        tx.commit().await.expect("commit");
        true
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async move {
                let mut admin = PgConnection::connect(&format!("{}/postgres", postgres_server_url())).await.ok()?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join()
        .ok();
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Job {
    done: bool,
    attempts: i32,
    last_error: Option<String>,
    failed: bool,
    locked: bool,
    lease_token: Option<Uuid>,
    waiting: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_take_the_same_row() {
    let database = TestDatabase::create().await;
    let ids = database.add_jobs(40).await;
    let claim = || job_queue::claim::<Uuid>(&database.pool, &QUEUE, 15, Duration::from_secs(60));
    let (first, second, third, fourth) = tokio::join!(claim(), claim(), claim(), claim());
    let mut taken = Vec::new();
    for claimed in [first, second, third, fourth] {
        taken.extend(claimed.expect("claim").into_iter().map(|lease| lease.key));
    }
    let distinct: HashSet<Uuid> = taken.iter().copied().collect();
    assert_eq!(distinct.len(), taken.len(), "a row was taken twice");
    assert_eq!(distinct, ids.into_iter().collect::<HashSet<_>>(), "every row was taken once");
    // All held: nothing left to claim.
    assert!(claim().await.expect("claim").is_empty());
}

#[tokio::test]
async fn a_holder_whose_lease_was_taken_over_can_neither_complete_nor_retry() {
    let database = TestDatabase::create().await;
    let [id] = database.add_jobs(1).await[..] else { unreachable!() };
    let lease = Duration::from_millis(300);
    let old: Vec<Lease<Uuid>> = job_queue::claim(&database.pool, &QUEUE, 10, lease).await.expect("claim");
    assert_eq!(old.len(), 1);
    // Held: another worker does not get it.
    assert!(job_queue::claim::<Uuid>(&database.pool, &QUEUE, 10, lease).await.expect("claim").is_empty());

    // The holder stalls past its lease; another worker takes the row over with a new token.
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let new: Vec<Lease<Uuid>> = job_queue::claim(&database.pool, &QUEUE, 10, lease).await.expect("claim");
    assert_eq!(new.len(), 1);
    assert_ne!(new[0].token, old[0].token);

    assert!(!job_queue::renew(&database.pool, &QUEUE, &old[0], lease).await.expect("renew"));
    assert!(!database.complete(&old[0]).await, "the old holder completed the row");
    let retry = job_queue::retry_later(&database.pool, &QUEUE, &old[0], "late", &POLICY).await.expect("retry");
    assert_eq!(retry, Retry::LeaseLost);
    job_queue::release(&database.pool, &QUEUE, &old).await.expect("release");
    let job = database.job(id).await;
    assert!(!job.done && job.attempts == 0 && job.last_error.is_none(), "{job:?}");
    assert_eq!(job.lease_token, Some(new[0].token), "the new holder still holds it");

    assert!(database.complete(&new[0]).await);
    let job = database.job(id).await;
    assert!(job.done && !job.locked && job.lease_token.is_none(), "{job:?}");
    assert!(job_queue::claim::<Uuid>(&database.pool, &QUEUE, 10, lease).await.expect("claim").is_empty());
}

#[tokio::test]
async fn failures_back_off_and_the_last_allowed_one_ends_failed() {
    let database = TestDatabase::create().await;
    let [id] = database.add_jobs(1).await[..] else { unreachable!() };
    let lease = Duration::from_secs(60);
    let mut delays = Vec::new();
    loop {
        let claimed: Vec<Lease<Uuid>> = job_queue::claim(&database.pool, &QUEUE, 10, lease).await.expect("claim");
        let Some(held) = claimed.into_iter().next() else {
            // Not due yet: wait for the backoff.
            assert!(delays.len() < 3, "claimed after giving up");
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let retry = job_queue::retry_later(&database.pool, &QUEUE, &held, "refused", &POLICY).await.expect("retry");
        match retry {
            Retry::Scheduled { attempts, after } => {
                let job = database.job(id).await;
                assert!(job.waiting && !job.locked && job.lease_token.is_none() && !job.failed, "{job:?}");
                assert_eq!(job.attempts, attempts);
                delays.push(after);
            }
            Retry::GaveUp { attempts } => {
                assert_eq!(attempts, 3);
                break;
            }
            Retry::LeaseLost => panic!("the only holder lost its lease"),
        }
    }
    assert_eq!(delays, [Duration::from_millis(200), Duration::from_millis(400)]);
    let job = database.job(id).await;
    assert!(job.failed && !job.done && job.attempts == 3, "{job:?}");
    assert_eq!(job.last_error.as_deref(), Some("refused"));
    // Given up: never claimed again, even once due.
    sqlx::query("UPDATE test_jobs SET run_after = now() - interval '1 hour'")
        .execute(&database.pool)
        .await
        .expect("make it due");
    assert!(job_queue::claim::<Uuid>(&database.pool, &QUEUE, 10, lease).await.expect("claim").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_lease_outlives_its_length_and_a_released_row_is_claimed_at_once() {
    let database = TestDatabase::create().await;
    database.add_jobs(2).await;
    let lease = Duration::from_millis(400);
    let claimed: Vec<Lease<Uuid>> = job_queue::claim(&database.pool, &QUEUE, 10, lease).await.expect("claim");
    assert_eq!(claimed.len(), 2);
    let keeper = LeaseKeeper::start(database.pool.clone(), QUEUE, claimed[0].clone(), lease);
    // Three leases long: the kept row stays held, the other was taken over.
    tokio::time::sleep(lease * 3).await;
    let taken_over: Vec<Lease<Uuid>> = job_queue::claim(&database.pool, &QUEUE, 10, lease).await.expect("claim");
    assert_eq!(taken_over.iter().map(|lease| lease.key).collect::<Vec<_>>(), [claimed[1].key]);
    assert!(!keeper.lost());
    assert!(database.complete(&claimed[0]).await, "the kept lease is still valid");
    drop(keeper);

    // Given back untried: the next claim takes it without waiting, attempts unchanged.
    job_queue::release(&database.pool, &QUEUE, &taken_over).await.expect("release");
    let again: Vec<Lease<Uuid>> = job_queue::claim(&database.pool, &QUEUE, 10, lease).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].key, again[0].attempts), (claimed[1].key, 0));
}
