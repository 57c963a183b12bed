//! Download tokens: 256 random bits, single use, ten minutes, bound to the session
//! that asked, at most [`MAX_TOKENS_PER_JOB`] alive per job (hoarding a thousand links
//! to one file buys nothing). The store keeps only a hash of each token.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::storage::TokenHash;
use trustyconvert_session::crypto::random_bytes;

/// How long a download token lives.
pub const DOWNLOAD_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Live tokens per job: issuing one more retires the oldest.
pub const MAX_TOKENS_PER_JOB: usize = 16;
/// Longest token accepted on the wire (longer input is refused before hashing).
const MAX_TOKEN_LEN: usize = 64;

/// A fresh token and the hash it is stored under.
pub fn mint() -> (String, TokenHash) {
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let hash = hash(&token);
    (token, hash)
}

/// The store key of a token from the wire; `None` for input no token can be.
pub fn parse(token: &str) -> Option<TokenHash> {
    (!token.is_empty() && token.len() <= MAX_TOKEN_LEN).then(|| hash(token))
}

fn hash(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_only_as_their_hash() {
        let (first, first_hash) = mint();
        let (second, _) = mint();
        assert_ne!(first, second);
        assert_eq!(first.len(), 43);
        assert_eq!(parse(&first), Some(first_hash));
        assert_ne!(first_hash.0.as_slice(), first.as_bytes());
        assert_eq!(parse(""), None);
        assert_eq!(parse(&"a".repeat(65)), None);
    }
}
