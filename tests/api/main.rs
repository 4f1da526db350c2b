//! The career-site API over real HTTP against real PostgreSQL: one fresh database and server per test.

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/prometheus.rs"]
mod prometheus;

mod api_logs;
mod auth;
mod envelope;
mod job_offers;
mod observability;
mod rate_limit;
mod serving;
