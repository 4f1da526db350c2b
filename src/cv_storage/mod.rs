//! Object storage for CV files.
