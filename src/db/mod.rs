//! SQL, one module per table. Queries are plain `sqlx::query*` with `FromRow` structs, kept beside the
//! table they touch; multi-row changes take a `&mut PgConnection` so callers decide the transaction.

pub mod api_keys;
pub mod api_logs;
pub mod application_attachments;
pub mod application_consents;
pub mod candidates;
pub mod companies;
pub mod identity_locks;
pub mod import_clients;
pub mod job_applications;
pub mod job_offers;
pub mod job_queue;
pub mod outbox;
pub mod storage_deletions;
pub mod storage_uploads;
pub mod submissions;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to `database_url`, creating the database first if it does not exist (CONTRACT §10).
pub async fn connect(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url).context("DATABASE_URL is not a PostgreSQL URL")?;
    create_database_if_missing(&options).await?;
    pool_options(max_connections, Duration::from_secs(10))
        .connect_with(options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")
}

/// A connection idle for longer than this is checked with a round trip before it is handed out.
const PING_CONNECTIONS_IDLE_FOR: Duration = Duration::from_secs(1);

/// The pool every command and the server use. sqlx checks each connection with a round trip before handing
/// it out, which doubles the round trips of a one-statement request (the listing's key lookup): only a
/// connection idle for a while, the kind PostgreSQL may have closed meanwhile, is checked here. A connection
/// that breaks in use is dropped by sqlx, and the request answers 503 (`is_database_unavailable`).
fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_CONNECTIONS_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Connects and applies the migrations: what every command does before it touches a table.
pub async fn connect_and_migrate(database_url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let pool = connect(database_url, max_connections).await?;
    MIGRATOR.run(&pool).await.context("applying the database migrations")?;
    Ok(pool)
}

/// How the server's pool behaves (CONTRACT §11).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long start-up waits for PostgreSQL to accept connections (`DATABASE_CONNECT_TIMEOUT`).
    pub wait_for_database: Duration,
    /// How long a request waits for a connection before it answers 503 (`DATABASE_ACQUIRE_TIMEOUT`).
    pub acquire_timeout: Duration,
}

/// The server's start-up: waits up to `wait_for_database` for PostgreSQL (it often starts beside the server,
/// as in docker-compose), saying where it waits, then creates the database if missing and migrates it.
/// Only an unreachable or starting server is waited for: a wrong password or URL fails at once.
pub async fn connect_and_migrate_when_ready(database_url: &str, settings: &PoolSettings) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url).context("DATABASE_URL is not a PostgreSQL URL")?;
    let started = std::time::Instant::now();
    let mut announced = false;
    loop {
        let attempt = async {
            create_database_if_missing(&options).await?;
            let pool = pool_options(settings.max_connections, settings.acquire_timeout)
                .connect_with(
                    options.clone().log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)),
                )
                .await
                .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
            MIGRATOR.run(&pool).await.context("applying the database migrations")?;
            anyhow::Ok(pool)
        };
        let error = match attempt.await {
            Ok(pool) => return Ok(pool),
            Err(error) => error,
        };
        let unavailable = error.chain().any(|e| e.downcast_ref::<sqlx::Error>().is_some_and(is_database_unavailable));
        if !unavailable || started.elapsed() >= settings.wait_for_database {
            return Err(error);
        }
        if !announced {
            tracing::warn!(
                host = options.get_host(),
                port = options.get_port(),
                timeout = ?settings.wait_for_database,
                error = format!("{error:#}"),
                "waiting for PostgreSQL to accept connections (DATABASE_CONNECT_TIMEOUT)"
            );
            announced = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether an error means PostgreSQL cannot be reached or is not accepting work right now (CONTRACT §11:
/// answered 503 with `Retry-After`, not 500): no connection within the acquire timeout, a broken or
/// refused connection, or the server shutting down, starting up, or out of connection slots.
pub fn is_database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now;
            // 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    if name == "postgres" {
        return Ok(());
    }
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL) to check that the database exists")?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&statement).execute(&mut admin).await {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another instance created it at the same moment.
            Err(e) if sql_state(&e).as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create the database {name}")),
        }
    }
    admin.close().await.ok();
    Ok(())
}

/// Whether the database answers (`/readyz`).
pub async fn ping(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// The SQLSTATE of a database error, if it is one.
pub fn sql_state(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// The name of the constraint a database error violated, to turn it into the right answer
/// instead of checking first and racing.
pub fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
