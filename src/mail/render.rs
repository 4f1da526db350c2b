//! The wording of the emails to candidates, in French and English, as plain text and HTML.

use super::{EmailKind, Locale, RenderedEmail};

/// What an email says about the application. Values are as the candidate and the company wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContext {
    pub candidate_first_name: String,
    pub candidate_last_name: String,
    pub offer_title: String,
    pub company_name: String,
}

/// The words of one email, before they are laid out as text or HTML.
struct Wording {
    subject: String,
    greeting: String,
    paragraphs: Vec<String>,
    closing: String,
    signature: String,
}

/// Renders `kind` in `locale`, naming the offer and the company (CONTRACT §6 "Email").
pub fn render_email(kind: EmailKind, locale: Locale, context: &EmailContext) -> RenderedEmail {
    let wording = wording(kind, locale, context);
    RenderedEmail { text_body: text_body(&wording), html_body: html_body(&wording, locale), subject: wording.subject }
}

fn wording(kind: EmailKind, locale: Locale, context: &EmailContext) -> Wording {
    // Names and titles may carry stray line breaks; inside a sentence they read as spaces.
    let first_name = single_line(&context.candidate_first_name);
    let offer = single_line(&context.offer_title);
    let company = single_line(&context.company_name);
    match (kind, locale) {
        (EmailKind::Confirmation, Locale::Fr) => Wording {
            subject: format!("Candidature reçue\u{a0}: {offer} chez {company}"),
            greeting: format!("Bonjour {first_name},"),
            paragraphs: vec![
                format!(
                    "Nous avons bien reçu votre candidature au poste «\u{a0}{offer}\u{a0}» chez {company}, \
                     et nous vous en remercions."
                ),
                "Notre équipe va l'étudier avec attention et reviendra vers vous dès que possible.".to_owned(),
            ],
            closing: "Bien cordialement,".to_owned(),
            signature: format!("L'équipe recrutement de {company}"),
        },
        (EmailKind::Confirmation, Locale::En) => Wording {
            subject: format!("Application received: {offer} at {company}"),
            greeting: format!("Hello {first_name},"),
            paragraphs: vec![
                format!(
                    "Thank you for applying for the position \u{201c}{offer}\u{201d} at {company}. \
                     We have received your application."
                ),
                "Our team will review it carefully and get back to you as soon as possible.".to_owned(),
            ],
            closing: "Kind regards,".to_owned(),
            signature: format!("The {company} recruiting team"),
        },
        (EmailKind::Rejection, Locale::Fr) => Wording {
            subject: format!("Votre candidature au poste {offer} chez {company}"),
            greeting: format!("Bonjour {first_name},"),
            paragraphs: vec![
                format!(
                    "Nous vous remercions de l'intérêt que vous portez à {company} et du temps consacré \
                     à votre candidature au poste «\u{a0}{offer}\u{a0}»."
                ),
                "Après une étude attentive de votre profil, nous sommes au regret de ne pas pouvoir \
                 y donner une suite favorable."
                    .to_owned(),
                "Nous vous souhaitons pleine réussite dans vos recherches.".to_owned(),
            ],
            closing: "Bien cordialement,".to_owned(),
            signature: format!("L'équipe recrutement de {company}"),
        },
        (EmailKind::Rejection, Locale::En) => Wording {
            subject: format!("Your application for {offer} at {company}"),
            greeting: format!("Hello {first_name},"),
            paragraphs: vec![
                format!(
                    "Thank you for your interest in {company} and for the time you spent applying for \
                     the position \u{201c}{offer}\u{201d}."
                ),
                "After careful review of your profile, we regret to inform you that we will not be \
                 moving forward with your application."
                    .to_owned(),
                "We wish you every success in your search.".to_owned(),
            ],
            closing: "Kind regards,".to_owned(),
            signature: format!("The {company} recruiting team"),
        },
    }
}

fn text_body(wording: &Wording) -> String {
    let mut body = format!("{}\n\n", wording.greeting);
    for paragraph in &wording.paragraphs {
        body.push_str(paragraph);
        body.push_str("\n\n");
    }
    body.push_str(&wording.closing);
    body.push('\n');
    body.push_str(&wording.signature);
    body.push('\n');
    body
}

fn html_body(wording: &Wording, locale: Locale) -> String {
    let mut body = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n\
         </head>\n<body>\n<p>{greeting}</p>\n",
        lang = locale.as_str(),
        title = escape_html(&wording.subject),
        greeting = escape_html(&wording.greeting),
    );
    for paragraph in &wording.paragraphs {
        body.push_str(&format!("<p>{}</p>\n", escape_html(paragraph)));
    }
    body.push_str(&format!(
        "<p>{}<br>\n{}</p>\n</body>\n</html>\n",
        escape_html(&wording.closing),
        escape_html(&wording.signature)
    ));
    body
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Collapses control characters (line breaks above all) and runs of whitespace into single spaces,
/// so a value can sit in a sentence or a header line.
fn single_line(text: &str) -> String {
    text.split(|character: char| character.is_whitespace() || character.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> EmailContext {
        EmailContext {
            candidate_first_name: "Zoé".to_owned(),
            candidate_last_name: "Durand".to_owned(),
            offer_title: "Développeuse Rust".to_owned(),
            company_name: "Acme & Fils".to_owned(),
        }
    }

    #[test]
    fn every_email_names_the_candidate_the_offer_and_the_company() {
        for kind in [EmailKind::Confirmation, EmailKind::Rejection] {
            for locale in [Locale::Fr, Locale::En] {
                let email = render_email(kind, locale, &context());
                assert!(email.subject.contains("Développeuse Rust"), "{kind:?} {locale:?}");
                assert!(email.subject.contains("Acme & Fils"), "{kind:?} {locale:?}");
                assert!(email.text_body.contains("Zoé"), "{kind:?} {locale:?}");
                assert!(email.text_body.contains("Développeuse Rust"), "{kind:?} {locale:?}");
                assert!(email.text_body.contains("Acme & Fils"), "{kind:?} {locale:?}");
                assert!(email.html_body.contains("Développeuse Rust"), "{kind:?} {locale:?}");
                assert!(email.html_body.contains("Acme &amp; Fils"), "{kind:?} {locale:?}");
                assert!(!email.html_body.contains("Acme & Fils"), "{kind:?} {locale:?}");
            }
        }
    }

    #[test]
    fn french_and_english_differ_and_kinds_differ() {
        let fr = render_email(EmailKind::Confirmation, Locale::Fr, &context());
        let en = render_email(EmailKind::Confirmation, Locale::En, &context());
        let rejection = render_email(EmailKind::Rejection, Locale::Fr, &context());
        assert!(fr.text_body.starts_with("Bonjour Zoé,"));
        assert!(en.text_body.starts_with("Hello Zoé,"));
        assert!(en.html_body.contains("<html lang=\"en\">"));
        assert!(fr.html_body.contains("<html lang=\"fr\">"));
        assert_ne!(fr.subject, rejection.subject);
        assert!(rejection.text_body.contains("regret"));
        assert!(!fr.text_body.contains("regret"));
    }

    #[test]
    fn interpolated_values_are_html_escaped() {
        let hostile = EmailContext {
            candidate_first_name: "<script>alert(1)</script>".to_owned(),
            candidate_last_name: "O'Brien".to_owned(),
            offer_title: "\"Lead\" <b>dev</b>".to_owned(),
            company_name: "A&B".to_owned(),
        };
        let email = render_email(EmailKind::Rejection, Locale::En, &hostile);
        assert!(!email.html_body.contains("<script>"));
        assert!(!email.html_body.contains("<b>"));
        assert!(email.html_body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(email.html_body.contains("&quot;Lead&quot; &lt;b&gt;dev&lt;/b&gt;"));
        assert!(email.html_body.contains("A&amp;B"));
        // The text body is not HTML: it keeps the values as written.
        assert!(email.text_body.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn line_breaks_in_values_do_not_reach_the_subject() {
        let mut context = context();
        context.offer_title = "Rust\r\nBcc: victim@example.com".to_owned();
        let email = render_email(EmailKind::Confirmation, Locale::En, &context);
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
        assert!(email.subject.contains("Rust Bcc: victim@example.com"));
    }
}
