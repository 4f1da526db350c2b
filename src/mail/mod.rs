//! Emails to candidates: what they say, how they leave (file or SMTP), how they are scheduled for an
//! application, and the outbox pass that sends them.
//!
//! CONTRACT §6 "Email": confirmation and rejection emails are outbox rows written in the application's
//! transaction ([`schedule_email`], [`schedule_rejection_email`]) and delivered by the background worker
//! ([`deliver_due`], [`run_delivery_loop`]) with retries and backoff, each sent once (§11 "Email").
//! Layering: `mail` uses `db` (the outbox table); `db` knows only the email types of [`crate::domain::email`].

mod delivery;
mod render;
mod schedule;
mod transport;

pub use crate::domain::email::{EmailKind, RenderedEmail};
pub use delivery::{
    DEFAULT_DELIVERY_LEASE, DEFAULT_FIRST_RETRY_DELAY, DEFAULT_MAX_ATTEMPTS, DeliveryPolicy, deliver_due,
    deliver_due_with, retry_delay, run_delivery_loop, run_delivery_loop_with,
};
pub use render::{EmailContext, render_email};
pub use schedule::{schedule_email, schedule_rejection_email};
pub use transport::{DEFAULT_MAIL_URL, DEFAULT_SMTP_TIMEOUT, Mailer, Sent, mailer_from_url, mailer_with_smtp_timeout};

/// The language of the emails, per company (`companies.locale`); French unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    Fr,
    En,
}

impl Locale {
    /// The value of `companies.locale`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::En => "en",
        }
    }

    /// `fr` or `en` (exactly, as the column's CHECK constraint stores them).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "fr" => Some(Self::Fr),
            "en" => Some(Self::En),
            _ => None,
        }
    }
}

/// What can go wrong with mail. The Display text never holds a password (MAIL_URL's is never echoed).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("MAIL_URL is invalid: {0}")]
    InvalidUrl(String),
    #[error("MAIL_FROM is not a valid mailbox: {0}")]
    InvalidFrom(String),
    #[error("the recipient is not a valid address: {0}")]
    InvalidRecipient(String),
    #[error("the email could not be built: {0}")]
    Build(String),
    #[error("the email could not be sent: {0}")]
    Send(String),
    #[error("the email was not sent within {0:?}")]
    SendTimeout(std::time::Duration),
    #[error("the outbox could not be read or updated: {0}")]
    Database(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_locales_round_trip_through_their_stored_values() {
        for kind in [EmailKind::Confirmation, EmailKind::Rejection] {
            assert_eq!(EmailKind::parse(kind.as_str()), Some(kind));
        }
        for locale in [Locale::Fr, Locale::En] {
            assert_eq!(Locale::parse(locale.as_str()), Some(locale));
        }
        assert_eq!(EmailKind::parse("reminder"), None);
        assert_eq!(Locale::parse("de"), None);
        assert_eq!(Locale::default(), Locale::Fr);
    }
}
