//! What an email to a candidate is, apart from how it is worded or sent: its kind and its rendered text.
//! The outbox table stores these ([`crate::db::outbox`]); [`crate::mail`] renders and sends them.

/// The emails the server sends; stored in `email_outbox.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// The application was received (CONTRACT §6 "Creation").
    Confirmation,
    /// The application was turned down (CONTRACT §6 "Auto-reject").
    Rejection,
}

impl EmailKind {
    /// The value of `email_outbox.kind` (its CHECK constraint lists the same two).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::Rejection => "rejection",
        }
    }

    /// The kind stored as `value`, if it is one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "confirmation" => Some(Self::Confirmation),
            "rejection" => Some(Self::Rejection),
            _ => None,
        }
    }
}

/// An email ready for the outbox: one subject line and two bodies saying the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}
