//! What the server tells its operators about itself: the Prometheus metrics (every metric name lives here,
//! each behind one named recording function, so the code that does the work calls one line) and the gauges
//! refreshed from the database. The `/metrics` route that renders them is [`crate::http::metrics`].
//!
//! Labels are always from small fixed sets (the route pattern, never the path; a status code; a stage name),
//! so the number of series stays bounded whatever the traffic.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::cv::ExtractionError;
use crate::scoring::ScoringError;

pub const HTTP_REQUESTS: &str = "talqo_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "talqo_http_request_duration_seconds";
pub const PIPELINE_STAGE_DURATION: &str = "talqo_pipeline_stage_duration_seconds";
pub const EXTRACTION_FAILURES: &str = "talqo_cv_extraction_failures_total";
pub const SCORING_FAILURES: &str = "talqo_scoring_failures_total";
pub const EMAIL_DELIVERY_FAILURES: &str = "talqo_email_delivery_failures_total";
pub const EMAIL_OUTBOX_DUE: &str = "talqo_email_outbox_due";
pub const EMAIL_OUTBOX_SCHEDULED: &str = "talqo_email_outbox_scheduled";
pub const EMAIL_OUTBOX_RETRYING: &str = "talqo_email_outbox_retrying";
pub const RATE_LIMIT_REFUSALS: &str = "talqo_rate_limit_refusals_total";
pub const API_LOG_ROWS_DELETED: &str = "talqo_api_log_rows_deleted_total";
pub const DB_POOL_CONNECTIONS: &str = "talqo_db_pool_connections";
pub const DB_POOL_MAX_CONNECTIONS: &str = "talqo_db_pool_max_connections";

/// Request latencies: from a cached listing (a millisecond) to a CV upload with extraction and scoring.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How often the database gauges (the email outbox) are read again.
pub const GAUGE_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// The steps of an application's intake (CONTRACT §6), as timed by [`record_pipeline_stage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineStage {
    /// Storing the CV object.
    Upload,
    /// Extracting the CV's text in the child process.
    Extraction,
    /// Rating the CV against the offer.
    Scoring,
    /// The transaction that writes the candidate, the application and its email.
    Persist,
}

impl PipelineStage {
    pub fn as_str(self) -> &'static str {
        match self {
            PipelineStage::Upload => "upload",
            PipelineStage::Extraction => "extraction",
            PipelineStage::Scoring => "scoring",
            PipelineStage::Persist => "persist",
        }
    }
}

/// The process-wide recorder, installed on first use. One per process: several servers started by one test
/// binary share it, as they share the process.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder);
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                if metrics::set_global_recorder(recorder).is_err() {
                    tracing::warn!("a metrics recorder was already installed; /metrics shows only its own figures");
                }
                describe();
                handle
            }
            // The buckets are constants; this only fails if they are made empty.
            Err(error) => panic!("invalid metrics buckets: {error}"),
        }
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route pattern and status code");
    describe_histogram!(HTTP_REQUEST_DURATION, metrics::Unit::Seconds, "Time to answer a request, by route");
    describe_histogram!(PIPELINE_STAGE_DURATION, metrics::Unit::Seconds, "Time spent in each intake stage");
    describe_counter!(EXTRACTION_FAILURES, "CVs whose text could not be extracted, by reason");
    describe_counter!(SCORING_FAILURES, "Scoring attempts that failed, retriable or not");
    describe_counter!(EMAIL_DELIVERY_FAILURES, "Email sending attempts that failed (each is retried)");
    describe_gauge!(EMAIL_OUTBOX_DUE, "Emails due now and not sent yet");
    describe_gauge!(EMAIL_OUTBOX_SCHEDULED, "Emails waiting for their send time (delayed rejections)");
    describe_gauge!(EMAIL_OUTBOX_RETRYING, "Unsent emails that have failed at least once");
    describe_counter!(RATE_LIMIT_REFUSALS, "Requests refused with 429 by a rate limit, by limit");
    describe_counter!(API_LOG_ROWS_DELETED, "api_logs rows deleted by API_LOG_RETENTION");
    describe_gauge!(DB_POOL_CONNECTIONS, "PostgreSQL pool connections, by state (idle, in_use)");
    describe_gauge!(DB_POOL_MAX_CONNECTIONS, "DATABASE_MAX_CONNECTIONS");
}

/// The metrics in the Prometheus text format, with the pool figures read now.
pub fn render(db: &PgPool) -> String {
    let handle = prometheus();
    record_pool_usage(db);
    handle.render()
}

/// One answered request. `route` is the matched route pattern (`/api/job_offers/{id}`), never the path.
pub fn record_http_request(method: &str, route: &str, status: u16, duration: Duration) {
    let labels = [("method", method.to_owned()), ("route", route.to_owned())];
    counter!(
        HTTP_REQUESTS,
        &[("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())]
    )
    .increment(1);
    histogram!(HTTP_REQUEST_DURATION, &labels).record(duration.as_secs_f64());
}

pub fn record_pipeline_stage(stage: PipelineStage, duration: Duration) {
    histogram!(PIPELINE_STAGE_DURATION, "stage" => stage.as_str()).record(duration.as_secs_f64());
}

/// Awaits `work` and records how long it took as `stage`: wraps a call in place, one line at the call site.
pub async fn time_stage<F: Future>(stage: PipelineStage, work: F) -> F::Output {
    let started = Instant::now();
    let output = work.await;
    record_pipeline_stage(stage, started.elapsed());
    output
}

pub fn extraction_failed(error: &ExtractionError) {
    let reason = match error {
        ExtractionError::Spawn(_) | ExtractionError::Io(_) => "io",
        ExtractionError::TimedOut(_) => "timed_out",
        ExtractionError::MemoryExhausted => "memory",
        ExtractionError::Crashed(_) => "crashed",
        ExtractionError::Failed(_) => "unreadable",
        ExtractionError::InvalidUtf8 | ExtractionError::OutputTooLarge => "bad_output",
        ExtractionError::NoText => "no_text",
    };
    counter!(EXTRACTION_FAILURES, "reason" => reason).increment(1);
}

pub fn scoring_failed(error: &ScoringError) {
    let kind = if error.is_retriable() { "retriable" } else { "permanent" };
    counter!(SCORING_FAILURES, "kind" => kind).increment(1);
}

pub fn email_delivery_failed() {
    counter!(EMAIL_DELIVERY_FAILURES).increment(1);
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// CONTRACT §3: requests per client IP per window.
    PerIp,
}

pub fn rate_limit_refused(limit: RateLimit) {
    let limit = match limit {
        RateLimit::PerIp => "per_ip",
    };
    counter!(RATE_LIMIT_REFUSALS, "limit" => limit).increment(1);
}

pub fn api_log_rows_deleted(rows: u64) {
    counter!(API_LOG_ROWS_DELETED).increment(rows);
}

fn record_pool_usage(db: &PgPool) {
    let size = db.size();
    let idle = u32::try_from(db.num_idle()).unwrap_or(u32::MAX);
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(size.saturating_sub(idle)));
    gauge!(DB_POOL_MAX_CONNECTIONS).set(f64::from(db.options().get_max_connections()));
}

/// Reads the email outbox gauges every [`GAUGE_REFRESH_INTERVAL`] and drains the histograms' samples into
/// their buckets (the exporter keeps raw samples until then), until `shutdown`.
pub async fn refresh_gauges(db: PgPool, shutdown: CancellationToken) {
    loop {
        match crate::db::outbox::backlog(&db).await {
            Ok(backlog) => {
                gauge!(EMAIL_OUTBOX_DUE).set(backlog.due as f64);
                gauge!(EMAIL_OUTBOX_SCHEDULED).set(backlog.scheduled as f64);
                gauge!(EMAIL_OUTBOX_RETRYING).set(backlog.retrying as f64);
            }
            Err(error) => tracing::warn!(%error, "reading the email outbox backlog for /metrics failed"),
        }
        prometheus().run_upkeep();
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(GAUGE_REFRESH_INTERVAL) => {}
        }
    }
}
