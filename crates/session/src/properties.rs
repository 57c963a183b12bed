//! Property tests (proptest) over the parsers that read untrusted bytes: cookies,
//! session ids and CSRF tokens. Arbitrary input never panics, and nothing but a
//! genuine token verifies.
//!
//! proptest rather than a coverage-guided fuzzer: cargo-fuzz needs a nightly toolchain.
//! `PROPTEST_CASES=100000 cargo test -p trustyconvert-session properties` runs a
//! longer search.

use axum::http::{header, HeaderMap, HeaderValue};
use proptest::prelude::*;

use crate::cookies::find_cookie;
use crate::crypto::{generate_csrf_nonce, Keyring, SessionKey, SessionSecret};

proptest! {
    #[test]
    fn any_cookie_header_parses_without_panicking(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            headers.insert(header::COOKIE, value);
        }
        let found = find_cookie(&headers, "trustyconvert_session");
        if let Some(value) = found {
            prop_assert!(raw.windows(value.len().max(1)).any(|w| w == value) || value.is_empty());
        }
    }

    #[test]
    fn only_well_formed_session_ids_are_accepted(raw in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Some(secret) = SessionSecret::parse(&raw) {
            prop_assert_eq!(secret.expose().as_bytes(), raw.as_slice());
            prop_assert!(raw.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'));
        }
    }

    #[test]
    fn only_genuine_csrf_tokens_verify(
        raw in proptest::collection::vec(any::<u8>(), 0..96),
        flip in any::<prop::sample::Index>(),
    ) {
        let keyring = Keyring::new(vec![[7u8; 32]]).unwrap();
        let key = SessionKey([1u8; 32]);
        let genuine = keyring.sign(&key, &generate_csrf_nonce());
        prop_assert!(keyring.verify(&key, genuine.as_bytes()).is_ok());
        if raw != genuine.as_bytes() {
            prop_assert!(keyring.verify(&key, &raw).is_err());
        }
        // One altered character of a genuine token never verifies.
        let mut altered = genuine.clone().into_bytes();
        let at = flip.index(altered.len());
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        prop_assert!(keyring.verify(&key, &altered).is_err());
        // Nor does it for another session.
        prop_assert!(keyring.verify(&SessionKey([2u8; 32]), genuine.as_bytes()).is_err());
    }
}
