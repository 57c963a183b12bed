//! Download tokens: single use, ten minutes, bound to the session that asked, at most
//! [`MAX_TOKENS_PER_JOB`] alive per job (hoarding a thousand links to one file buys
//! nothing).
//!
//! Kept in memory, keyed by a hash of the token: a token only outlives a restart by
//! ten minutes at most, and a client simply asks for a new one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::{random_bytes, SessionKey};
use crate::time::Timestamp;

/// How long a download token lives.
pub const DOWNLOAD_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Live tokens per job: issuing one more retires the oldest.
pub const MAX_TOKENS_PER_JOB: usize = 16;
/// Longest token accepted on the wire (longer input is rejected before hashing).
const MAX_TOKEN_LEN: usize = 64;

/// What a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadGrant {
    /// The session that asked.
    pub session: SessionKey,
    /// The job whose output it downloads.
    pub job_id: Uuid,
    /// End of validity.
    pub expires_at: Timestamp,
}

/// The live tokens.
#[derive(Debug, Default)]
pub struct DownloadTokens {
    grants: Mutex<HashMap<[u8; 32], DownloadGrant>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl DownloadTokens {
    /// A new token for `job_id` of `session`.
    pub fn issue(&self, session: SessionKey, job_id: Uuid, now: Timestamp) -> (String, Timestamp) {
        let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        let expires_at = now.plus(DOWNLOAD_TOKEN_TTL);
        let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        grants.retain(|_, grant| grant.expires_at > now);
        let mut of_job: Vec<([u8; 32], Timestamp)> = grants
            .iter()
            .filter(|(_, g)| g.session == session && g.job_id == job_id)
            .map(|(key, g)| (*key, g.expires_at))
            .collect();
        if of_job.len() >= MAX_TOKENS_PER_JOB {
            of_job.sort_by_key(|(_, expires_at)| *expires_at);
            for (key, _) in &of_job[..=of_job.len() - MAX_TOKENS_PER_JOB] {
                grants.remove(key);
            }
        }
        grants.insert(
            digest(&token),
            DownloadGrant {
                session,
                job_id,
                expires_at,
            },
        );
        (token, expires_at)
    }

    /// Forgets every token of `session` (it was closed or replaced): they die with it.
    pub fn forget_session(&self, session: &SessionKey) {
        self.grants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, grant| grant.session != *session);
    }

    /// Consumes a token: the grant if it was valid, and it can never be used again.
    pub fn redeem(&self, token: &str, now: Timestamp) -> Option<DownloadGrant> {
        self.take_or_peek(token, now, true)
    }

    /// The grant of a valid token, which stays valid (`HEAD` asks without spending).
    pub fn peek(&self, token: &str, now: Timestamp) -> Option<DownloadGrant> {
        self.take_or_peek(token, now, false)
    }

    fn take_or_peek(&self, token: &str, now: Timestamp, take: bool) -> Option<DownloadGrant> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        let key = digest(token);
        let grant = match take {
            true => grants.remove(&key)?,
            false => *grants.get(&key)?,
        };
        (grant.expires_at > now).then_some(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_die_with_their_session_and_only_theirs() {
        let tokens = DownloadTokens::default();
        let now = Timestamp::now();
        let (closed, kept) = (SessionKey([1; 32]), SessionKey([2; 32]));
        let job = Uuid::new_v4();
        let (dead, _) = tokens.issue(closed, job, now);
        let (alive, _) = tokens.issue(kept, job, now);
        tokens.forget_session(&closed);
        assert!(tokens.redeem(&dead, now).is_none());
        assert!(tokens.redeem(&alive, now).is_some());
    }
}
