//! API keys: random, prefixed, shown once, stored only as a SHA-256 hash.
//!
//! A key is `rst_` followed by 40 random base62 characters (≈238 bits), so a
//! fast hash is safe (argon2 is for low-entropy passwords). Lookup is by the
//! hash; the final comparison runs in constant time.

use crate::model::Role;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every key Roster generates.
pub const KEY_PREFIX: &str = "rst_";

/// A stored key: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    /// A short public id, used to list and revoke.
    pub id: String,
    pub org_id: i64,
    /// A label, e.g. "Entra provisioning".
    pub name: String,
    pub role: Role,
    /// The service account (or admin) the key belongs to.
    pub principal: String,
    /// SHA-256 of the whole token, hex.
    #[serde(skip)]
    pub token_hash: String,
    /// The first characters of the token, to recognise it in a list.
    pub token_hint: String,
    pub created: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ApiKeyRecord {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
    /// Whether the key has expired at `now` (both RFC 3339 UTC strings, which sort as time).
    pub fn is_expired(&self, now: &str) -> bool {
        self.expires_at.as_deref().is_some_and(|e| e <= now)
    }
}

/// Generates a new random token.
pub fn generate_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let body: String = (0..40).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    format!("{KEY_PREFIX}{body}")
}

/// A short random id for a key record.
pub fn generate_key_id() -> String {
    let bytes: [u8; 6] = rand::random();
    hex::encode(bytes)
}

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a list shows of a token.
pub fn token_hint(token: &str) -> String {
    let visible: String = token.chars().take(8).collect();
    format!("{visible}…")
}

/// Constant-time comparison of a token's hash (from [`hash_token`]) with a
/// stored one.
pub fn hashes_match(token_hash: &str, stored_hash: &str) -> bool {
    token_hash.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_verify() {
        let a = generate_token();
        let b = generate_token();
        assert!(a.starts_with("rst_") && a.len() == 44);
        assert_ne!(a, b);
        let h = hash_token(&a);
        assert!(hashes_match(&hash_token(&a), &h));
        assert!(!hashes_match(&hash_token(&b), &h));
        assert!(!h.contains(&a[4..]));
    }
}
