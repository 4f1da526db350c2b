//! talqo-server: a self-hostable, Talqo-compatible career-site API server.
//!
//! The crate is laid out along the request's path:
//! - [`http`]: the HTTP edge (router, rate limiting, auth, extractors, the JSON envelope, status codes).
//! - [`service`]: the application's own logic (the intake pipeline, the API log writer, the worker),
//!   which knows nothing about HTTP.
//! - [`db`]: SQL, one module per table.
//! - [`cv`], [`scoring`], [`cv_storage`], [`mail`]: the pipeline's components, each behind a small interface.
//! - [`domain`]: parse-don't-validate types shared by all of the above.
//! - [`cli`] and [`config`]: the operator's command line and the environment it reads.

pub mod cli;
pub mod config;
pub mod cv;
pub mod cv_storage;
pub mod db;
pub mod domain;
pub mod http;
pub mod mail;
pub mod observability;
mod panic_detail;
pub mod scoring;
pub mod server;
pub mod service;
pub mod spool;
#[cfg(test)]
pub(crate) mod test_corpus;
