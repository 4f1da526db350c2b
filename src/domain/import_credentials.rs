//! Credentials of the Teamio import API (CONTRACT §12): import clients (a public `client_id` and a secret shown
//! once) and the access tokens they obtain. Secrets and tokens are made by the server from the system's
//! randomness and stored only as SHA-256 hashes; like API keys (§2) they are high-entropy, so a plain hash is
//! enough, and they are compared in constant time.
//!
//! - client id: `tic_` + 24 base-36 characters (public: it is the token request's `username`);
//! - client secret: `tis_` + 40 base-36 characters (≈ 206 random bits);
//! - access token: `tit_` + 40 base-36 characters.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const CLIENT_ID_PREFIX: &str = "tic_";
const CLIENT_ID_LEN: usize = 24;
const SECRET_PREFIX: &str = "tis_";
const TOKEN_PREFIX: &str = "tit_";
const SECRET_LEN: usize = 40;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The two environments of CONTRACT §12: a sandbox client's tokens work only on `/test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportEnvironment {
    Production,
    Sandbox,
}

impl ImportEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportEnvironment::Production => "production",
            ImportEnvironment::Sandbox => "sandbox",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "production" => Some(ImportEnvironment::Production),
            "sandbox" => Some(ImportEnvironment::Sandbox),
            _ => None,
        }
    }
}

/// A freshly made client: what is shown once, and what is stored.
pub struct NewImportClient {
    pub client_id: String,
    pub secret: String,
    pub secret_hash: [u8; 32],
}

impl NewImportClient {
    pub fn generate() -> anyhow::Result<Self> {
        let client_id = format!("{CLIENT_ID_PREFIX}{}", random_base36(CLIENT_ID_LEN)?);
        let secret = format!("{SECRET_PREFIX}{}", random_base36(SECRET_LEN)?);
        let secret_hash = sha256(&secret);
        Ok(NewImportClient { client_id, secret, secret_hash })
    }
}

/// A freshly made access token: the value handed to the client once, and its stored hash.
pub struct NewAccessToken {
    pub token: String,
    pub hash: [u8; 32],
}

impl NewAccessToken {
    pub fn generate() -> anyhow::Result<Self> {
        let token = format!("{TOKEN_PREFIX}{}", random_base36(SECRET_LEN)?);
        let hash = sha256(&token);
        Ok(NewAccessToken { token, hash })
    }
}

/// A client id as presented, shaped enough to be looked up; anything else is simply unknown.
pub fn is_well_formed_client_id(raw: &str) -> bool {
    well_formed(raw, CLIENT_ID_PREFIX, CLIENT_ID_LEN)
}

/// The hash under which a presented token would be stored, if it is shaped like one of ours.
pub fn presented_token_hash(raw: &str) -> Option<[u8; 32]> {
    well_formed(raw, TOKEN_PREFIX, SECRET_LEN).then(|| sha256(raw))
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(presented: &str, stored_hash: &[u8]) -> bool {
    sha256(presented).ct_eq(stored_hash).into()
}

fn well_formed(raw: &str, prefix: &str, len: usize) -> bool {
    raw.len() == prefix.len() + len
        && raw.starts_with(prefix)
        && raw[prefix.len()..].bytes().all(|b| ALPHABET.contains(&b))
}

fn sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// `len` characters uniform over the 36-letter alphabet (rejection sampling: 252 = 7 × 36).
fn random_base36(len: usize) -> anyhow::Result<String> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
        for byte in bytes.into_iter().filter(|b| *b < 252) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(byte % 36)]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_have_a_public_id_and_a_secret_matching_its_hash() {
        let client = NewImportClient::generate().unwrap();
        assert!(is_well_formed_client_id(&client.client_id), "{}", client.client_id);
        assert!(client.secret.starts_with("tis_") && client.secret.len() == 44);
        assert!(secret_matches(&client.secret, &client.secret_hash));
        let other = NewImportClient::generate().unwrap();
        assert_ne!(other.client_id, client.client_id);
        assert!(!secret_matches(&other.secret, &client.secret_hash));
    }

    #[test]
    fn only_tokens_of_our_shape_are_looked_up() {
        let token = NewAccessToken::generate().unwrap();
        assert_eq!(presented_token_hash(&token.token), Some(token.hash));
        for raw in
            ["", "tit_", "tlq_0123456789abcdefghijklmnopqrstuvwxyzabcd", "tit_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd"]
        {
            assert!(presented_token_hash(raw).is_none(), "{raw}");
        }
    }
}
