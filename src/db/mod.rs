//! SQL, one module per table.

pub mod outbox;
