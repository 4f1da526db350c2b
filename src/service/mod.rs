//! The application's own logic, free of HTTP types: what the server does, called by the HTTP edge,
//! the CLI and the background worker.

pub mod api_log;
pub mod api_log_retention;
pub mod auth;
pub mod demo;
pub mod intake;
pub mod offer_import;
pub mod worker;
