//! The Teamio import API (CONTRACT §12) over real HTTP against real PostgreSQL: one fresh database and server per
//! test.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod checks;
mod cli;
mod pipeline;
mod support;
