//! How an email leaves: an `.eml` file in a directory, or an SMTP(S) server (CONTRACT §6 `MAIL_URL`).

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use super::{MailError, RenderedEmail};

/// CONTRACT §6: where emails go when `MAIL_URL` is unset.
pub const DEFAULT_MAIL_URL: &str = "file://./data/mail";

/// Bound on connecting to the SMTP server and on each of its replies when `MAIL_SMTP_TIMEOUT` is not set:
/// RFC 5321 §4.5.3.2 lets a server take up to 10 minutes to answer the end of DATA. Giving up sooner on a
/// slow server that then accepts the message would send it twice (CONTRACT §11 "Email").
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(600);

/// One whole send is bounded by this many SMTP timeouts: a handful of commands, each within its own bound.
const SMTP_TIMEOUTS_PER_SEND: u32 = 3;

/// Sends emails from `MAIL_FROM` through the transport `MAIL_URL` names. Cheap to clone: SMTP
/// connections are pooled and shared by the clones.
#[derive(Clone)]
pub struct Mailer {
    transport: MailTransport,
    from: Mailbox,
    description: String,
    /// Bound on one whole send, whatever the transport.
    send_timeout: Duration,
}

#[derive(Clone)]
enum MailTransport {
    File { directory: PathBuf },
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// What a successful [`Mailer::send`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The SMTP server accepted the email.
    Delivered,
    /// The file transport wrote the email, complete, under a hidden name; [`Mailer::publish`] gives it its
    /// `.eml` name once the outbox recorded it sent. So a `.eml` file in the mail directory is always whole,
    /// and always an email the outbox knows it sent (a reader never sees one ahead of the database).
    Staged { outbox_id: Uuid },
}

/// The hidden name of a staged email, and its published name.
fn staged_name(outbox_id: Uuid) -> String {
    format!(".{outbox_id}.eml.part")
}

fn published_name(outbox_id: Uuid) -> String {
    format!("{outbox_id}.eml")
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Mailer")
            .field("transport", &self.description)
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Builds the mailer for `mail_url`: `file://<dir>` (one `.eml` per email), `smtp://[user:pass@]host[:port]`
/// (plain, or `?tls=required` / `?tls=opportunistic` for STARTTLS) or `smtps://…` (TLS from the start).
/// Connects to nothing yet: an SMTP server that is down delays mail, it does not stop the server.
pub fn mailer_from_url(mail_url: &str, from: &str) -> Result<Mailer, MailError> {
    mailer_with_smtp_timeout(mail_url, from, DEFAULT_SMTP_TIMEOUT)
}

/// [`mailer_from_url`] with `smtp_timeout` (`MAIL_SMTP_TIMEOUT`) bounding the connection and each SMTP reply.
pub fn mailer_with_smtp_timeout(mail_url: &str, from: &str, smtp_timeout: Duration) -> Result<Mailer, MailError> {
    let from: Mailbox = from
        .trim()
        .parse()
        .map_err(|error: lettre::address::AddressError| MailError::InvalidFrom(error.to_string()))?;
    let (transport, description) = if let Some(directory) = mail_url.strip_prefix("file://") {
        if directory.is_empty() {
            return Err(MailError::InvalidUrl("file:// needs a directory".to_owned()));
        }
        let directory = PathBuf::from(directory);
        let description = format!("file://{}", directory.display());
        (MailTransport::File { directory }, description)
    } else {
        let description = describe_smtp_url(mail_url)?;
        // lettre's own URL reading covers credentials (percent-decoded), ports and `?tls=`.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(mail_url)
            .map_err(|error| MailError::InvalidUrl(error.to_string()))?
            .timeout(Some(smtp_timeout))
            .build();
        (MailTransport::Smtp(transport), description)
    };
    let send_timeout = smtp_timeout.saturating_mul(SMTP_TIMEOUTS_PER_SEND);
    Ok(Mailer { transport, from, description, send_timeout })
}

/// The SMTP URL without its credentials, after checking it is one.
fn describe_smtp_url(mail_url: &str) -> Result<String, MailError> {
    let mut url = url::Url::parse(mail_url).map_err(|error| MailError::InvalidUrl(format!("not a URL ({error})")))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(MailError::InvalidUrl(format!(
            "unknown scheme `{}` (expected file://, smtp:// or smtps://)",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(MailError::InvalidUrl("the SMTP host is missing".to_owned()));
    }
    // Neither can fail on a URL with a host; either way, nothing of the credentials is kept.
    let credentials_removed = url.set_password(None).is_ok() && url.set_username("").is_ok();
    if !credentials_removed {
        return Err(MailError::InvalidUrl("the SMTP URL cannot hold credentials".to_owned()));
    }
    Ok(url.to_string())
}

impl Mailer {
    /// Where mail goes, for logs: the transport's URL without user name or password.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The longest one [`Mailer::send`] may take; a delivery lease is kept at least this long.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// Sends `email` to `recipient` as a text + HTML message whose `Message-ID` is made from
    /// `outbox_id`, so a copy sent again after a lost acknowledgement is recognisable as the same email.
    pub async fn send(&self, outbox_id: Uuid, recipient: &str, email: &RenderedEmail) -> Result<Sent, MailError> {
        let message = self.build_message(outbox_id, recipient, email)?;
        match tokio::time::timeout(self.send_timeout, self.send_message(outbox_id, message)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(MailError::SendTimeout(self.send_timeout)),
        }
    }

    async fn send_message(&self, outbox_id: Uuid, message: Message) -> Result<Sent, MailError> {
        match &self.transport {
            MailTransport::File { directory } => {
                let file_error = |error: std::io::Error| MailError::Send(format!("{}: {error}", directory.display()));
                // The directory may not exist yet on a fresh install (the default is relative).
                tokio::fs::create_dir_all(directory).await.map_err(file_error)?;
                tokio::fs::write(directory.join(staged_name(outbox_id)), message.formatted())
                    .await
                    .map_err(file_error)?;
                Ok(Sent::Staged { outbox_id })
            }
            MailTransport::Smtp(transport) => {
                transport.send(message).await.map_err(|error| MailError::Send(error_chain(&error)))?;
                Ok(Sent::Delivered)
            }
        }
    }

    /// Makes a sent email visible where its transport leaves it, once the outbox recorded it sent: renames a
    /// staged file to `<outbox id>.eml` (nothing to do for SMTP). Done already (by another instance that
    /// found it staged) counts as done.
    pub async fn publish(&self, sent: &Sent) -> Result<(), MailError> {
        let (MailTransport::File { directory }, Sent::Staged { outbox_id }) = (&self.transport, sent) else {
            return Ok(());
        };
        let published = directory.join(published_name(*outbox_id));
        match tokio::fs::rename(directory.join(staged_name(*outbox_id)), &published).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && published.exists() => Ok(()),
            Err(error) => Err(MailError::Send(format!("{}: {error}", published.display()))),
        }
    }

    /// The emails the file transport staged and did not publish (a process that stopped between the two):
    /// their outbox ids. Those the outbox recorded sent are to be published; the others are sent again
    /// later, which stages them anew under the same name.
    pub async fn staged(&self) -> Vec<Uuid> {
        let MailTransport::File { directory } = &self.transport else {
            return Vec::new();
        };
        let Ok(mut entries) = tokio::fs::read_dir(directory).await else {
            return Vec::new();
        };
        let mut staged = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name();
            let id = name.to_str().and_then(|name| name.strip_prefix('.')?.strip_suffix(".eml.part"));
            if let Some(id) = id.and_then(|id| id.parse().ok()) {
                staged.push(id);
            }
        }
        staged
    }

    fn build_message(&self, outbox_id: Uuid, recipient: &str, email: &RenderedEmail) -> Result<Message, MailError> {
        let to: Address = recipient
            .trim()
            .parse()
            .map_err(|error: lettre::address::AddressError| MailError::InvalidRecipient(error.to_string()))?;
        let message_id = format!("<{outbox_id}@{}>", self.from.email.domain());
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.subject.as_str())
            .message_id(Some(message_id))
            .date_now()
            .multipart(MultiPart::alternative_plain_html(email.text_body.clone(), email.html_body.clone()))
            .map_err(|error| MailError::Build(error.to_string()))
    }
}

/// An error with its causes, for `last_error` and logs (lettre puts the useful part in the source).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> RenderedEmail {
        RenderedEmail {
            subject: "Candidature reçue : Développeuse Rust chez Acme".to_owned(),
            text_body: "Bonjour Zoé,\n".to_owned(),
            html_body: "<p>Bonjour Zoé,</p>\n".to_owned(),
        }
    }

    #[tokio::test]
    async fn smtp_description_keeps_no_credentials() -> Result<(), MailError> {
        let mailer =
            mailer_from_url("smtp://mailer:s3cr%40t-pass@127.0.0.1:2525?tls=required", "Talqo <no-reply@localhost>")?;
        assert!(!mailer.describe().contains("s3cr"));
        assert!(!mailer.describe().contains("mailer"));
        assert!(!format!("{mailer:?}").contains("s3cr"));
        assert_eq!(mailer.describe(), "smtp://127.0.0.1:2525?tls=required");
        let smtps = mailer_from_url("smtps://u:p@mail.example.com", "no-reply@example.com")?;
        assert_eq!(smtps.describe(), "smtps://mail.example.com");
        Ok(())
    }

    #[test]
    fn the_default_url_is_a_directory() -> Result<(), MailError> {
        let mailer = mailer_from_url(DEFAULT_MAIL_URL, "Talqo <no-reply@localhost>")?;
        assert_eq!(mailer.describe(), "file://./data/mail");
        Ok(())
    }

    #[test]
    fn unknown_schemes_and_bad_senders_are_refused_without_echoing_secrets() {
        let error =
            mailer_from_url("imap://user:hunter2@host", "no-reply@localhost").err().map(|error| error.to_string());
        assert!(error.as_deref().is_some_and(|text| text.contains("imap") && !text.contains("hunter2")));
        assert!(matches!(mailer_from_url("file://", "no-reply@localhost"), Err(MailError::InvalidUrl(_))));
        assert!(matches!(mailer_from_url(DEFAULT_MAIL_URL, "not a mailbox"), Err(MailError::InvalidFrom(_))));
    }

    #[test]
    fn messages_are_multipart_with_an_encoded_subject_and_a_stable_message_id() -> Result<(), MailError> {
        let mailer = mailer_from_url(DEFAULT_MAIL_URL, "Talqo <no-reply@talqo.example>")?;
        let outbox_id = Uuid::new_v4();
        let message = mailer.build_message(outbox_id, "zoe@example.com", &email())?;
        let formatted = String::from_utf8_lossy(&message.formatted()).into_owned();
        assert!(formatted.contains(&format!("Message-ID: <{outbox_id}@talqo.example>")));
        assert!(formatted.contains("To: zoe@example.com"));
        assert!(formatted.contains("multipart/alternative"));
        assert!(formatted.contains("text/plain; charset=utf-8"));
        assert!(formatted.contains("text/html; charset=utf-8"));
        // RFC 2047: a non-ASCII subject travels as encoded words, never as raw UTF-8.
        let subject_line = formatted.lines().find(|line| line.starts_with("Subject:"));
        assert!(subject_line.is_some_and(|line| line.contains("=?utf-8?")), "{formatted}");
        assert!(matches!(
            mailer.build_message(outbox_id, "not an address", &email()),
            Err(MailError::InvalidRecipient(_))
        ));
        Ok(())
    }
}
