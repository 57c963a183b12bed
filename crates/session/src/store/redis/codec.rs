//! A session as Redis stores it: `"<csrf json>\n<rest json>"` (a rotation rewrites the
//! first line only; the idle expiry is the key's own).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::corrupt;
use crate::crypto::{SessionKey, CSRF_NONCE_BYTES};
use crate::store::{CsrfState, PreviousNonce, SessionRecord, StoreError};
use crate::time::Timestamp;

/// The CSRF part of a stored session (rewritten on rotation).
#[derive(Serialize, Deserialize)]
struct StoredCsrf {
    current: String,
    previous: Option<(String, i64)>,
}

/// The part of a stored session that never changes.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    public_id: String,
    created_at: i64,
    absolute_expires_at: i64,
}

/// A CSRF nonce as stored (and as the rotation script compares it).
pub(super) fn encode_nonce(nonce: &[u8; CSRF_NONCE_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(nonce)
}

fn nonce(text: &str) -> Result<[u8; CSRF_NONCE_BYTES], StoreError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| corrupt("CSRF nonce"))
}

pub(super) fn encode_csrf(csrf: &CsrfState) -> String {
    let stored = StoredCsrf {
        current: encode_nonce(&csrf.current),
        previous: csrf
            .previous
            .map(|p| (encode_nonce(&p.nonce), p.valid_until.as_millis())),
    };
    serde_json::to_string(&stored).expect("plain data serializes")
}

pub(super) fn encode_session(record: &SessionRecord) -> String {
    let rest = StoredSession {
        public_id: record.public_id.clone(),
        created_at: record.created_at.as_millis(),
        absolute_expires_at: record.absolute_expires_at.as_millis(),
    };
    format!(
        "{}\n{}",
        encode_csrf(&record.csrf),
        serde_json::to_string(&rest).expect("plain data serializes")
    )
}

pub(super) fn decode_csrf(text: &str) -> Result<CsrfState, StoreError> {
    let csrf: StoredCsrf = serde_json::from_str(text).map_err(corrupt)?;
    let previous = match csrf.previous {
        Some((text, until)) => Some(PreviousNonce {
            nonce: nonce(&text)?,
            valid_until: Timestamp::from_millis(until),
        }),
        None => None,
    };
    Ok(CsrfState {
        current: nonce(&csrf.current)?,
        previous,
    })
}

pub(super) fn decode_session(
    key: &SessionKey,
    value: &str,
    idle_expires_at: Timestamp,
) -> Result<SessionRecord, StoreError> {
    let (csrf, rest) = value
        .split_once('\n')
        .ok_or_else(|| corrupt("session record"))?;
    let rest: StoredSession = serde_json::from_str(rest).map_err(corrupt)?;
    Ok(SessionRecord {
        key: *key,
        public_id: rest.public_id,
        created_at: Timestamp::from_millis(rest.created_at),
        idle_expires_at,
        absolute_expires_at: Timestamp::from_millis(rest.absolute_expires_at),
        csrf: decode_csrf(csrf)?,
    })
}
