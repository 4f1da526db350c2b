//! `POST /api/job_applications` and `GET /api/job_applications/{id}` (CONTRACT §6, §7, §8) over real HTTP,
//! against the real server with a fresh PostgreSQL database per test, real CV files from the corpus, real
//! storage and mail folders, a fake OpenAI-compatible server and a real S3-compatible server (moto).

#[path = "../common/mod.rs"]
mod common;
#[path = "../support/moto.rs"]
mod moto;
#[path = "../support/prometheus.rs"]
mod prometheus;

mod fixtures;

mod ai_outage;
mod api_logs;
mod auto_reject;
mod crash;
mod dedup;
mod get;
mod happy_path;
mod hostile_files;
mod limits;
mod metrics;
mod source;
mod storage;
mod unreadable;
mod validation;
