//! Emails to candidates.
