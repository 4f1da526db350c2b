//! The application logic.
