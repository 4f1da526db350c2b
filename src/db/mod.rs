//! SQL, one module per table.
