//! API keys (CONTRACT §2): made by the server, shown once, stored only as a SHA-256 hash.
//!
//! A key reads `tlq_` followed by 40 lowercase base-36 characters (≈ 206 random bits). Its first 12
//! characters (`tlq_` + 8) are the *prefix*: stored in clear, shown in listings, and used to find the row
//! before the hashes are compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "tlq_";
const SECRET_LEN: usize = 40;
const PREFIX_LEN: usize = KEY_PREFIX.len() + 8;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A freshly made key: the secret (to show once) and what is stored.
pub struct NewApiKey {
    pub secret: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

impl NewApiKey {
    pub fn generate() -> anyhow::Result<Self> {
        let mut secret = String::with_capacity(KEY_PREFIX.len() + SECRET_LEN);
        secret.push_str(KEY_PREFIX);
        // Rejection sampling keeps every character uniform over the 36-letter alphabet.
        let mut chars = 0;
        while chars < SECRET_LEN {
            let mut bytes = [0u8; 64];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
            for byte in bytes {
                if chars == SECRET_LEN {
                    break;
                }
                if byte < 252 {
                    secret.push(char::from(ALPHABET[usize::from(byte % 36)]));
                    chars += 1;
                }
            }
        }
        let prefix = secret[..PREFIX_LEN].to_owned();
        let hash = hash_key(&secret);
        Ok(NewApiKey { secret, prefix, hash })
    }
}

/// What a client presented, shaped enough to be looked up. Anything else is simply an invalid key.
pub struct PresentedApiKey<'a>(&'a str);

impl<'a> PresentedApiKey<'a> {
    pub fn parse(raw: &'a str) -> Option<Self> {
        let well_formed = raw.len() == KEY_PREFIX.len() + SECRET_LEN
            && raw.starts_with(KEY_PREFIX)
            && raw[KEY_PREFIX.len()..].bytes().all(|b| ALPHABET.contains(&b));
        well_formed.then_some(PresentedApiKey(raw))
    }

    pub fn prefix(&self) -> &str {
        &self.0[..PREFIX_LEN]
    }

    /// Constant-time comparison with a stored hash.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        hash_key(self.0).ct_eq(stored_hash).into()
    }
}

fn hash_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_their_hash() {
        let key = NewApiKey::generate().unwrap();
        assert!(key.secret.starts_with("tlq_"));
        assert_eq!(key.secret.len(), 44);
        let presented = PresentedApiKey::parse(&key.secret).unwrap();
        assert_eq!(presented.prefix(), key.prefix);
        assert!(presented.matches(&key.hash));
        let other = NewApiKey::generate().unwrap();
        assert_ne!(other.secret, key.secret);
        assert!(!presented.matches(&other.hash));
    }

    #[test]
    fn malformed_keys_are_not_looked_up() {
        for raw in ["", "tlq_", "sk-abc", "tlq_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd"] {
            assert!(PresentedApiKey::parse(raw).is_none(), "{raw}");
        }
    }
}
