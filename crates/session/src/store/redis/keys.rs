//! The key layout. Every key of one session carries its hash tag `{S}` (S = hex of the
//! session's store key), so a session's keys live in one cluster slot and a script may
//! touch them together:
//!
//! ```text
//! tc:{S}:session         the record: "<csrf json>\n<rest json>"; its expiry is the idle expiry
//! tc:{S}:…               an application's own keys of the session (same slot)
//! tc:rate:<action>:<ip>  one client's GCRA state for one action; expires when idle
//! ```

use std::net::IpAddr;

use crate::crypto::SessionKey;
use crate::keys::encode_hex;
use crate::store::RateAction;

/// The hash-tagged prefix of every key of a session, `tc:{S}:` (S = the hex of its
/// store key): an application that keeps its own keys of a session starts them with
/// it, so they share the session's cluster slot and one script may check the session
/// record ([`session_record_key`]) and write them in one atomic step.
///
/// ```
/// use trustyconvert_session::store::redis::session_key_prefix;
/// use trustyconvert_session::SessionKey;
///
/// let prefix = session_key_prefix(&SessionKey([0xab; 32]));
/// assert!(prefix.starts_with("tc:{abab") && prefix.ends_with("}:"));
/// ```
pub fn session_key_prefix(session: &SessionKey) -> String {
    format!("tc:{{{}}}:", encode_hex(&session.0))
}

/// The key of a session's record, `tc:{S}:session`: it exists exactly while the session
/// does (its expiry is the session's idle expiry).
pub fn session_record_key(session: &SessionKey) -> String {
    format!("{}session", session_key_prefix(session))
}

/// One client's GCRA state for one action.
pub(super) fn rate_key(action: RateAction, client: IpAddr) -> String {
    format!("tc:rate:{}:{client}", action.name())
}
