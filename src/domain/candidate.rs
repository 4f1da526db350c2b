//! Who applies: the checked email, the details as sent, and the identity under which a company knows a
//! candidate (CONTRACT §6 "Normalisation").

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// An email that is `local@domain`, without spaces, at most 254 characters; trimmed and lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateEmail(String);

impl CandidateEmail {
    pub fn parse(raw: &str) -> Option<Self> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@')?;
        let well_formed = email.chars().count() <= 254
            && !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        well_formed.then_some(CandidateEmail(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A company's key for "the same person": email and names, lowercased, accents stripped, inner runs of
/// white space folded. `Élodie` and ` elodie` are the same person; the database holds this triple under a
/// unique constraint, so two concurrent requests cannot create the candidate twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CandidateIdentity {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl CandidateIdentity {
    pub fn new(email: &CandidateEmail, first_name: &str, last_name: &str) -> Self {
        CandidateIdentity { email: fold(email.as_str()), first_name: fold(first_name), last_name: fold(last_name) }
    }
}

/// NFD, combining marks removed, lowercased, white space trimmed and folded.
fn fold(raw: &str) -> String {
    let stripped: String = raw.nfd().filter(|c| !is_combining_mark(*c)).collect::<String>().to_lowercase();
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(CandidateEmail::parse("  Jean.Dupont@Example.COM ").unwrap().as_str(), "jean.dupont@example.com");
        assert!(CandidateEmail::parse("jean@localhost").is_some());
        for bad in ["", "jean", "@example.com", "jean@", "jean dupont@example.com", "a@b@c", "jean@.com", "jean@com."] {
            assert!(CandidateEmail::parse(bad).is_none(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(243));
        assert!(CandidateEmail::parse(&long).is_none());
        let just_fits = format!("{}@example.com", "a".repeat(242));
        assert!(CandidateEmail::parse(&just_fits).is_some());
    }

    #[test]
    fn identities_ignore_case_accents_and_spacing() {
        let email = CandidateEmail::parse("Élodie.Müller@example.com").unwrap();
        let a = CandidateIdentity::new(&email, "Élodie", "Müller  Gérard");
        let b = CandidateIdentity::new(
            &CandidateEmail::parse("elodie.muller@example.com").unwrap(),
            " elodie ",
            "MULLER gerard",
        );
        assert_eq!(a, b);
        assert_eq!(a.first_name, "elodie");
        assert_eq!(a.email, "elodie.muller@example.com");
        let c = CandidateIdentity::new(&email, "Elodie", "Martin");
        assert_ne!(a, c);
    }
}
