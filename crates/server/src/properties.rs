//! Property tests (proptest) over the parsers that read untrusted bytes: cookies,
//! session ids, CSRF tokens and every converter. Arbitrary input never panics, and
//! nothing but a genuine token verifies.
//!
//! proptest rather than a coverage-guided fuzzer: cargo-fuzz needs a nightly toolchain,
//! which this project's machines do not have. `PROPTEST_CASES=100000 cargo test -p
//! trustyconvert-server properties` runs a longer search.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use proptest::prelude::*;

use crate::convert::{Budget, BuiltinEngine, ConversionError, Engine, EngineJob, Format};
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

/// Every pair the built-in engine converts (LibreOffice runs out of process, under
/// its own limits, and takes seconds per file: not for a property test).
fn every_pair() -> Vec<(Format, Format)> {
    BuiltinEngine
        .offers()
        .iter()
        .flat_map(|offer| {
            offer
                .inputs
                .iter()
                .flat_map(move |source| offer.outputs.iter().map(move |target| (*source, *target)))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_converter_survives_arbitrary_input(
        input in proptest::collection::vec(any::<u8>(), 0..4096),
        text in "[ -~\n]{0,2048}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (n, (source, target)) in every_pair().into_iter().enumerate() {
            for bytes in [&input[..], text.as_bytes()] {
                let path = dir.path().join(format!("{n}"));
                std::fs::write(&path, bytes).unwrap();
                let budget = Budget::new(1 << 20, Duration::from_secs(10));
                let job = EngineJob {
                    input: &path,
                    source,
                    target,
                    title: "input",
                    budget: &budget,
                    scratch: dir.path(),
                    memory_limit: u64::MAX,
                };
                let mut output = std::io::Cursor::new(Vec::new());
                let converted = BuiltinEngine
                    .convert(&job, &mut budget.writer(&mut output))
                    .map_err(|e| budget.explain(e));
                match converted {
                    Ok(()) => prop_assert!(output.get_ref().len() <= 1 << 20),
                    Err(ConversionError::Io(error)) => prop_assert!(false, "I/O error: {error}"),
                    Err(_) => {}
                }
            }
        }
    }
}
