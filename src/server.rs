//! Running the server: the database, the HTTP edge, the background tasks, and an orderly shutdown
//! (CONTRACT §10: stop accepting, finish requests in flight, flush the API log, exit 0).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::db;
use crate::http::rate_limit::RateLimiter;
use crate::http::{self, AppState};
use crate::service::api_log;

/// Serves on `listener` until `shutdown` resolves. The database is created and migrated first.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db =
        db::connect_and_migrate(&settings.database_url, settings.database_max_connections).await?;
    run_with_pool(settings, db, listener, shutdown).await
}

pub async fn run_with_pool(
    settings: Settings,
    db: PgPool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let rate_limiter = match &settings.redis_url {
        Some(url) => {
            RateLimiter::redis(settings.rate_limit_per_ip, url, &settings.redis_key_prefix).await?
        }
        None => RateLimiter::in_memory(settings.rate_limit_per_ip),
    };
    let (api_log, api_log_writer) = api_log::spawn_writer(db.clone());
    let state = AppState {
        db: db.clone(),
        rate_limiter: Arc::new(rate_limiter),
        trusted_proxies: settings.trusted_proxies.clone().into(),
        api_log,
    };
    let address = listener
        .local_addr()
        .context("reading the listening address")?;
    tracing::info!(%address, "serving");

    http::serve(listener, state, shutdown)
        .await
        .context("serving HTTP")?;

    // Every request is done and every queue sender is gone: the writer drains the queue and ends.
    tracing::info!("shutting down: flushing the API log");
    api_log_writer.await.context("the API log writer failed")?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM from now on, and resolves when either arrives. The handlers are
/// installed before this returns, so a signal sent while the server is still starting is not lost.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutdown requested");
    })
}
