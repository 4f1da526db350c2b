//! Running the server: the database, the HTTP edge, the background tasks, and an orderly shutdown
//! (CONTRACT §10: stop accepting, finish requests in flight, flush the API log, exit 0; §11: all of it
//! within `SHUTDOWN_TIMEOUT` of the signal).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{ScorerKind, Settings};
use crate::cv::CvExtractor;
use crate::cv_storage::{CvStorage, storage_from_url};
use crate::db;
use crate::http::rate_limit::RateLimiter;
use crate::http::{self, AppState, SharedState};
use crate::mail::{Mailer, mailer_with_smtp_timeout};
use crate::observability;
use crate::scoring::{BuiltinScorer, OpenAiScorer, OpenAiSettings, Scorer};

use crate::service::intake::background::IntakeBackground;
use crate::service::intake::{Intake, IntakeSettings};
use crate::service::worker::Worker;
use crate::service::{api_log, api_log_retention};

/// Serves on `listener` until `shutdown` resolves. The database is created and migrated first.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool_settings = db::PoolSettings {
        max_connections: settings.database_max_connections,
        wait_for_database: settings.database_connect_timeout,
        acquire_timeout: settings.database_acquire_timeout,
    };
    let db = db::connect_and_migrate_when_ready(&settings.database_url, &pool_settings).await?;
    run_with_pool(settings, db, listener, shutdown).await
}

pub async fn run_with_pool(
    settings: Settings,
    db: PgPool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Installed before any request, so nothing recorded before the first scrape is lost.
    observability::prometheus();
    // CONTRACT §11: each connection costs a file descriptor; let MAX_CONNECTIONS be reachable.
    if let Some(limit) = http::connection::raise_open_file_limit() {
        tracing::debug!(limit, "open-file limit");
    }
    let rate_limiter = match &settings.redis_url {
        Some(url) => RateLimiter::redis(settings.rate_limit_per_ip, url, &settings.redis_key_prefix).await?,
        None => RateLimiter::in_memory_bounded(settings.rate_limit_per_ip, settings.rate_limit_max_addresses),
    };
    let parts = Pipeline::from_settings(&settings)?;
    std::fs::create_dir_all(&settings.spool_dir)
        .with_context(|| format!("cannot create SPOOL_DIR {}", settings.spool_dir.display()))?;
    let (api_log, api_log_writer) = api_log::spawn_writer(db.clone());
    let intake = Arc::new(Intake::new(
        db.clone(),
        parts.extractor,
        parts.scorer.clone(),
        parts.storage.clone(),
        IntakeSettings {
            rejection_email_delay: settings.rejection_email_delay,
            max_cv_bytes: settings.max_cv_bytes,
            spool_dir: settings.spool_dir.clone().into(),
            // Each processing transaction holds a connection while it extracts and scores: half the pool.
            max_processing: usize::try_from(settings.database_max_connections / 2).unwrap_or(1),
        },
    ));
    let import_api = http::teamio::ImportApi::from_settings(&settings).await?;
    let state = AppState::new(SharedState {
        db: db.clone(),
        rate_limiter: Arc::new(rate_limiter),
        trusted_proxies: settings.trusted_proxies.clone().into(),
        api_log,
        intake: intake.clone(),
        import_api: Arc::new(import_api),
        public_base_url: settings.public_base_url.clone().into(),
        client_ip_header: settings.client_ip_header,
        connection_limits: settings.connection_limits.clone(),
        shutdown_timeout: settings.shutdown_timeout,
    });
    let worker_shutdown = CancellationToken::new();
    let intake_background = tokio::spawn(
        IntakeBackground {
            intake: intake.clone(),
            interval: settings.worker_interval,
            orphan_sweep_interval: settings.orphan_sweep_interval,
        }
        .run(worker_shutdown.clone()),
    );
    let worker = tokio::spawn(
        Worker {
            db: db.clone(),
            mailer: parts.mailer,
            mail_delivery: settings.mail_delivery,
            scorer: parts.scorer,
            storage: parts.storage,
            rejection_email_delay: settings.rejection_email_delay,
            interval: settings.worker_interval,
        }
        .run(worker_shutdown.clone()),
    );
    let housekeeping = [
        tokio::spawn(api_log_retention::run(db.clone(), settings.api_log_retention, worker_shutdown.clone())),
        tokio::spawn(observability::refresh_gauges(db.clone(), worker_shutdown.clone())),
    ];
    let address = listener.local_addr().context("reading the listening address")?;
    tracing::info!(%address, "serving");

    let signalled = Arc::new(OnceLock::new());
    let shutdown = {
        let signalled = signalled.clone();
        async move {
            shutdown.await;
            signalled.set(Instant::now()).ok();
        }
    };
    http::serve(listener, state, shutdown).await.context("serving HTTP")?;

    // CONTRACT §11: everything after the signal shares one deadline, so an orchestrator's kill (10-30 s)
    // never comes first. The API log gets a short grace to flush what the last requests left.
    let deadline = signalled.get().copied().unwrap_or_else(Instant::now) + settings.shutdown_timeout;
    tracing::info!("shutting down: finishing applications in flight, flushing the API log, stopping the worker");
    if tokio::time::timeout_at(deadline, intake.wait_for_processing()).await.is_err() {
        tracing::warn!(
            "SHUTDOWN_TIMEOUT reached with applications still being processed; another instance resumes them"
        );
    }
    worker_shutdown.cancel();
    let flush_deadline = deadline.max(Instant::now()) + API_LOG_FLUSH_GRACE;
    match tokio::time::timeout_at(flush_deadline, intake_background).await {
        Ok(finished) => finished.context("the intake's background loop failed")?,
        Err(_) => tracing::warn!("the intake's background loop did not stop in time"),
    }
    match tokio::time::timeout_at(flush_deadline, api_log_writer).await {
        Ok(finished) => finished.context("the API log writer failed")?,
        Err(_) => tracing::warn!("the API log writer did not finish in time; its last rows are lost"),
    }
    match tokio::time::timeout_at(flush_deadline, worker).await {
        Ok(finished) => finished.context("the background worker failed")?,
        Err(_) => tracing::warn!("the background worker did not stop in time"),
    }
    for task in housekeeping {
        if let Ok(finished) = tokio::time::timeout_at(flush_deadline, task).await {
            finished.context("a housekeeping task failed")?;
        }
    }
    tokio::time::timeout_at(flush_deadline, db.close()).await.ok();
    tracing::info!("stopped");
    Ok(())
}

/// What the API log writer and the worker get past `SHUTDOWN_TIMEOUT` to flush and stop.
const API_LOG_FLUSH_GRACE: Duration = Duration::from_secs(2);

/// The pipeline's swappable parts, chosen by the settings.
pub struct Pipeline {
    pub extractor: Arc<CvExtractor>,
    pub scorer: Arc<dyn Scorer>,
    pub storage: Arc<dyn CvStorage>,
    pub mailer: Mailer,
}

impl Pipeline {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let extractor = match &settings.extractor_exe {
            Some(exe) => CvExtractor::new(exe.clone(), settings.extraction.clone()),
            None => CvExtractor::for_current_exe(settings.extraction.clone())
                .context("cannot find the running executable for CV extraction (set EXTRACTOR_EXE)")?,
        };
        let scorer: Arc<dyn Scorer> = match settings.scorer {
            ScorerKind::Builtin => Arc::new(BuiltinScorer),
            ScorerKind::OpenAi => Arc::new(
                OpenAiScorer::new(OpenAiSettings {
                    base_url: settings.openai_base_url.clone(),
                    api_key: settings.openai_api_key.clone().unwrap_or_default(),
                    model: settings.openai_model.clone(),
                    timeout: settings.openai_timeout,
                    max_attempts: 3,
                    initial_backoff: std::time::Duration::from_millis(500),
                })
                .context("AI_SCORER=openai")?,
            ),
        };
        let storage = storage_from_url(&settings.storage_url).context("STORAGE_URL")?;
        let mailer = mailer_with_smtp_timeout(&settings.mail_url, &settings.mail_from, settings.mail_smtp_timeout)
            .context("MAIL_URL / MAIL_FROM")?;
        tracing::info!(
            scorer = scorer.name(),
            storage = %storage.describe(),
            mail = mailer.describe(),
            "pipeline configured"
        );
        Ok(Pipeline { extractor: Arc::new(extractor), scorer, storage, mailer })
    }
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
